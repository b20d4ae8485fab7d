// The status fields beyond lag: time lag, rates, rebalances, stalled
// partitions and the Stalled condition; and the write rule (when a status
// is worth writing at all).

#include "controller/status_patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "controller/reconcile_report.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

json PatchOf(const StatusReport& report, const std::string& stored = "{}") {
  const std::optional<std::string> patch = StatusPatch(report, stored, Timestamp{});
  return patch ? json::parse(*patch) : json(nullptr);
}

policy::Decision Stalled() {
  policy::Decision d;
  d.current = 3;
  d.partition_lags = {{.topic = "orders", .partition = 0, .lag = 10},
                      {.topic = "orders", .partition = 4, .lag = 700, .stalled = true},
                      {.topic = "refunds", .partition = 1, .lag = 50, .stalled = true}};
  d.stalled_partitions = {{"orders", 4}, {"refunds", 1}};
  return d;
}

TEST(StatusFields, WrittenRounded) {
  StatusReport report;
  report.figures.max_time_lag_seconds = 12.34;
  report.total_lag_seconds = 40.06;
  report.produce_rate = 1234.5678;
  report.consume_rate = 0.004;
  report.per_replica_rate = 250.0;
  report.figures.rebalances_caused = 7;
  report.stalled_partitions = {{"orders", 4}};
  const json patch = PatchOf(report);
  EXPECT_EQ(patch["maxLagSeconds"].dump(), "12.3");
  EXPECT_EQ(patch["totalLagSeconds"].dump(), "40.1");
  EXPECT_EQ(patch["produceRate"].dump(), "1234.57");
  EXPECT_EQ(patch["consumeRate"].dump(), "0.0");
  EXPECT_EQ(patch["perReplicaRate"].dump(), "250.0");
  EXPECT_EQ(patch["rebalancesCaused"], 7);
  EXPECT_EQ(patch["stalledPartitions"], json::parse(R"([{"topic":"orders","partition":4}])"));
}

TEST(StatusFields, UnknownRemovesThemEmptyListStays) {
  StatusReport report;
  report.stalled_partitions = std::vector<StalledPartition>{};
  const json patch = PatchOf(
      report,
      R"({"status":{"maxLagSeconds":5,"produceRate":1,"stalledPartitions":[{"topic":"t","partition":0}]}})");
  EXPECT_TRUE(patch["maxLagSeconds"].is_null());
  EXPECT_TRUE(patch["produceRate"].is_null());
  EXPECT_TRUE(patch["rebalancesCaused"].is_null());
  EXPECT_EQ(patch["stalledPartitions"], json::array());
}

// An empty reason or message is left out (null in the merge patch removes a
// stored one), never written as "": API servers built with Go >= 1.16 before
// kubernetes#99804 was fixed refuse "" in a custom resource as null.
TEST(StatusFields, EmptyStringsAreLeftOut) {
  StatusReport report;
  report.conditions = {{.type = "Ready", .status = ConditionStatus::kTrue, .reason = "Reconciled"},
                       {.type = "Active", .status = ConditionStatus::kFalse}};
  const json patch = PatchOf(report, R"({"status":{"reason":"Old","message":"old"}})");
  EXPECT_TRUE(patch["reason"].is_null());
  EXPECT_TRUE(patch["message"].is_null());
  EXPECT_EQ(patch["conditions"][0]["reason"], "Reconciled");
  EXPECT_FALSE(patch["conditions"][0].contains("message"));
  EXPECT_FALSE(patch["conditions"][1].contains("reason"));
  EXPECT_EQ(patch.dump().find(R"("")"), std::string::npos) << patch.dump();
  // Stored as written, the same report writes nothing.
  EXPECT_EQ(StatusPatch(report, json{{"status", patch}}.dump(), Timestamp{}), std::nullopt);
}

