// The rules beyond lag thresholds, one named case each: time lag from the
// offset table, rates, the learned per-replica rate, the throughput policy,
// the time-lag target, settling after a change, stall detection.

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policy/policy.h"

namespace groupscaler::policy {
namespace {

using std::chrono::seconds;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

const Timestamp kT0 = Timestamp{} + std::chrono::hours(24 * 365 * 50);

double Secs(Timestamp::duration d) { return std::chrono::duration<double>(d).count(); }

Timestamp At(double s) { return kT0 + std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); }

// `n` partitions of topic "t", each with log end `end` and committed offset
// `committed`.
std::vector<PartitionObservation> Parts(int n, int64_t end, int64_t committed,
                                        const std::string& topic = "t") {
  std::vector<PartitionObservation> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({.topic = topic,
                   .partition = i,
                   .log_start_offset = 0,
                   .log_end_offset = end,
                   .committed_offset = committed});
  }
  return out;
}

Observation Obs(std::vector<PartitionObservation> partitions, int32_t current,
                std::optional<int32_t> members = std::nullopt) {
  return {.partitions = std::move(partitions), .current_replicas = current, .members = members};
}

Spec BaseSpec() {
  Spec spec;
  spec.policy_type = PolicyType::kLag;
  spec.min_replicas = 1;
  spec.max_replicas = 100;
  spec.lag_threshold = 1000;
  spec.alignment = Alignment::kNone;
  spec.rebalance_settle_seconds = 0;
  return spec;
}

Spec Throughput(std::optional<double> hint) {
  Spec spec = BaseSpec();
  spec.policy_type = PolicyType::kThroughput;
  spec.per_replica_rate_hint = hint;
  return spec;
}

Spec With(Spec spec, auto&& change) {
  change(spec);
  return spec;
}

// ---------------------------------------------------------------------------
// Time lag from the table of (log-end offset, time seen).

struct TimeLagCase {
  std::string name;
  std::vector<OffsetPoint> points;
  int64_t offset;
  double now;
  std::optional<double> want;  // seconds; unset: unknown
};

void PrintTo(const TimeLagCase& c, std::ostream* os) { *os << c.name; }

class TimeLagTest : public ::testing::TestWithParam<TimeLagCase> {};

