// The soak's pure parts: the schedule a seed draws, and the invariants'
// checks on what the soak saw.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "soak/fault_schedule.h"
#include "soak/invariants.h"

namespace groupscaler::soak {
namespace {

using nlohmann::json;

TEST(Schedule, TheSameSeedDrawsTheSameFaultsEveryKindBeforeAnyTwice) {
  const ScheduleShape shape{.duration_seconds = 1800};
  const std::vector<Fault> a = MakeSchedule(7, shape), b = MakeSchedule(7, shape);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(Describe(a[i]), Describe(b[i]));
  EXPECT_NE(Describe(MakeSchedule(8, shape).front()), Describe(a.front()));
  ASSERT_GE(a.size(), static_cast<size_t>(kFaultKinds));
  std::set<FaultKind> first_deck;
  for (int i = 0; i < kFaultKinds; ++i) first_deck.insert(a[static_cast<size_t>(i)].kind);
  EXPECT_EQ(first_deck.size(), static_cast<size_t>(kFaultKinds));
}

TEST(Schedule, NoFaultInTheWarmUpOrTheCalmEnd) {
  for (const Fault& f : MakeSchedule(3, {.duration_seconds = 600})) {
    EXPECT_GE(f.at_seconds, 60);
    EXPECT_LT(f.at_seconds, 540);
  }
}

json Record(const std::string& user, const std::string& verb, const std::string& resource,
            const std::string& name, const std::string& received, const std::string& stored,
            int code = 200) {
  return {{"user", {{"username", user}}},
          {"verb", verb},
          {"objectRef", {{"resource", resource}, {"namespace", "ns"}, {"name", name}}},
          {"responseStatus", {{"code", code}}},
          {"requestReceivedTimestamp", received},
          {"stageTimestamp", stored}};
}

TEST(Writers, AWriteAfterAnotherTookTheLeaseIsFoundOnlyThen) {
  const std::vector<json> records = {
      Record("a", "update", "leases", "lease", "2026-01-01T00:00:00.000000Z",
             "2026-01-01T00:00:00.010000Z"),
      Record("a", "patch", "deployments", "app", "2026-01-01T00:00:01.000000Z",
             "2026-01-01T00:00:01.010000Z"),
      // b reads (not a write) and fails to take the Lease (409): a's term.
      Record("b", "get", "leases", "lease", "2026-01-01T00:00:02.000000Z",
             "2026-01-01T00:00:02.010000Z"),
      Record("b", "update", "leases", "lease", "2026-01-01T00:00:03.000000Z",
             "2026-01-01T00:00:03.010000Z", 409),
      // a's write received before b's takeover is stored: a's term still.
      Record("a", "patch", "deployments", "app", "2026-01-01T00:00:19.990000Z",
             "2026-01-01T00:00:20.050000Z"),
      Record("b", "update", "leases", "lease", "2026-01-01T00:00:20.000000Z",
             "2026-01-01T00:00:20.010000Z"),
      Record("b", "create", "events", "app.1", "2026-01-01T00:00:21.000000Z",
             "2026-01-01T00:00:21.010000Z"),
      // a, continued after a pause, writes in b's term.
      Record("a", "patch", "consumergroupautoscalers", "app", "2026-01-01T00:00:30.000000Z",
             "2026-01-01T00:00:30.010000Z"),
      // Someone else's writes do not count.
      Record("admin", "patch", "deployments", "app", "2026-01-01T00:00:31.000000Z",
             "2026-01-01T00:00:31.010000Z")};
  const std::vector<ForeignWrite> found = WritesOutsideTheirTerm(records, {"a", "b"}, "lease");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].user, "a");
  EXPECT_EQ(found[0].holder, "b");
  EXPECT_THAT(found[0].request, ::testing::HasSubstr("patch consumergroupautoscalers ns/app"));
}

TEST(Writers, AWriteBeforeAnyTermIsFound) {
  const std::vector<ForeignWrite> found = WritesOutsideTheirTerm(
      {Record("a", "patch", "deployments", "app", "2026-01-01T00:00:01Z", "2026-01-01T00:00:01Z")},
      {"a"}, "lease");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].holder, "nobody");
}