// The write rule: Steady() was written at kWritten and is stored as written;
// each test changes something and asks a minute later.
constexpr Timestamp kWritten{seconds(1'800'000'000)};

StatusReport Steady() {
  return {.observed_generation = 2,
          .figures = {.partitions = 12,
                      .ceiling = 12,
                      .current_replicas = 3,
                      .desired_replicas = 3,
                      .members = 3,
                      .total_lag = 5000,
                      .max_time_lag_seconds = 20,
                      .rebalances_caused = 1},
          .reason = "Steady",
          .message = "lag 5000 at 400/s: 3 replicas drain it in time",
          .total_lag_seconds = 90,
          .produce_rate = 400,
          .consume_rate = 410,
          .per_replica_rate = 150,
          .stalled_partitions = std::vector<StalledPartition>{},
          .conditions = {{kConditionReady, ConditionStatus::kTrue, "Reconciled", "3 replicas"},
                         {kConditionActive, ConditionStatus::kTrue, "LagAboveActivation",
                          "lag 5000 above 0"}}};
}

// `report` as stored after a write at `at`.
std::string StoredAt(const StatusReport& report, Timestamp at) {
  return json{{"status", json::parse(StatusPatch(report, "{}", at).value())}}.dump();
}

// The patch of `report` over Steady() stored, `after` the write (null: none).
json PatchAfter(const StatusReport& report, Timestamp::duration after = seconds(60)) {
  const std::optional<std::string> patch =
      StatusPatch(report, StoredAt(Steady(), kWritten), kWritten + after);
  return patch ? json::parse(*patch) : json(nullptr);
}

TEST(WriteRule, NothingChangedWritesNothing) { EXPECT_EQ(PatchAfter(Steady()), nullptr); }

TEST(WriteRule, FiguresWithinToleranceWriteNothing) {
  StatusReport report = Steady();
  report.figures.total_lag = 5450;             // +9%, 450 messages
  report.figures.max_time_lag_seconds = 21.9;  // +8.7%
  report.total_lag_seconds = 81.5;             // -9.4%
  report.produce_rate = 365;                   // -8.8%
  report.consume_rate = 450;                   // +8.9%
  report.per_replica_rate = 160;               // +6.3%
  EXPECT_EQ(PatchAfter(report), nullptr);
}

TEST(WriteRule, AFigureBeyondToleranceWrites) {
  const std::vector<std::function<void(StatusReport&)>> moves = {
      [](StatusReport& r) { r.figures.total_lag = 5600; },             // +12%
      [](StatusReport& r) { r.figures.max_time_lag_seconds = 17.5; },  // -12.5%
      [](StatusReport& r) { r.total_lag_seconds = 101; },              // +12%
      [](StatusReport& r) { r.produce_rate = 460; },                   // +15%
      [](StatusReport& r) { r.consume_rate = 360; },                   // -12%
      [](StatusReport& r) { r.per_replica_rate = 120.5; },             // -20%
  };
  for (size_t i = 0; i < moves.size(); ++i) {
    StatusReport report = Steady();
    moves[i](report);
    EXPECT_NE(PatchAfter(report), nullptr) << "move " << i;
  }
  StatusReport report = Steady();
  report.figures.total_lag = 5600;
  EXPECT_EQ(PatchAfter(report)["totalLag"], 5600);
}

TEST(WriteRule, SmallStepsNearZeroWriteNothing) {
  StatusReport idle = Steady();
  idle.figures.total_lag = 0;
  idle.figures.max_time_lag_seconds = 0;
  idle.produce_rate = 0;
  const std::string stored = StoredAt(idle, kWritten);
  StatusReport report = idle;
  report.figures.total_lag = 40;              // +100%, but 40 messages
  report.figures.max_time_lag_seconds = 0.8;  // +100%, but under a second
  report.produce_rate = 0.9;                  // +100%, but under 1/s
  EXPECT_EQ(StatusPatch(report, stored, kWritten + seconds(60)), std::nullopt);
  report.figures.total_lag = 150;
  EXPECT_NE(StatusPatch(report, stored, kWritten + seconds(60)), std::nullopt);
}

TEST(WriteRule, AFigureBecomingUnknownOrKnownWrites) {
  StatusReport report = Steady();
  report.figures.total_lag = std::nullopt;
  const json patch = PatchAfter(report);
  ASSERT_TRUE(patch.is_object());
  EXPECT_TRUE(patch["totalLag"].is_null()) << "removed, never read as 0";
  // And back: the same lag as before, known again.
  const std::string unknown = StoredAt(report, kWritten);
  EXPECT_NE(StatusPatch(Steady(), unknown, kWritten + seconds(60)), std::nullopt);
}

TEST(WriteRule, MessagesAloneWriteNothing) {
  StatusReport report = Steady();
  report.message = "lag 5100 at 405/s: 3 replicas drain it in time";
  report.conditions[1].message = "lag 5100 above 0";
  EXPECT_EQ(PatchAfter(report), nullptr);
}

// Ready False for `cause`, stored as written at kWritten.
StatusReport NotReady(const std::string& cause) {
  StatusReport report = Steady();
  report.reason = "ObservationFailed";
  report.message = "observation failed (" + cause + "); holding 3 replicas";
  report.conditions[0] = {kConditionReady, ConditionStatus::kFalse, "KafkaUnreachable", cause};
  return report;
}

// A new cause of a Ready that is not True writes once the stored status is
// kCauseMinAge old; the same cause, or a new message while Ready, does not.
TEST(WriteRule, ANewCauseOfNotReadyWritesAtItsPace) {
  const std::string stored = StoredAt(NotReady("metadata: _TRANSPORT"), kWritten);
  const StatusReport refused = NotReady("token endpoint: 401 invalid_client");
  EXPECT_EQ(StatusPatch(refused, stored, kWritten + kCauseMinAge - seconds(1)), std::nullopt);
  const std::optional<std::string> patch = StatusPatch(refused, stored, kWritten + kCauseMinAge);
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ(json::parse(*patch)["conditions"][0]["message"], "token endpoint: 401 invalid_client");
  EXPECT_EQ(json::parse(*patch)["message"], refused.message);
  EXPECT_EQ(StatusPatch(NotReady("metadata: _TRANSPORT"), stored, kWritten + minutes(1)),
            std::nullopt);
  StatusReport ready = Steady();
  ready.conditions[0].message = "4 replicas";
  EXPECT_EQ(PatchAfter(ready), nullptr);
}

TEST(WriteRule, AConditionStatusOrReasonChangeWrites) {
  StatusReport report = Steady();
  report.conditions[1] = {kConditionActive, ConditionStatus::kFalse, "LagAtActivation",
                          "lag 0 at or below 0"};
  json patch = PatchAfter(report);
  ASSERT_TRUE(patch.is_object());
  EXPECT_EQ(patch["conditions"][1]["status"], "False");
  EXPECT_EQ(patch["conditions"][1]["message"], "lag 0 at or below 0");
  EXPECT_EQ(patch["conditions"][1]["lastTransitionTime"], FormatRfc3339(kWritten + seconds(60)));
  report = Steady();
  report.conditions[0].reason = "Held";
  EXPECT_NE(PatchAfter(report), nullptr);
}

TEST(WriteRule, EveryDecisiveFieldWrites) {
  const std::vector<std::function<void(StatusReport&)>> changes = {
      [](StatusReport& r) { r.observed_generation = 3; },
      [](StatusReport& r) { r.figures.partitions = 16; },
      [](StatusReport& r) { r.figures.current_replicas = 4; },
      [](StatusReport& r) { r.figures.desired_replicas = 4; },
      [](StatusReport& r) { r.figures.ceiling = 16; },
      [](StatusReport& r) { r.figures.members = 2; },
      [](StatusReport& r) { r.figures.members = std::nullopt; },
      [](StatusReport& r) { r.reason = "ScaleUp"; },
      [](StatusReport& r) { r.figures.rebalances_caused = 2; },
      [](StatusReport& r) {
        r.stalled_partitions = {{"orders", 4}};
      },
      [](StatusReport& r) { r.stalled_partitions = std::nullopt; },
      [](StatusReport& r) { r.last_scale_time = kWritten + seconds(60); },
      [](StatusReport& r) { r.conditions.pop_back(); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    StatusReport report = Steady();
    changes[i](report);
    EXPECT_NE(PatchAfter(report), nullptr) << "change " << i;
  }
}

TEST(WriteRule, ADecisiveChangeCarriesTheCurrentFiguresAndMessages) {
  StatusReport report = Steady();
  report.figures.desired_replicas = 4;
  report.figures.total_lag = 5100;  // within tolerance, written all the same
  report.produce_rate = 405;
  report.message = "lag 5100 at 405/s: 4 replicas drain it in time";
  report.conditions[1].message = "lag 5100 above 0";
  const json patch = PatchAfter(report, seconds(90));
  ASSERT_TRUE(patch.is_object());
  EXPECT_EQ(patch["desiredReplicas"], 4);
  EXPECT_EQ(patch["totalLag"], 5100);
  EXPECT_EQ(patch["produceRate"], 405.0);
  EXPECT_EQ(patch["message"], report.message);
  EXPECT_EQ(patch["conditions"][1]["message"], "lag 5100 above 0");
  EXPECT_EQ(patch["observedTime"], FormatRfc3339(kWritten + seconds(90)));
}

TEST(WriteRule, StaleFiguresWrite) {
  StatusReport report = Steady();
  report.figures.total_lag = 5100;
  EXPECT_EQ(PatchAfter(report, kFiguresMaxAge - seconds(1)), nullptr);
  const json patch = PatchAfter(report, kFiguresMaxAge);
  ASSERT_TRUE(patch.is_object());
  EXPECT_EQ(patch["totalLag"], 5100);
  EXPECT_EQ(patch["observedTime"], FormatRfc3339(kWritten + kFiguresMaxAge));
  // Nothing moved at all: written too, so observedTime stays within the age.
  EXPECT_NE(PatchAfter(Steady(), minutes(6)), nullptr);
}

TEST(WriteRule, MissingOrFutureObservedTimeWrites) {
  json stored = json::parse(StoredAt(Steady(), kWritten));
  stored["status"].erase("observedTime");  // an older controller wrote it
  const std::optional<std::string> patch =
      StatusPatch(Steady(), stored.dump(), kWritten + seconds(10));
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ(json::parse(*patch)["observedTime"], FormatRfc3339(kWritten + seconds(10)));
  // Written on a clock an hour ahead (another replica's).
  EXPECT_NE(StatusPatch(Steady(), StoredAt(Steady(), kWritten + minutes(60)), kWritten),
            std::nullopt);
}

// The status of a reconcile that observed the group and decided `d`: its
// figures from FiguresOf, the rest from ReportDecision.
StatusReport StatusOfObserved(policy::Decision d) {
  return StatusOf({.kafka_reachable = true, .decision = std::move(d)});
}

TEST(ReportDecision, SumsTopicRatesAndListsStalledPartitions) {
  policy::Decision d = Stalled();
  d.lag_known = true;
  d.max_time_lag_seconds = 30;
  d.total_time_lag_seconds = 45;
  d.per_replica_rate = 80;
  d.topic_rates = {{.topic = "orders", .produce_rate = 100, .consume_rate = 90},
                   {.topic = "refunds", .produce_rate = 5, .consume_rate = std::nullopt}};
  const StatusReport report = StatusOfObserved(d);
  EXPECT_EQ(report.figures.max_time_lag_seconds, 30);
  EXPECT_EQ(report.total_lag_seconds, 45);
  EXPECT_EQ(report.produce_rate, 105);
  EXPECT_EQ(report.consume_rate, 90);
  EXPECT_EQ(report.per_replica_rate, 80);
  ASSERT_TRUE(report.stalled_partitions.has_value());
  ASSERT_EQ(report.stalled_partitions->size(), 2u);
  EXPECT_EQ((*report.stalled_partitions)[1].topic, "refunds");
  EXPECT_EQ((*report.stalled_partitions)[1].partition, 1);
}

TEST(ReportDecision, RatesUnknownStayUnknown) {
  policy::Decision d;
  d.lag_known = true;
  d.topic_rates = {{.topic = "orders"}};
  const StatusReport report = StatusOfObserved(d);
  EXPECT_EQ(report.produce_rate, std::nullopt);
  EXPECT_EQ(report.consume_rate, std::nullopt);
  EXPECT_EQ(report.figures.max_time_lag_seconds, std::nullopt);
  EXPECT_EQ(report.stalled_partitions->size(), 0u);
}

TEST(StalledCondition, ListsStalledPartitionsAndTheirLag) {
  const Condition c = StalledCondition(Stalled(), 120);
  EXPECT_EQ(c.type, "Stalled");
  EXPECT_EQ(c.status, ConditionStatus::kTrue);
  EXPECT_EQ(c.reason, "StalledPartitions");
  EXPECT_THAT(c.message, HasSubstr("2 partition(s) with lag 750 whose committed offset has not "
                                   "moved for 120s"));
  EXPECT_THAT(c.message, HasSubstr("orders/4, refunds/1"));
}

TEST(StalledCondition, GroupStoppedOnlyWithReplicas) {
  policy::Decision d;
  d.flags.group_stopped = true;
  d.current = 2;
  Condition c = StalledCondition(d, 60);
  EXPECT_EQ(c.status, ConditionStatus::kTrue);
  EXPECT_EQ(c.reason, "GroupStopped");
  EXPECT_THAT(c.message, HasSubstr("committed nothing for 60s with 2 replicas"));
  d.current = 0;
  c = StalledCondition(d, 60);
  EXPECT_EQ(c.status, ConditionStatus::kFalse) << "no replicas: nothing is expected to commit";
}

TEST(StalledCondition, FalseWithoutStalls) {
  const Condition c = StalledCondition(policy::Decision{}, 60);
  EXPECT_EQ(c.status, ConditionStatus::kFalse);
  EXPECT_EQ(c.reason, "NotStalled");
}

}  // namespace
}  // namespace groupscaler::controller