TEST_P(TimeLagTest, Estimates) {
  const TimeLagCase& c = GetParam();
  const std::optional<double> got = TimeLagSeconds(c.points, c.offset, At(c.now));
  if (c.want) {
    EXPECT_THAT(got, Optional(DoubleNear(*c.want, 1e-6)));
  } else {
    EXPECT_EQ(got, std::nullopt);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, TimeLagTest,
    ::testing::Values(
        TimeLagCase{.name = "EmptyTableUnknown", .points = {}, .offset = 5, .now = 10},
        TimeLagCase{.name = "OnePointUnknown", .points = {{100, At(0)}}, .offset = 40, .now = 10},
        TimeLagCase{.name = "OlderThanTheTableUnknown",
                    .points = {{100, At(0)}, {200, At(10)}},
                    .offset = 99,
                    .now = 20},
        // Message 149 appeared when the end passed 149: half-way from 100 to
        // 200, at +5s.
        TimeLagCase{.name = "InterpolatesBetweenBracketingPoints",
                    .points = {{100, At(0)}, {200, At(10)}, {300, At(20)}},
                    .offset = 149,
                    .now = 30,
                    .want = 25},
        TimeLagCase{.name = "FirstMessageAfterAPoint",
                    .points = {{100, At(0)}, {200, At(10)}},
                    .offset = 100,
                    .now = 10,
                    .want = 9.9},
        // The end stood at 50 from +0s to +60s: message 50 came after +60s.
        TimeLagCase{.name = "IdleRunUsesItsLastSighting",
                    .points = {{50, At(0)}, {50, At(60)}, {100, At(70)}},
                    .offset = 50,
                    .now = 70,
                    .want = 9.8},
        TimeLagCase{.name = "NotProducedYetIsZero",
                    .points = {{100, At(0)}, {200, At(10)}},
                    .offset = 200,
                    .now = 10,
                    .want = 0}),
    [](const auto& info) { return info.param.name; });

TEST(OffsetTable, KeepsOnlyTheEndsOfARunOfEqualOffsets) {
  std::vector<OffsetPoint> points;
  AddOffsetPoint(&points, {10, At(0)});
  AddOffsetPoint(&points, {20, At(10)});
  AddOffsetPoint(&points, {20, At(20)});
  AddOffsetPoint(&points, {20, At(30)});
  AddOffsetPoint(&points, {20, At(40)});
  EXPECT_THAT(points, ElementsAre(OffsetPoint{10, At(0)}, OffsetPoint{20, At(10)},
                                  OffsetPoint{20, At(40)}));
}

TEST(OffsetTable, ShrinkingLogStartsAfresh) {
  std::vector<OffsetPoint> points;
  AddOffsetPoint(&points, {500, At(0)});
  AddOffsetPoint(&points, {600, At(10)});
  AddOffsetPoint(&points, {3, At(20)});
  EXPECT_THAT(points, ElementsAre(OffsetPoint{3, At(20)}));
}

TEST(OffsetTable, StaysBoundedAndReachesBackToItsFirstPoint) {
  // A day of polls every 10 s at a rate that changes every hour.
  std::vector<OffsetPoint> points;
  int64_t end = 0;
  std::vector<OffsetPoint> truth;
  for (int t = 0; t <= 86400; t += 10) {
    end += 10 * (1 + (t / 3600) % 5) * 7;
    truth.push_back({end, At(t)});
    AddOffsetPoint(&points, truth.back());
    ASSERT_LE(points.size(), kMaxOffsetPoints);
  }
  EXPECT_EQ(points.front(), truth.front());
  EXPECT_EQ(points.back(), truth.back());
  // The error of an age is a small fraction of the age, old or recent.
  for (size_t i = 1; i < truth.size(); i += 97) {
    const double want = Secs(At(86400) - truth[i - 1].time);
    const std::optional<double> got = TimeLagSeconds(points, truth[i - 1].offset, At(86400));
    ASSERT_TRUE(got.has_value());
    EXPECT_NEAR(*got, want, 0.1 * want + 10) << "message seen at +" << 86400 - want << "s";
  }
}

// ---------------------------------------------------------------------------
// Rates per topic, smoothed over the window.

// Two partitions of "a" and one of "b", at the given offsets.
std::vector<PartitionObservation> TwoTopics(int64_t end_a, int64_t committed_a, int64_t end_b,
                                            int64_t committed_b) {
  auto out = Parts(2, end_a, committed_a, "a");
  for (const auto& p : Parts(1, end_b, committed_b, "b")) out.push_back(p);
  return out;
}

TEST(Rates, UnknownUntilTwoObservations) {
  const Decision d = Decide(Obs(TwoTopics(100, 50, 10, 10), 1), {}, BaseSpec(), At(0));
  ASSERT_EQ(d.topic_rates.size(), 2u);
  EXPECT_EQ(d.topic_rates[0].topic, "a");
  EXPECT_EQ(d.topic_rates[0].produce_rate, std::nullopt);
  EXPECT_EQ(d.topic_rates[1].consume_rate, std::nullopt);
}

struct RateCase {
  std::string name;
  int64_t window_seconds;
  double want_produce_a;
  double want_consume_a;
  double want_produce_b;
};

void PrintTo(const RateCase& c, std::ostream* os) { *os << c.name; }

class RateTest : public ::testing::TestWithParam<RateCase> {};

// "a": +500 per partition in the first 10 s, +2000 in the next 10 s;
// consumed +250, then +250. "b": +100 then +100, all consumed.
TEST_P(RateTest, PerTopic) {
  const RateCase& c = GetParam();
  const Spec spec = With(BaseSpec(), [&](Spec& s) { s.rate_window_seconds = c.window_seconds; });
  Decision d = Decide(Obs(TwoTopics(0, 0, 0, 0), 1), {}, spec, At(0));
  d = Decide(Obs(TwoTopics(500, 250, 100, 100), 1), d.history, spec, At(10));
  d = Decide(Obs(TwoTopics(2500, 500, 200, 200), 1), d.history, spec, At(20));
  ASSERT_EQ(d.topic_rates.size(), 2u);
  EXPECT_THAT(d.topic_rates[0].produce_rate, Optional(DoubleNear(c.want_produce_a, 1e-9)));
  EXPECT_THAT(d.topic_rates[0].consume_rate, Optional(DoubleNear(c.want_consume_a, 1e-9)));
  EXPECT_THAT(d.topic_rates[1].produce_rate, Optional(DoubleNear(c.want_produce_b, 1e-9)));
}

INSTANTIATE_TEST_SUITE_P(Rules, RateTest,
                         ::testing::Values(RateCase{"WindowCoversBothIntervals", 60, 250, 50, 10},
                                           RateCase{"WindowCoversTheLastInterval", 10, 400, 50,
                                                    10}),
                         [](const auto& info) { return info.param.name; });

TEST(Rates, SkipAPartitionThatFailedLastTime) {
  const Spec spec = BaseSpec();
  Decision d = Decide(Obs(Parts(2, 0, 0), 1), {}, spec, At(0));
  auto failing = Parts(2, 100, 100);
  failing[1].failed = true;
  d = Decide(Obs(failing, 1), d.history, spec, At(10));
  // Partition 1's offsets moved over 20 s, not 10: it is left out once.
  d = Decide(Obs(Parts(2, 200, 200), 1), d.history, spec, At(20));
  EXPECT_THAT(d.topic_rates[0].produce_rate, Optional(DoubleNear((100.0 + 100.0) / 20, 1e-9)));
}

// ---------------------------------------------------------------------------
// The per-replica rate, learned from intervals in which the group worked flat
// out.

struct LearnCase {
  std::string name;
  Spec spec = Throughput(std::nullopt);
  // Partition 0..3 at +0s and +10s.
  std::vector<PartitionObservation> before = Parts(4, 10'000, 0);
  std::vector<PartitionObservation> after = Parts(4, 10'500, 1'000);
  int32_t replicas_before = 2;
  int32_t replicas_after = 2;
  std::optional<double> want;  // history.per_replica_rate after +10s
  // history.per_replica_rate_lower_bound after +10s, where given.
  std::optional<double> want_lower_bound;
};

void PrintTo(const LearnCase& c, std::ostream* os) { *os << c.name; }

class LearnTest : public ::testing::TestWithParam<LearnCase> {};

TEST_P(LearnTest, Learns) {
  const LearnCase& c = GetParam();
  Spec spec = c.spec;
  spec.max_replicas = c.replicas_before;  // no change between the two observations
  const Decision first = Decide(Obs(c.before, c.replicas_before), {}, spec, At(0));
  const Decision d = Decide(Obs(c.after, c.replicas_after), first.history, spec, At(10));
  if (c.want) {
    EXPECT_THAT(d.history.per_replica_rate, Optional(DoubleNear(*c.want, 1e-9)));
    EXPECT_EQ(d.history.saturated_intervals, 1);
    // This decision already uses what the interval taught.
    EXPECT_EQ(d.per_replica_rate, d.history.per_replica_rate);
  } else {
    EXPECT_EQ(d.history.per_replica_rate, std::nullopt);
    EXPECT_EQ(d.history.saturated_intervals, 0);
    EXPECT_EQ(d.per_replica_rate, spec.per_replica_rate_hint);
  }
  if (c.want_lower_bound) {
    EXPECT_THAT(d.history.per_replica_rate_lower_bound,
                Optional(DoubleNear(*c.want_lower_bound, 1e-9)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, LearnTest,
    ::testing::Values(
        // 4 x 1000 consumed in 10 s by 2 replicas.
        LearnCase{
            .name = "BacklogLearnsConsumedPerReplica",
            .spec = With(Throughput(std::nullopt), [](Spec& s) { s.rate_window_seconds = 10; }),
            .want = 200},
        LearnCase{.name = "HintIsThePriorOfAnAverageOverTheWindow",
                  .spec = With(Throughput(100), [](Spec& s) { s.rate_window_seconds = 60; }),
                  .want = 100 + (200.0 - 100) * 10 / 60},
        // 4 partitions and 8 replicas: only 4 work.
        LearnCase{.name = "IdleReplicasDoNotCount",
                  .spec = With(Throughput(std::nullopt),
                               [](Spec& s) {
                                 s.rate_window_seconds = 10;
                                 s.allow_idle_consumers = true;
                               }),
                  .replicas_before = 8,
                  .replicas_after = 8,
                  .want = 100},
        // What was consumed is still a lower bound: 4 x 1000 in 10 s by 2.
        LearnCase{.name = "RanDryIsNotLearned",
                  .before = Parts(4, 10'000, 9'500),
                  .after = Parts(4, 10'500, 10'500),
                  .want_lower_bound = 200},
        LearnCase{.name = "ReplicasChangedIsNotLearned", .replicas_after = 1},
        LearnCase{.name = "NothingConsumedIsNotLearned", .after = Parts(4, 10'500, 0)},
        // Lag 500 at the start, 900 at the end, 600 consumed: busy at the
        // end, but the backlog at the start did not cover the consumption, so
        // the group may have run dry in between: 4 x 600 in 10 s by 2
        // replicas is a lower bound.
        LearnCase{.name = "BusyAtBothEndsIsLearnedWithoutPrior",
                  .before = Parts(4, 1'000, 500),
                  .after = Parts(4, 2'000, 1'100),
                  .want = 120},
        LearnCase{.name = "BusyRaisesAPriorBelowIt",
                  .spec = Throughput(100),
                  .before = Parts(4, 1'000, 500),
                  .after = Parts(4, 2'000, 1'100),
                  .want = 120},
        LearnCase{.name = "BusyNeverLowersAPrior",
                  .spec = Throughput(500),
                  .before = Parts(4, 1'000, 500),
                  .after = Parts(4, 2'000, 1'100),
                  .want = 500},
        // Flat out, the average moves down as well as up.
        LearnCase{.name = "FlatOutLowersAPrior",
                  .spec = With(Throughput(500), [](Spec& s) { s.rate_window_seconds = 10; }),
                  .want = 200},
        // A backlog built from nothing to what was consumed: 4 x 500 in 10 s
        // by 2 replicas.
        LearnCase{.name = "BacklogBuiltFromNothingIsBusy",
                  .before = Parts(4, 1'000, 1'000),
                  .after = Parts(4, 2'000, 1'500),
                  .want = 100},
        // From nothing to 400 while 500 were consumed of 900 produced: the
        // consumers got less than arrived and the backlog is more than half
        // an interval's work, so they were saturated (a replica sharing its
        // rate over several partitions shows this on its first interval).
        LearnCase{.name = "BacklogGrowingToHalfAnIntervalsWorkIsSaturated",
                  .before = Parts(4, 1'000, 1'000),
                  .after = Parts(4, 1'900, 1'500),
                  .want = 100,
                  .want_lower_bound = 100},
        // Grown, but to less than half of what was consumed: commits a
        // little behind a group that keeps up.
        LearnCase{.name = "BacklogGrowingToLessThanHalfIsNotLearned",
                  .before = Parts(4, 1'000, 950),
                  .after = Parts(4, 2'000, 1'800),
                  .want_lower_bound = 170},
        // Lag at both ends, but less than a whole interval's consumption: a
        // group keeping up, its commits a little behind.
        LearnCase{.name = "KeepingUpWithCommitsBehindIsNotLearned",
                  .before = Parts(4, 1'000, 900),
                  .after = Parts(4, 2'000, 1'900)},
        // Partition 1 keeps its backlog and consumes nothing: a stall not
        // yet detected says nothing of the rate, and would drag it down.
        LearnCase{.name = "APartitionConsumingNothingIsNotLearned",
                  .after =
                      [] {
                        std::vector<PartitionObservation> p = Parts(4, 10'500, 1'000);
                        p[1].committed_offset = 0;
                        return p;
                      }()},
        LearnCase{.name = "OnePartitionNotBusyIsNotLearned",
                  .after =
                      [] {
                        std::vector<PartitionObservation> p = Parts(4, 10'500, 1'000);
                        p[2].committed_offset = 10'000;
                        return p;
                      }()}),
    [](const auto& info) { return info.param.name; });

// A stalled partition's consumption says nothing of a replica's rate: the
// others are learned from, the working replicas counted in proportion.
TEST(Learn, AroundAStalledPartition) {
  Spec spec = Throughput(std::nullopt);
  spec.rate_window_seconds = 10;
  spec.stall_seconds = 10;
  spec.max_replicas = 2;
  const Decision first = Decide(Obs(Parts(4, 10'000, 0), 2, 2), {}, spec, At(0));
  std::vector<PartitionObservation> after = Parts(4, 10'500, 1'000);
  after[3].committed_offset = 0;
  const Decision d = Decide(Obs(after, 2, 2), first.history, spec, At(10));
  ASSERT_THAT(d.stalled_partitions, ElementsAre(TopicPartition{"t", 3})) << d.message;
  // 3 x 1000 in 10 s by 2 x 3/4 replicas.
  EXPECT_THAT(d.history.per_replica_rate, Optional(DoubleNear(200, 1e-9)));
}

TEST(Learn, NotUntilTheChangeSettledBeforeTheInterval) {
  Spec spec = Throughput(std::nullopt);
  spec.rebalance_settle_seconds = 30;
  spec.max_replicas = 2;
  const Decision first = Decide(Obs(Parts(4, 10'000, 0), 1), {}, spec, At(0));
  ASSERT_EQ(first.desired, 2);  // a change at +0s
  Decision d = Decide(Obs(Parts(4, 10'500, 1'000), 2), first.history, spec, At(10));
  d = Decide(Obs(Parts(4, 11'000, 2'000), 2), d.history, spec, At(40));
  EXPECT_EQ(d.history.per_replica_rate, std::nullopt) << "the interval began at +10s, settling";
  d = Decide(Obs(Parts(4, 11'500, 3'000), 2), d.history, spec, At(70));
  EXPECT_TRUE(d.history.per_replica_rate.has_value()) << "settled by +30s, the interval from +40s";
}

// Which intervals the group worked through at one size: the replicas and
// members at both ends (members as the broker reports them).
struct SteadyCase {
  std::string name;
  int32_t replicas_before;
  int32_t members_before;
  int32_t replicas_after;
  int32_t members_after;
  std::optional<bool> stable_after;
  std::optional<double> want;  // history.per_replica_rate after +10s
};

void PrintTo(const SteadyCase& c, std::ostream* os) { *os << c.name; }

class SteadyTest : public ::testing::TestWithParam<SteadyCase> {};

// 4 partitions with backlog, 500 consumed from each in 10 s.
TEST_P(SteadyTest, LearnsOnlyFromTheReplicasThatWorkedThroughout) {
  const SteadyCase& c = GetParam();
  Spec spec = Throughput(std::nullopt);
  spec.max_replicas = 10;
  const Decision first =
      Decide(Obs(Parts(4, 10'000, 0), c.replicas_before, c.members_before), {}, spec, At(0));
  Observation after = Obs(Parts(4, 10'500, 500), c.replicas_after, c.members_after);
  after.group_stable = c.stable_after;
  const Decision d = Decide(after, first.history, spec, At(10));
  if (c.want) {
    EXPECT_THAT(d.history.per_replica_rate, Optional(DoubleNear(*c.want, 1e-9))) << d.message;
  } else {
    EXPECT_EQ(d.history.per_replica_rate, std::nullopt) << d.message;
    EXPECT_EQ(d.history.per_replica_rate_lower_bound, std::nullopt) << d.message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, SteadyTest,
    ::testing::Values(SteadyCase{.name = "SameReplicasAllMembers",
                                 .replicas_before = 2,
                                 .members_before = 2,
                                 .replicas_after = 2,
                                 .members_after = 2,
                                 .want = 4 * 500 / 10.0 / 2},
                      // Two replicas added at +0s are still starting at +10s: not members
                      // yet, no rebalance yet; the one replica did the work.
                      SteadyCase{.name = "AddedReplicasStillStarting",
                                 .replicas_before = 1,
                                 .members_before = 1,
                                 .replicas_after = 3,
                                 .members_after = 1,
                                 .want = 4 * 500 / 10.0},
                      SteadyCase{.name = "AddedReplicasStillStartingInAStableGroup",
                                 .replicas_before = 1,
                                 .members_before = 1,
                                 .replicas_after = 3,
                                 .members_after = 1,
                                 .stable_after = true,
                                 .want = 4 * 500 / 10.0},
                      SteadyCase{.name = "AddedReplicasWhileTheGroupRebalances",
                                 .replicas_before = 1,
                                 .members_before = 1,
                                 .replicas_after = 3,
                                 .members_after = 1,
                                 .stable_after = false},
                      SteadyCase{.name = "AMemberJoinedDuringTheInterval",
                                 .replicas_before = 2,
                                 .members_before = 1,
                                 .replicas_after = 2,
                                 .members_after = 2},
                      // At the start not every replica had joined: a rebalance was due.
                      SteadyCase{.name = "AddedReplicasWhileEarlierOnesWereJoining",
                                 .replicas_before = 2,
                                 .members_before = 1,
                                 .replicas_after = 3,
                                 .members_after = 1},
                      SteadyCase{.name = "RemovedReplicas",
                                 .replicas_before = 3,
                                 .members_before = 3,
                                 .replicas_after = 2,
                                 .members_after = 3}),
    [](const auto& info) { return info.param.name; });

// A replica added after a saturated interval does not count before it
// joined; the interval in which it joined teaches nothing.
TEST(Learn, AStartingReplicaCountsOnlyOnceJoined) {
  Spec spec = Throughput(std::nullopt);
  spec.rate_window_seconds = 10;
  spec.rebalance_settle_seconds = 30;
  spec.max_replicas = 2;
  const Decision first = Decide(Obs(Parts(4, 10'000, 0), 1, 1), {}, spec, At(0));
  ASSERT_EQ(first.desired, 2);
  // +10s: the new replica is starting; 4 x 500 in 10 s by the first one.
  Decision d = Decide(Obs(Parts(4, 10'500, 500), 2, 1), first.history, spec, At(10));
  EXPECT_THAT(d.history.per_replica_rate, Optional(DoubleNear(200, 1e-9)));
  // +20s: it joined during the interval (a rebalance): nothing learned.
  d = Decide(Obs(Parts(4, 11'000, 1'100), 2, 2), d.history, spec, At(20));
  EXPECT_THAT(d.history.per_replica_rate, Optional(DoubleNear(200, 1e-9)));
  EXPECT_EQ(d.history.saturated_intervals, 1);
  // +30s: both members at both ends: 4 x 1200 in 10 s by 2.
  d = Decide(Obs(Parts(4, 11'500, 2'300), 2, 2), d.history, spec, At(30));
  EXPECT_THAT(d.history.per_replica_rate, Optional(DoubleNear(240, 1e-9)));
  EXPECT_EQ(d.history.saturated_intervals, 2);
}

// Replicas sharing 12 partitions unevenly (5 replicas: two hold 3, three
// hold 2), each sustaining 90/s, 35/s produced into every partition: the
// ones with 3 fall behind (30/s per partition), the ones with 2 keep up.
// Not every partition is busy, so nothing is learned; consumed per replica
// is only a lower bound, below the 90/s.
TEST(Learn, UnevenPartitionsGiveOnlyALowerBound) {
  Spec spec = Throughput(std::nullopt);
  spec.max_replicas = 5;
  std::vector<PartitionObservation> before = Parts(12, 1'000, 1'000);
  std::vector<PartitionObservation> after = Parts(12, 1'350, 1'350);
  for (int p = 0; p < 6; ++p) {
    before[p].log_end_offset = 2'000;
    after[p].log_end_offset = 2'350;
    after[p].committed_offset = 1'300;
  }
  const Decision first = Decide(Obs(before, 5, 5), {}, spec, At(0));
  const Decision d = Decide(Obs(after, 5, 5), first.history, spec, At(10));
  EXPECT_EQ(d.history.per_replica_rate, std::nullopt);
  EXPECT_EQ(d.history.saturated_intervals, 0);
  // (6 x 300 + 6 x 350) in 10 s by 5.
  EXPECT_THAT(d.history.per_replica_rate_lower_bound, Optional(DoubleNear(78, 1e-9)));
}

// ---------------------------------------------------------------------------
// The throughput policy: ceil((produceRate + lag / targetDrainSeconds) /
// perReplicaRate), then the lag policy's ceiling and bounds.

struct ThroughputCase {
  std::string name;
  Spec spec;
  int64_t lag_each = 0;  // on each of 10 partitions at +10s
  bool one_observation = false;
  int32_t want_raw = 0;
  int32_t want_desired = 0;
  bool want_fallback = false;
  std::string want_message;
};

void PrintTo(const ThroughputCase& c, std::ostream* os) { *os << c.name; }

class ThroughputTest : public ::testing::TestWithParam<ThroughputCase> {};

// 10 partitions, 100 messages each produced in 10 s: 100/s in all.
// The rule alone: no scale-down window (a history that begins holds its
// first replicas for one).
TEST_P(ThroughputTest, Decides) {
  const ThroughputCase& c = GetParam();
  Spec spec = c.spec;
  spec.behavior.scale_down.stabilization_window_seconds = 0;
  History history;
  if (!c.one_observation) {
    history = Decide(Obs(Parts(10, 1000, 1000), 10), {}, spec, At(0)).history;
  }
  const Decision d = Decide(Obs(Parts(10, 1100, 1100 - c.lag_each), 10), history, spec, At(10));
  EXPECT_EQ(d.raw, c.want_raw) << d.message;
  EXPECT_EQ(d.desired, c.want_desired) << d.message;
  EXPECT_EQ(d.flags.throughput_fallback, c.want_fallback) << d.message;
  EXPECT_THAT(d.message, HasSubstr(c.want_message));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ThroughputTest,
    ::testing::Values(
        ThroughputCase{.name = "ProduceRateAlone",
                       .spec = Throughput(60),
                       .want_raw = 2,
                       .want_desired = 2,
                       .want_message = "produce 100.0/s + lag 0 / 60s drain = 100.0/s over 10 "
                                       "partitions, at 60.0/s per replica (perReplicaRateHint) "
                                       "= 2; ceiling 10 (10 partitions)"},
        // 2 replicas carry 100/s at 50/s each, but not 110/s: from 10, the
        // scale-down stops at 3.
        ThroughputCase{.name = "ScaleDownKeepsHeadroom",
                       .spec = Throughput(50),
                       .want_raw = 3,
                       .want_desired = 3,
                       .want_message = "at 50.0/s per replica (perReplicaRateHint) = 2 (3 "
                                       "with 10.0% headroom to scale down)"},
        // 200/s: 20/s per partition, 2 per replica at 50/s: 10 / 2.
        ThroughputCase{.name = "LagDrainedOverTargetDrainSeconds",
                       .spec = Throughput(50),
                       .lag_each = 600,
                       .want_raw = 5,
                       .want_desired = 5},
        // 300/s: 30/s per partition, more than half of a replica's 50/s.
        ThroughputCase{.name = "ShorterDrainMoreReplicas",
                       .spec = With(Throughput(50), [](Spec& s) { s.target_drain_seconds = 30; }),
                       .lag_each = 600,
                       .want_raw = 10,
                       .want_desired = 10},
        // 100/s: 10/s per partition; 4 replicas would do (25/s each), but
        // one of them would hold 3 partitions.
        ThroughputCase{.name = "PartitionGranularity",
                       .spec = Throughput(25),
                       .want_raw = 5,
                       .want_desired = 5,
                       .want_message = "at 25.0/s per replica (perReplicaRateHint) = 5"},
        // 20/s per partition (22 with headroom), 70/s per replica carries
        // 3: ceil(10 / 3).
        ThroughputCase{.name = "BusiestReplicaCarriesItsPartitions",
                       .spec = Throughput(70),
                       .lag_each = 600,
                       .want_raw = 4,
                       .want_desired = 4},
        ThroughputCase{.name = "CappedAtThePartitionCeiling",
                       .spec = Throughput(10),
                       .lag_each = 600,
                       .want_raw = 20,
                       .want_desired = 10},
        ThroughputCase{.name = "AlignedAsTheLagPolicy",
                       .spec = With(Throughput(50),
                                    [](Spec& s) {
                                      s.per_replica_rate_hint = 70;
                                      s.alignment = Alignment::kDivisor;
                                    }),
                       .lag_each = 600,
                       .want_raw = 4,
                       .want_desired = 5,
                       .want_message = "aligned 4 -> 5 (divisor"},
        ThroughputCase{.name = "NoRateFallsBackToLag",
                       .spec = Throughput(std::nullopt),
                       .lag_each = 600,
                       .want_raw = 6,
                       .want_desired = 6,
                       .want_fallback = true,
                       .want_message = "throughput policy falls back to lag (per-replica rate "
                                       "unknown: no hint, no saturated interval yet): lag 6000 "
                                       "/ threshold 1000 = 6"},
        ThroughputCase{.name = "NoProduceRateFallsBackToLag",
                       .spec = Throughput(50),
                       .lag_each = 600,
                       .one_observation = true,
                       .want_raw = 6,
                       .want_desired = 6,
                       .want_fallback = true,
                       .want_message = "(produce rate not known yet)"},
        ThroughputCase{
            .name = "LagPolicyIgnoresRates",
            .spec = With(Throughput(50), [](Spec& s) { s.policy_type = PolicyType::kLag; }),
            .lag_each = 600,
            .want_raw = 6,
            .want_desired = 6,
            .want_message = "lag 6000 / threshold 1000 = 6"}),
    [](const auto& info) { return info.param.name; });

// The first saturated interval's rate decides at once, and the message says
// where the rate came from.
TEST(Throughput, UsesTheLearnedRateOnceKnown) {
  Spec spec = Throughput(std::nullopt);
  spec.rate_window_seconds = 10;
  spec.max_replicas = 2;
  Decision d = Decide(Obs(Parts(4, 10'000, 0), 2), {}, spec, At(0));
  EXPECT_TRUE(d.flags.throughput_fallback);
  d = Decide(Obs(Parts(4, 10'500, 1'000), 2), d.history, spec, At(10));
  EXPECT_FALSE(d.flags.throughput_fallback) << d.message;
  EXPECT_THAT(d.per_replica_rate, Optional(DoubleNear(200, 1e-9)));
  EXPECT_THAT(d.message, HasSubstr("at 200.0/s per replica (learned from 1 saturated interval)"));
  // (200/s + 38000 / 60 s) / 200/s per replica.
  EXPECT_EQ(d.raw, 5) << d.message;
  d = Decide(Obs(Parts(4, 11'000, 2'000), 2), d.history, spec, At(20));
  EXPECT_EQ(d.history.saturated_intervals, 2);
  EXPECT_THAT(d.message, HasSubstr("(learned from 2 saturated intervals)"));
  // (200/s + 36000 / 60 s) / 200/s per replica.
  EXPECT_EQ(d.raw, 4) << d.message;
}

// Scale to zero under the throughput policy: the produce rate is an average
// over the rate window, still above zero long after the last message; a
// group with no lag into which nothing is produced goes to zero after the
// cooldown all the same, and one still produced into never does.
Spec IdleSpec() {
  Spec spec = Throughput(100);
  spec.min_replicas = 0;
  spec.cooldown_seconds = 20;
  spec.rate_window_seconds = 120;
  spec.behavior.scale_down.stabilization_window_seconds = 0;
  return spec;
}

TEST(ThroughputToZero, IdleGroupScalesToZeroAfterTheCooldownWhateverTheAverage) {
  const Spec spec = IdleSpec();
  // 4 partitions, 100/s produced and consumed for 10 s, then nothing.
  Decision d = Decide(Obs(Parts(4, 0, 0), 1), {}, spec, At(0));
  d = Decide(Obs(Parts(4, 250, 250), 1), d.history, spec, At(10));
  ASSERT_FALSE(d.flags.throughput_fallback) << d.message;
  EXPECT_EQ(d.desired, 1) << d.message;
  EXPECT_NE(d.reason, Reason::kCooldown) << "still produced into: " << d.message;
  d = Decide(Obs(Parts(4, 250, 250), 1), d.history, spec, At(20));
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, Reason::kCooldown) << d.message;
  EXPECT_THAT(d.message, HasSubstr("lag <= activation 0 and nothing produced for 0s of cooldown "
                                   "20s"));
  d = Decide(Obs(Parts(4, 250, 250), 1), d.history, spec, At(30));
  EXPECT_EQ(d.desired, 1);
  EXPECT_THAT(d.message, HasSubstr("for 10s of cooldown 20s"));
  d = Decide(Obs(Parts(4, 250, 250), 1), d.history, spec, At(40));
  // The window's average is still 1000 messages / 40 s = 25/s.
  EXPECT_THAT(d.topic_rates.at(0).produce_rate, Optional(DoubleNear(25, 1e-9)));
  EXPECT_EQ(d.desired, 0) << d.message;
  EXPECT_EQ(d.reason, Reason::kScaleToZero);
  EXPECT_THAT(d.message, HasSubstr("and nothing produced for 20s: cooldown 20s over"));
}

TEST(ThroughputToZero, GroupStillProducedIntoNeverScalesToZero) {
  const Spec spec = IdleSpec();
  Decision d = Decide(Obs(Parts(4, 0, 0), 1), {}, spec, At(0));
  // Consumed as fast as produced: lag 0 at every look, 10 messages a second.
  for (int i = 1; i <= 12; ++i) {
    d = Decide(Obs(Parts(4, 25 * i, 25 * i), 1), d.history, spec, At(10 * i));
    ASSERT_EQ(d.desired, 1) << "at +" << 10 * i << "s: " << d.message;
    EXPECT_NE(d.reason, Reason::kCooldown) << d.message;
  }
}

TEST(ThroughputToZero, ProductionDuringTheCooldownRestartsIt) {
  const Spec spec = IdleSpec();
  Decision d = Decide(Obs(Parts(4, 0, 0), 1), {}, spec, At(0));
  d = Decide(Obs(Parts(4, 250, 250), 1), d.history, spec, At(10));
  d = Decide(Obs(Parts(4, 250, 250), 1), d.history, spec, At(20));
  ASSERT_EQ(d.reason, Reason::kCooldown) << d.message;
  d = Decide(Obs(Parts(4, 260, 260), 1), d.history, spec, At(30));
  d = Decide(Obs(Parts(4, 260, 260), 1), d.history, spec, At(40));
  EXPECT_EQ(d.desired, 1) << "cooldown restarted at +40s: " << d.message;
  d = Decide(Obs(Parts(4, 260, 260), 1), d.history, spec, At(60));
  EXPECT_EQ(d.desired, 0) << d.message;
}

// Before any saturated interval (and without a hint), consumed per working
// replica is a lower bound of the rate: the count that carries the demand at
// it is enough, so a scale-up of the lag fallback goes no further.
TEST(Throughput, LowerBoundCapsTheFallbacksScaleUp) {
  Spec spec = Throughput(std::nullopt);
  spec.max_replicas = 10;
  spec.lag_threshold = 100;
  spec.min_replicas = 2;
  Decision d = Decide(Obs(Parts(10, 1'000, 1'000), 2, 2), {}, spec, At(0));
  // Keeping up with 100/s: 10 x 100 in 10 s by 2, at least 50/s each.
  d = Decide(Obs(Parts(10, 1'100, 1'100), 2, 2), d.history, spec, At(10));
  ASSERT_EQ(d.desired, 2) << d.message;
  EXPECT_THAT(d.history.per_replica_rate_lower_bound, Optional(DoubleNear(50, 1e-9)));
  // A pause: nothing consumed, lag 1000 asks the lag policy for 10.
  d = Decide(Obs(Parts(10, 1'200, 1'100), 2, 2), d.history, spec, At(20));
  EXPECT_TRUE(d.flags.throughput_fallback);
  EXPECT_EQ(d.per_replica_rate, std::nullopt);
  // 100/s + 1000 / 60 s at 50/s per replica: 3 (4 partitions each).
  EXPECT_EQ(d.raw, 3) << d.message;
  EXPECT_EQ(d.desired, 3) << d.message;
  EXPECT_THAT(d.message,
              HasSubstr("lag 1000 / threshold 100 = 10, capped at 3: produce 100.0/s + lag 1000 / "
                        "60s drain = 116.7/s at 50.0/s per replica (lower bound: consumed per "
                        "working replica)"));
}

TEST(Throughput, LowerBoundNeverScalesDown) {
  Spec spec = Throughput(std::nullopt);
  spec.max_replicas = 10;
  spec.lag_threshold = 100;
  spec.min_replicas = 4;
  Decision d = Decide(Obs(Parts(10, 1'000, 1'000), 4, 4), {}, spec, At(0));
  // 800/s kept up with: at least 200/s each.
  d = Decide(Obs(Parts(10, 1'800, 1'800), 4, 4), d.history, spec, At(10));
  ASSERT_EQ(d.desired, 4) << d.message;
  // 100/s now, a pause: lag 1000. At 200/s per replica 3 would carry
  // 450/s + 1000 / 60 s, but the lower bound only caps a scale-up.
  d = Decide(Obs(Parts(10, 1'900, 1'800), 4, 4), d.history, spec, At(20));
  EXPECT_EQ(d.raw, 4) << d.message;
  EXPECT_EQ(d.desired, 4) << d.message;
}

// A scale-down pauses the group while it rebalances; the backlog that
// leaves is drained over targetDrainSeconds from when the group settled
// rather than counted at once, which would scale straight back up (and pause
// the group again). Past that, what is left counts as any backlog.
TEST(Throughput, BacklogOfAScaleDownsRebalanceIsDrainedNotScaledFor) {
  Spec spec = Throughput(50);
  spec.max_replicas = 10;
  spec.target_drain_seconds = 10;
  spec.rebalance_settle_seconds = 30;
  spec.behavior.scale_down.stabilization_window_seconds = 0;
  Decision d = Decide(Obs(Parts(10, 1'000, 1'000), 4, 4), {}, spec, At(0));
  // 100/s, 110/s with headroom: 3 replicas (4 partitions each at 11/s).
  d = Decide(Obs(Parts(10, 1'100, 1'100), 4, 4), d.history, spec, At(10));
  ASSERT_EQ(d.desired, 3) << d.message;
  // Settled, after a 10 s pause: lag 1000, all of it the rebalance's.
  d = Decide(Obs(Parts(10, 1'200, 1'100), 3, 3), d.history, spec, At(20));
  ASSERT_TRUE(d.history.last_change.has_value());
  EXPECT_EQ(d.history.last_change->rebalance_backlog, 1'000);
  // Counted at once: 100/s + 1000 / 10 s at 50/s per replica asks for 5.
  EXPECT_EQ(d.desired, 3) << d.message;
  EXPECT_THAT(d.message, HasSubstr("produce 100.0/s + (lag 1000 - 1000 left by the last "
                                   "scale-down's rebalance) / 10s drain = 100.0/s"));
  // 10 s on, the drain time is over: lag 500, 150/s, 4 replicas.
  d = Decide(Obs(Parts(10, 1'300, 1'250), 3, 3), d.history, spec, At(30));
  EXPECT_EQ(d.desired, 4) << d.message;
  EXPECT_THAT(d.message, HasSubstr("produce 100.0/s + lag 500 / 10s drain = 150.0/s"));
}

// A rebalance backlog near the int64 limit (a corrupt or hostile history)
// saturates instead of overflowing: found by UndefinedBehaviorSanitizer.
TEST(Throughput, HugeRebalanceBacklogSaturates) {
  Spec spec = Throughput(50);
  spec.max_replicas = 10;
  History history;
  history.last_change = ScaleChange{.time = At(0),
                                    .from = 4,
                                    .replicas = 3,
                                    .settled_at = At(0),
                                    .rebalance_backlog = std::numeric_limits<int64_t>::max()};
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2;
  const Decision d = Decide(Obs(Parts(10, huge, 0), 3, 3), history, spec, At(1));
  EXPECT_GE(d.desired, 3) << d.message;
  EXPECT_LE(d.desired, 10) << d.message;
}

// A count from the rates is reached in one step unless the user set
// scale-up policies; the HPA's default (+4 pods or +100% per 15 s) would
// take two steps, each a rebalance.
TEST(Throughput, ScalesUpToTheRatesCountInOneStep) {
  Spec spec = Throughput(10);
  spec.max_replicas = 10;
  Decision d = Decide(Obs(Parts(10, 1'000, 1'000), 1, 1), {}, spec, At(0));
  d = Decide(Obs(Parts(10, 1'100, 1'100), 1, 1), d.history, spec, At(10));
  EXPECT_EQ(d.raw, 10) << d.message;
  EXPECT_EQ(d.desired, 10) << d.message;
  EXPECT_EQ(d.reason, Reason::kScaleUp);

  spec.behavior.scale_up.policies =
      std::vector<ScalingPolicy>{{.type = ScalingPolicyType::kPods, .value = 2}};
  d = Decide(Obs(Parts(10, 1'000, 1'000), 1, 1), {}, spec, At(0));
  d = Decide(Obs(Parts(10, 1'100, 1'100), 1, 1), d.history, spec, At(10));
  EXPECT_EQ(d.desired, 3) << d.message;
  EXPECT_EQ(d.reason, Reason::kScaleUpLimited);
}

// The scale-down stabilization window: the throughput policy's produce
// rate is already averaged over rateWindowSeconds, so by default its window
// is that, not the HPA's 300 s.
struct DownWindowCase {
  std::string name;
  Spec spec;
  int64_t want_down_at;  // first time the 10 -> 5 scale-down happens
};

void PrintTo(const DownWindowCase& c, std::ostream* os) { *os << c.name; }

class DownWindowTest : public ::testing::TestWithParam<DownWindowCase> {};

// 10 partitions, 100/s; at +10s a backlog of 600 each asks for 10 replicas
// (20/s per partition at 25/s per replica), from +20s none asks for 5.
TEST_P(DownWindowTest, HoldsTheHighestRecommendation) {
  const DownWindowCase& c = GetParam();
  Decision d = Decide(Obs(Parts(10, 1'000, 1'000), 10), {}, c.spec, At(0));
  d = Decide(Obs(Parts(10, 1'100, 500), 10), d.history, c.spec, At(10));
  ASSERT_EQ(d.desired, 10) << d.message;
  for (int64_t t = 20; t <= 400; t += 10) {
    const int64_t end = 1'000 + t * 10;
    d = Decide(Obs(Parts(10, end, end), 10), d.history, c.spec, At(static_cast<double>(t)));
    if (d.desired != 10) {
      EXPECT_EQ(t, c.want_down_at) << d.message;
      EXPECT_EQ(d.desired, 5) << d.message;
      return;
    }
    EXPECT_EQ(d.reason, Reason::kScaleDownStabilized) << d.message;
  }
  ADD_FAILURE() << "never scaled down: " << d.message;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DownWindowTest,
    ::testing::Values(
        DownWindowCase{
            .name = "ThroughputUsesTheRateWindow", .spec = Throughput(25), .want_down_at = 70},
        DownWindowCase{.name = "ThroughputFollowsALongerRateWindow",
                       .spec = With(Throughput(25), [](Spec& s) { s.rate_window_seconds = 120; }),
                       .want_down_at = 130},
        DownWindowCase{
            .name = "ExplicitWindowWins",
            .spec = With(Throughput(25),
                         [](Spec& s) { s.behavior.scale_down.stabilization_window_seconds = 200; }),
            .want_down_at = 210},
        // Lag 6000 / 600 = 10 at +10s, then 0 (minReplicas 5): held by the
        // HPA's 300 s.
        DownWindowCase{.name = "LagPolicyKeepsTheHpaDefault",
                       .spec = With(BaseSpec(),
                                    [](Spec& s) {
                                      s.lag_threshold = 600;
                                      s.min_replicas = 5;
                                    }),
                       .want_down_at = 310}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Time lag, and lagSecondsThreshold as a target.

// Four partitions whose ends grow by 100 every 10 s from 0 at +0s; at +100s
// the group has committed 500 on each.
Decision TimeLagRun(const Spec& spec, int32_t current) {
  History history;
  for (int t = 0; t < 100; t += 10) {
    history = Decide(Obs(Parts(4, t * 10, t * 10), current), history, spec, At(t)).history;
  }
  return Decide(Obs(Parts(4, 1000, 500), current), history, spec, At(100));
}

TEST(TimeLag, FromTheOffsetTable) {
  const Decision d = TimeLagRun(BaseSpec(), 2);
  ASSERT_EQ(d.partition_lags.size(), 4u);
  // Message 500 appeared when the end passed 500, at +50.1s.
  EXPECT_THAT(d.partition_lags[0].time_lag_seconds, Optional(DoubleNear(49.9, 1e-9)));
  EXPECT_THAT(d.max_time_lag_seconds, Optional(DoubleNear(49.9, 1e-9)));
  EXPECT_THAT(d.total_time_lag_seconds, Optional(DoubleNear(4 * 49.9, 1e-9)));
}

TEST(TimeLag, UnknownOnTheFirstObservationZeroWithoutLag) {
  auto partitions = Parts(2, 1000, 500);
  partitions[1].committed_offset = 1000;
  const Decision d = Decide(Obs(partitions, 1), {}, BaseSpec(), At(0));
  EXPECT_EQ(d.partition_lags[0].time_lag_seconds, std::nullopt);
  EXPECT_THAT(d.partition_lags[1].time_lag_seconds, Optional(0.0));
  EXPECT_THAT(d.max_time_lag_seconds, Optional(0.0));
}

TEST(TimeLag, UnknownEverywhereLeavesMaxUnset) {
  const Decision d = Decide(Obs(Parts(2, 1000, 500), 1), {}, BaseSpec(), At(0));
  EXPECT_EQ(d.max_time_lag_seconds, std::nullopt);
  EXPECT_EQ(d.total_time_lag_seconds, std::nullopt);
}

struct TimeTargetCase {
  std::string name;
  Spec spec;
  int32_t want_raw;
  std::string want_message;
};

void PrintTo(const TimeTargetCase& c, std::ostream* os) { *os << c.name; }

class TimeTargetTest : public ::testing::TestWithParam<TimeTargetCase> {};

TEST_P(TimeTargetTest, ScalesOnTheOldestMessage) {
  const TimeTargetCase& c = GetParam();
  const Decision d = TimeLagRun(c.spec, 2);
  EXPECT_EQ(d.raw, c.want_raw) << d.message;
  EXPECT_THAT(d.message, HasSubstr(c.want_message));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, TimeTargetTest,
    ::testing::Values(
        TimeTargetCase{"LagPolicyWithoutTimeTarget", BaseSpec(), 2,
                       "lag 2000 / threshold 1000 = 2"},
        // 2 replicas x 49.9 s / 20 s.
        TimeTargetCase{"TimeTargetRaisesTheLagPolicy",
                       With(BaseSpec(), [](Spec& s) { s.lag_seconds_threshold = 20; }), 5,
                       "time lag 49.9s / target 20s x 2 replicas = 5"},
        TimeTargetCase{"TimeTargetMetDefersToTheLagTarget",
                       With(BaseSpec(), [](Spec& s) { s.lag_seconds_threshold = 100; }), 2,
                       "time lag 49.9s / target 100s x 2 replicas = 1"},
        TimeTargetCase{"TimeTargetRaisesTheThroughputPolicy",
                       With(Throughput(1000), [](Spec& s) { s.lag_seconds_threshold = 10; }), 10,
                       "time lag 49.9s / target 10s x 2 replicas = 10"}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Settling after a change.

// `partitions` partitions whose lags add up to `total`, ends growing with
// the time so commits move.
std::vector<PartitionObservation> TotalLag(int partitions, int64_t total, int64_t at) {
  auto out = Parts(partitions, 1'000'000 + at * 1000, 0);
  for (int i = 0; i < partitions; ++i) {
    const int64_t lag = total / partitions + (i == 0 ? total % partitions : 0);
    out[i].committed_offset = out[i].log_end_offset - lag;
  }
  return out;
}

struct SettleStep {
  int64_t at_seconds;
  int64_t total_lag;
  int32_t current;
  std::optional<int32_t> members;
  int32_t want_desired;
  Reason want_reason;
  std::optional<bool> stable = std::nullopt;
};

struct SettleCase {
  std::string name;
  Spec spec = With(BaseSpec(), [](Spec& s) {
    s.rebalance_settle_seconds = 30;
    s.behavior.scale_down.stabilization_window_seconds = 0;
  });
  std::vector<SettleStep> steps;
  int64_t want_rebalances = 0;
};

void PrintTo(const SettleCase& c, std::ostream* os) { *os << c.name; }

class SettleTest : public ::testing::TestWithParam<SettleCase> {};

TEST_P(SettleTest, FollowsSteps) {
  const SettleCase& c = GetParam();
  History history;
  Decision d;
  for (const SettleStep& s : c.steps) {
    Observation obs = Obs(TotalLag(8, s.total_lag, s.at_seconds), s.current, s.members);
    obs.group_stable = s.stable;
    d = Decide(obs, history, c.spec, kT0 + seconds(s.at_seconds));
    EXPECT_EQ(d.desired, s.want_desired) << "at +" << s.at_seconds << "s: " << d.message;
    EXPECT_EQ(d.reason, s.want_reason) << "at +" << s.at_seconds << "s: " << ReasonName(d.reason);
    history = d.history;
  }
  EXPECT_EQ(d.rebalances_caused, c.want_rebalances);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, SettleTest,
    ::testing::Values(SettleCase{.name = "WithoutMembersWaitsRebalanceSettleSeconds",
                                 .steps = {{0, 2000, 1, {}, 2, Reason::kScaleUp},
                                           {10, 4000, 2, {}, 2, Reason::kRebalanceSettling},
                                           {29, 4000, 2, {}, 2, Reason::kRebalanceSettling},
                                           {30, 4000, 2, {}, 4, Reason::kScaleUp}},
                                 .want_rebalances = 2},
                      SettleCase{.name = "MembersEqualToReplicasEndTheHold",
                                 .steps = {{0, 2000, 1, 1, 2, Reason::kScaleUp},
                                           {10, 4000, 2, 1, 2, Reason::kRebalanceSettling},
                                           {15, 4000, 2, 2, 4, Reason::kScaleUp}},
                                 .want_rebalances = 2},
                      SettleCase{.name = "OneMemberPerConsumerThreadCounts",
                                 .spec = With(BaseSpec(),
                                              [](Spec& s) {
                                                s.rebalance_settle_seconds = 30;
                                                s.consumers_per_replica = 2;
                                              }),
                                 .steps = {{0, 2000, 1, 2, 2, Reason::kScaleUp},
                                           {10, 4000, 2, 4, 4, Reason::kScaleUp}},
                                 .want_rebalances = 2},
                      SettleCase{.name = "GroupNotStableHolds",
                                 .steps = {{0, 2000, 1, 1, 2, Reason::kScaleUp},
                                           {10, 4000, 2, 2, 2, Reason::kRebalanceSettling, false},
                                           {20, 4000, 2, 2, 4, Reason::kScaleUp, true}},
                                 .want_rebalances = 2},
                      SettleCase{.name = "MembersThatNeverJoinHoldAtMostFourTimesSettleSeconds",
                                 .steps = {{0, 2000, 1, 1, 2, Reason::kScaleUp},
                                           {119, 4000, 2, 1, 2, Reason::kRebalanceSettling},
                                           {120, 4000, 2, 1, 4, Reason::kScaleUp}},
                                 .want_rebalances = 2},
                      // max(lag at the change 2000, lagThreshold 1000) x 2 = 4000.
                      SettleCase{.name = "LagPastTheEmergencyFactorLiftsTheHold",
                                 .steps = {{0, 2000, 1, {}, 2, Reason::kScaleUp},
                                           {10, 4000, 2, {}, 2, Reason::kRebalanceSettling},
                                           {11, 4001, 2, {}, 5, Reason::kScaleUp}},
                                 .want_rebalances = 2},
                      SettleCase{.name = "ScaleDownWaitsToo",
                                 .steps = {{0, 4000, 1, {}, 4, Reason::kScaleUp},
                                           {10, 1000, 4, {}, 4, Reason::kRebalanceSettling},
                                           {30, 1000, 4, {}, 1, Reason::kScaleDown}},
                                 .want_rebalances = 2},
                      SettleCase{.name = "EmergencyNeverScalesDown",
                                 .steps = {{0, 1000, 4, {}, 1, Reason::kScaleDown},
                                           {10, 1000, 1, {}, 1, Reason::kSteady},
                                           {20, 0, 3, {}, 3, Reason::kRebalanceSettling}},
                                 .want_rebalances = 1},
                      SettleCase{.name = "FromZeroNeverWaits",
                                 .spec = With(BaseSpec(),
                                              [](Spec& s) {
                                                s.rebalance_settle_seconds = 30;
                                                s.min_replicas = 0;
                                                s.cooldown_seconds = 0;
                                                s.behavior.scale_down.stabilization_window_seconds =
                                                    0;
                                              }),
                                 .steps = {{0, 0, 1, {}, 0, Reason::kScaleToZero},
                                           {5, 500, 0, {}, 1, Reason::kScaleFromZero}},
                                 .want_rebalances = 2}),
    [](const auto& info) { return info.param.name; });

TEST(Settle, MessageSaysWhy) {
  Spec spec = BaseSpec();
  spec.rebalance_settle_seconds = 30;
  Decision d = Decide(Obs(TotalLag(8, 2000, 0), 1), {}, spec, At(0));
  d = Decide(Obs(TotalLag(8, 3000, 10), 2, 1), d.history, spec, At(10));
  EXPECT_THAT(d.message,
              HasSubstr("held while the group settles after the change to 2 replicas 10s ago "
                        "(1 members)"));
}

// maxReplicas lowered while the group settles: the ceiling applies at once.
TEST(Settle, NeverHoldsReplicasAboveTheCeiling) {
  Spec spec = BaseSpec();
  spec.rebalance_settle_seconds = 30;
  Decision d = Decide(Obs(TotalLag(8, 2000, 0), 1), {}, spec, At(0));
  ASSERT_EQ(d.desired, 2);
  spec.max_replicas = 1;
  d = Decide(Obs(TotalLag(8, 3000, 10), 2, 1), d.history, spec, At(10));
  EXPECT_EQ(d.ceiling, 1);
  EXPECT_EQ(d.desired, 1) << d.message;
  EXPECT_THAT(d.message, ::testing::Not(HasSubstr("held while the group settles")));
}

// ---------------------------------------------------------------------------
// Stalls: a partition with lag whose committed offset does not move.

struct StallCase {
  std::string name;
  bool others_commit = true;  // partitions 1..3 keep committing
  std::optional<int32_t> members = 2;
  int32_t current = 2;
  bool lag_clears_at_30 = false;  // partition 0 catches up once at +30s
  int64_t at_seconds = 60;
  bool want_stalled = false;
  bool want_stopped = false;
};

void PrintTo(const StallCase& c, std::ostream* os) { *os << c.name; }

class StallTest : public ::testing::TestWithParam<StallCase> {};

// Four partitions, ends +100 every 10 s; partition 0's commit stays put
// (except when it catches up at +30s). stallSeconds 60.
TEST_P(StallTest, Detects) {
  const StallCase& c = GetParam();
  Spec spec = BaseSpec();
  spec.stall_seconds = 60;
  spec.lag_threshold = 100;
  History history;
  Decision d;
  int64_t stuck_at = 0;
  for (int64_t t = 0; t <= c.at_seconds; t += 10) {
    const int64_t end = 1000 + t * 10;
    auto partitions = Parts(4, end, c.others_commit ? end - 10 : 1000);
    if (c.lag_clears_at_30 && t == 30) stuck_at = end;
    partitions[0].committed_offset = stuck_at;
    d = Decide(Obs(partitions, c.current, c.members), history, spec, At(static_cast<double>(t)));
    history = d.history;
  }
  EXPECT_EQ(d.partition_lags[0].stalled, c.want_stalled) << d.message;
  EXPECT_EQ(d.partition_lags[0].stopped, c.want_stopped) << d.message;
  EXPECT_EQ(d.flags.group_stopped, c.want_stopped);
  if (c.want_stalled) {
    EXPECT_THAT(d.stalled_partitions, ElementsAre(TopicPartition{"t", 0}));
    // Left out of the signal: lag 3 x 10 / threshold 100.
    EXPECT_EQ(d.raw, 1) << d.message;
    const int64_t stuck_lag = 1000 + c.at_seconds * 10 - stuck_at;
    EXPECT_THAT(d.message,
                HasSubstr("1 stalled partition (lag " + std::to_string(stuck_lag) + ") left out"));
    EXPECT_EQ(d.total_lag, stuck_lag + 30);
  } else {
    EXPECT_TRUE(d.stalled_partitions.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, StallTest,
    ::testing::Values(
        StallCase{.name = "CommitStuckOverTheWindowIsStalled", .want_stalled = true},
        StallCase{.name = "NotBeforeTheWindow", .at_seconds = 50},
        StallCase{.name = "NothingCommitsIsStopped", .others_commit = false, .want_stopped = true},
        StallCase{.name = "NoMembersIsStopped", .members = 0, .want_stopped = true},
        StallCase{.name = "NoReplicasIsStoppedWhereMembersAreUnknown",
                  .members = std::nullopt,
                  .current = 0,
                  .want_stopped = true},
        StallCase{.name = "MembersUnknownButReplicasRunning",
                  .members = std::nullopt,
                  .want_stalled = true},
        // Caught up at +30s: the window restarts from there.
        StallCase{.name = "NoLagRestartsTheWindow", .lag_clears_at_30 = true, .at_seconds = 80},
        StallCase{.name = "StalledAgainAfterAFullWindow",
                  .lag_clears_at_30 = true,
                  .at_seconds = 90,
                  .want_stalled = true}),
    [](const auto& info) { return info.param.name; });

TEST(Stall, ProduceIntoStalledPartitionsIsLeftOutOfTheThroughput) {
  Spec spec = Throughput(10);
  spec.stall_seconds = 20;
  spec.rate_window_seconds = 10;
  History history;
  Decision d;
  // Two partitions +100 every 10 s; partition 0 stuck at 0, partition 1
  // keeps up.
  for (int64_t t = 0; t <= 30; t += 10) {
    auto partitions = Parts(2, 100 + t * 10, 100 + t * 10);
    partitions[0].committed_offset = 0;
    d = Decide(Obs(partitions, 1), history, spec, At(static_cast<double>(t)));
    history = d.history;
  }
  ASSERT_TRUE(d.partition_lags[0].stalled) << d.message;
  EXPECT_THAT(d.topic_rates[0].produce_rate, Optional(DoubleNear(20, 1e-9)));
  EXPECT_THAT(d.message, HasSubstr("produce 10.0/s + lag 0 /"));
}

}  // namespace
}  // namespace groupscaler::policy