TEST(LastObservations, ReadByNameFromAScrape) {
  const std::map<std::string, double> last = LastObservations(
      "# TYPE groupscaler_last_observation_timestamp_seconds gauge\n"
      "groupscaler_last_observation_timestamp_seconds{group=\"g\",name=\"live-0\",namespace="
      "\"soak\"}"
      " 1796600000.5\n"
      "groupscaler_last_observation_timestamp_seconds{group=\"g\",name=\"static-1\","
      "namespace=\"soak\"} 1.7966e+09\n"
      "groupscaler_leader 1\n");
  EXPECT_EQ(last,
            (std::map<std::string, double>{{"live-0", 1796600000.5}, {"static-1", 1.7966e+09}}));
}

TEST(Writers, OnlyWritesReceivedJustAfterTheWritersPauseAreDeliveredAfterIt) {
  const std::vector<Pause> pauses = {{"a", 100}};
  EXPECT_TRUE(DeliveredAfterPause({.user = "a", .received = 100.2}, pauses, 5));
  EXPECT_FALSE(DeliveredAfterPause({.user = "a", .received = 106}, pauses, 5));
  EXPECT_FALSE(DeliveredAfterPause({.user = "a", .received = 99}, pauses, 5));
  EXPECT_FALSE(DeliveredAfterPause({.user = "b", .received = 100.2}, pauses, 5));
}

TEST(Secrets, EveryOccurrenceIsCounted) {
  EXPECT_EQ(CountSecrets("pw=s3cr3t and again s3cr3t", {"s3cr3t", ""}), 2);
  EXPECT_EQ(CountSecrets("nothing here", {"s3cr3t"}), 0);
}

class ReplicaWatchTest : public ::testing::Test {
 protected:
  Counters counters_;
  ReplicaWatch watch_{&counters_, 2};
};

TEST_F(ReplicaWatchTest, ARaiseAboveTheBoundCounts) {
  watch_.Observe("t", 10, 3, {.bound = 4});
  watch_.Observe("t", 11, 4, {.bound = 4});
  EXPECT_EQ(counters_.Total(), 0);
  watch_.Observe("t", 12, 5, {.bound = 4});
  EXPECT_EQ(counters_.Total(), 1);
  EXPECT_THAT(counters_.Report(), ::testing::HasSubstr("t 4→5 at t=12.0s (bound 4)"));
}

TEST_F(ReplicaWatchTest, AScaleDownWhileBlindCountsAfterTheGrace) {
  watch_.Observe("t", 10, 5, {.bound = 6});
  // Blind since 9.5: the decision may predate it (within the grace).
  watch_.Observe("t", 11, 4, {.bound = 6, .blind_since = 9.5});
  EXPECT_EQ(counters_.Total(), 0);
  watch_.Observe("t", 12, 4, {.bound = 6, .blind_since = 9.5});
  watch_.Observe("t", 13, 3, {.bound = 6, .blind_since = 9.5});
  EXPECT_EQ(counters_.Total(), 1);
  // A scale-up while blind is the fallback's or the last decision's: allowed.
  watch_.Observe("t", 14, 5, {.bound = 6, .blind_since = 9.5});
  EXPECT_EQ(counters_.Total(), 1);
}

TEST_F(ReplicaWatchTest, ChangesWhilePausedOrDeletedCount) {
  watch_.Observe("p", 10, 2, {.bound = 6, .paused_since = 1});
  watch_.Observe("p", 11, 3, {.bound = 6, .paused_since = 1});
  watch_.Observe("d", 10, 2, {.bound = 6, .deleted_since = 1});
  watch_.Observe("d", 11, 1, {.bound = 6, .deleted_since = 1});
  EXPECT_EQ(counters_.Total(), 2);
}

TEST_F(ReplicaWatchTest, ForgettingStartsAfresh) {
  watch_.Observe("t", 10, 3, {.bound = 4});
  watch_.Forget("t");
  watch_.Observe("t", 11, 1, {.bound = 4, .blind_since = 0});
  EXPECT_EQ(counters_.Total(), 0);
}

}  // namespace
}  // namespace groupscaler::soak
