#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "sim/keda.h"
#include "sim/model.h"
#include "sim/oracle.h"
#include "sim/plot.h"
#include "sim/trace.h"

namespace groupscaler::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------
// Trace parsing.

TEST(TraceTest, ParsesRowsWithSpacesCrlfBlankLinesAndBom) {
  StatusOr<Trace> trace = ParseTrace(
      "\xEF\xBB\xBFtime_seconds, produce_rate\r\n0,800\r\n\r\n  60 , 4000\n\n120,0\n", "t.csv");
  ASSERT_TRUE(trace.ok()) << trace.status().message();
  EXPECT_THAT(trace->rows, ElementsAre(TraceRow{0, 800}, TraceRow{60, 4000}, TraceRow{120, 0}));
}

TEST(TraceTest, ParsesThePoisonedPartitionColumn) {
  StatusOr<Trace> trace =
      ParseTrace("time_seconds,produce_rate,poisoned_partition\n0,10,\n60, 10 , 3\n", "t.csv");
  ASSERT_TRUE(trace.ok()) << trace.status().message();
  EXPECT_THAT(trace->rows, ElementsAre(TraceRow{0, 10, std::nullopt}, TraceRow{60, 10, 3}));
}

TEST(TraceTest, FirstRowMayStartLate) {
  StatusOr<Trace> trace = ParseTrace("time_seconds,produce_rate\n30,5", "t.csv");
  ASSERT_TRUE(trace.ok()) << trace.status().message();
  EXPECT_THAT(trace->rows, ElementsAre(TraceRow{30, 5}));
}

struct TraceErrorCase {
  std::string name;
  std::string text;
  int line;
  std::string what;
};

void PrintTo(const TraceErrorCase& c, std::ostream* os) { *os << c.name; }

class TraceErrorTest : public ::testing::TestWithParam<TraceErrorCase> {};

TEST_P(TraceErrorTest, NamesFileLineAndProblem) {
  const TraceErrorCase& c = GetParam();
  StatusOr<Trace> trace = ParseTrace(c.text, "load.csv");
  ASSERT_FALSE(trace.ok());
  const std::string message = trace.status().message();
  EXPECT_EQ(trace.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(message, StartsWith("load.csv:" + std::to_string(c.line) + ": ")) << message;
  EXPECT_THAT(message, HasSubstr(c.what)) << message;
}

constexpr std::string_view kHeader = "time_seconds,produce_rate\n";

std::string Csv(std::string_view rows) { return std::string(kHeader) + std::string(rows); }

INSTANTIATE_TEST_SUITE_P(
    Trace, TraceErrorTest,
    ::testing::Values(
        TraceErrorCase{.name = "Empty", .text = "", .line = 1, .what = "empty trace"},
        TraceErrorCase{
            .name = "OnlyBlankLines", .text = "\n  \n\r\n", .line = 1, .what = "empty trace"},
        TraceErrorCase{.name = "MissingHeader",
                       .text = "0,100\n10,200\n",
                       .line = 1,
                       .what = "expected the header \"time_seconds,produce_rate\" (optionally "
                               "\",poisoned_partition\"), got \"0,100\""},
        TraceErrorCase{.name = "WrongHeader",
                       .text = "\ntime,rate\n0,1\n",
                       .line = 2,
                       .what = "expected the header"},
        TraceErrorCase{
            .name = "HeaderOnly", .text = Csv(""), .line = 1, .what = "no rows after its header"},
        TraceErrorCase{.name = "NonNumericTime",
                       .text = Csv("0,10\nnoon,20\n"),
                       .line = 3,
                       .what = "time_seconds: must be a whole number, got \"noon\""},
        TraceErrorCase{.name = "NonNumericRate",
                       .text = Csv("0,lots\n"),
                       .line = 2,
                       .what = "produce_rate: must be a whole number, got \"lots\""},
        TraceErrorCase{.name = "FractionalRate",
                       .text = Csv("0,1.5\n"),
                       .line = 2,
                       .what = "produce_rate: must be a whole number"},
        TraceErrorCase{.name = "NegativeRate",
                       .text = Csv("0,10\n5,-3\n"),
                       .line = 3,
                       .what = "produce_rate: must not be negative, got \"-3\""},
        TraceErrorCase{.name = "NegativeTime",
                       .text = Csv("-5,10\n"),
                       .line = 2,
                       .what = "time_seconds: must not be negative"},
        TraceErrorCase{.name = "EmptyValue",
                       .text = Csv("0,\n"),
                       .line = 2,
                       .what = "produce_rate: missing value"},
        TraceErrorCase{.name = "TooManyColumns",
                       .text = Csv("0,1,2\n"),
                       .line = 2,
                       .what = "expected 2 columns (time_seconds,produce_rate), got 3"},
        TraceErrorCase{.name = "TooFewColumns",
                       .text = Csv("0,1\n\n7\n"),
                       .line = 4,
                       .what = "expected 2 columns"},
        TraceErrorCase{.name = "TimesNotIncreasing",
                       .text = Csv("0,1\n60,2\n30,3\n"),
                       .line = 4,
                       .what = "time_seconds 30 is not after the previous row's 60"},
        TraceErrorCase{.name = "TimesRepeated",
                       .text = Csv("0,1\n0,2\n"),
                       .line = 3,
                       .what = "times must strictly increase"},
        TraceErrorCase{.name = "TimeBeyondAWeek",
                       .text = Csv("604801,1\n"),
                       .line = 2,
                       .what = "time_seconds: must be at most 604800"},
        TraceErrorCase{.name = "PoisonColumnMissing",
                       .text = "time_seconds,produce_rate,poisoned_partition\n0,1\n",
                       .line = 2,
                       .what = "expected 3 columns "
                               "(time_seconds,produce_rate,poisoned_partition), got 2"},
        TraceErrorCase{.name = "PoisonNotAPartition",
                       .text = "time_seconds,produce_rate,poisoned_partition\n0,1,x\n",
                       .line = 2,
                       .what = "poisoned_partition: must be a whole number, got \"x\""},
        TraceErrorCase{.name = "PoisonBeyondMaxPartitions",
                       .text = "time_seconds,produce_rate,poisoned_partition\n0,1,4096\n",
                       .line = 2,
                       .what = "poisoned_partition: must be at most 4095"},
        TraceErrorCase{.name = "RateOverflow",
                       .text = Csv("0,99999999999999999999\n"),
                       .line = 2,
                       .what = "produce_rate: must be at most 1000000000000"}),
    [](const auto& info) { return info.param.name; });

TEST(TraceFileTest, MissingFileNamesIt) {
  StatusOr<Trace> trace = LoadTraceFile("/nonexistent/load.csv");
  ASSERT_FALSE(trace.ok());
  EXPECT_EQ(trace.status().message(),
            "/nonexistent/load.csv: cannot read: No such file or directory");
}

constexpr const char* kBundledTraces[] = {"daily-wave.csv", "burst.csv",        "step.csv",
                                          "sawtooth.csv",   "noisy-steady.csv", "poison.csv"};

TEST(TraceFileTest, BundledTracesParse) {
  for (const char* name : kBundledTraces) {
    StatusOr<Trace> trace =
        LoadTraceFile(std::string(GROUPSCALER_SOURCE_DIR) + "/bench/traces/" + name);
    ASSERT_TRUE(trace.ok()) << trace.status().message();
    EXPECT_GE(trace->rows.size(), 2u) << name;
    EXPECT_LE(trace->rows.size(), 1000u) << name;
    EXPECT_EQ(trace->rows.front().time_seconds, 0) << name;
    const bool poisons = std::any_of(trace->rows.begin(), trace->rows.end(),
                                     [](const TraceRow& r) { return r.poisoned_partition; });
    EXPECT_EQ(poisons, std::string(name) == "poison.csv") << name;
  }
}

// ---------------------------------------------------------------------------
// The model, driven by a scripted decision function so that every number can
// be computed by hand.

// Answers each poll with the next of `desired` (the last one repeated), and
// records what it was shown.
struct Script {
  std::vector<int32_t> desired;
  int32_t ceiling = 0;
  std::vector<policy::Observation> observations;

  DecideFunction Function() {
    return [this](const policy::Observation& observation, policy::History history,
                  const policy::Spec&, Timestamp) {
      size_t poll = observations.size();
      observations.push_back(observation);
      policy::Decision decision;
      decision.current = observation.current_replicas;
      decision.desired = desired.empty() ? 0 : desired[std::min(poll, desired.size() - 1)];
      decision.ceiling = ceiling;
      decision.reason = policy::Reason::kSteady;
      decision.message = "scripted";
      decision.history = std::move(history);
      return decision;
    };
  }
};

Trace Constant(int64_t rate) { return Trace{.rows = {{.time_seconds = 0, .produce_rate = rate}}}; }

policy::Spec SpecWithThreshold(int64_t lag_threshold) {
  policy::Spec spec;
  spec.lag_threshold = lag_threshold;
  return spec;
}

std::vector<int64_t> EndOffsets(const policy::Observation& observation) {
  std::vector<int64_t> ends;
  for (const auto& p : observation.partitions) ends.push_back(p.log_end_offset);
  return ends;
}

std::vector<int64_t> Lags(const policy::Observation& observation) {
  std::vector<int64_t> lags;
  for (const auto& p : observation.partitions)
    lags.push_back(p.log_end_offset - *p.committed_offset);
  return lags;
}

TEST(ModelTest, HandComputedSummary) {
  // 2 partitions, 150 msgs/s (75 each); one replica owning both consumes 100/s
  // (50 from each), so lag grows 50 per second: 50, 100, ..., 500.
  Script script{.desired = {1}, .ceiling = 2};
  ModelConfig config{.partitions = 2,
                     .replica_rate = 100,
                     .startup_seconds = 0,
                     .poll_interval_seconds = 5,
                     .duration_seconds = 10};
  StatusOr<Result> result =
      Simulate(Constant(150), config, SpecWithThreshold(50), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Summary& s = result->summary;
  EXPECT_EQ(s.duration_seconds, 10);
  EXPECT_EQ(s.polls, 2);
  EXPECT_EQ(s.messages_produced, 1500);
  EXPECT_EQ(s.messages_consumed, 1000);
  EXPECT_EQ(s.final_lag, 500);
  EXPECT_EQ(s.max_lag, 500);
  EXPECT_EQ(s.replica_seconds, 10);
  EXPECT_EQ(s.lag_seconds_above_target, 9);  // every second but the first: lag > 50 x 1
  EXPECT_EQ(s.direction_changes, 0);
  EXPECT_EQ(s.seconds_at_ceiling, 0);  // 1 replica, ceiling 2
  EXPECT_EQ(s.max_replicas, 1);
  EXPECT_EQ(s.min_replicas, 1);
  EXPECT_EQ(s.scale_ups, 0);
  EXPECT_EQ(s.scale_downs, 0);
  ASSERT_EQ(result->timeline.size(), 2u);
  EXPECT_EQ(result->timeline[0].time_seconds, 0);
  EXPECT_EQ(result->timeline[0].lag, 0);
  EXPECT_EQ(result->timeline[1].time_seconds, 5);
  EXPECT_EQ(result->timeline[1].lag, 250);
  EXPECT_EQ(result->timeline[1].produce_rate, 150);
  EXPECT_EQ(result->timeline[1].replicas, 1);
  EXPECT_EQ(result->timeline[1].desired, 1);
  EXPECT_EQ(result->timeline[1].ceiling, 2);
  EXPECT_EQ(result->timeline[1].message, "scripted");
  EXPECT_THAT(Lags(script.observations[1]), ElementsAre(125, 125));
}

TEST(ModelTest, RemaindersRotateSoNoMessageIsLost) {
  // 10 msgs/s over 4 partitions: 2 each plus 2 extra, given to p0, p1 in the
  // first second and p2, p3 in the second.
  Script script{.desired = {0}};
  ModelConfig config{.partitions = 4,
                     .replica_rate = 1,
                     .poll_interval_seconds = 1,
                     .duration_seconds = 3,
                     .initial_replicas = 0};
  StatusOr<Result> result =
      Simulate(Constant(10), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(script.observations.size(), 3u);
  EXPECT_THAT(EndOffsets(script.observations[1]), ElementsAre(3, 3, 2, 2));
  EXPECT_THAT(EndOffsets(script.observations[2]), ElementsAre(5, 5, 5, 5));
  EXPECT_EQ(result->summary.messages_produced, 30);
  EXPECT_EQ(result->summary.final_lag, 30);
  EXPECT_EQ(result->summary.messages_consumed, 0);
}

struct ConservationCase {
  std::string name;
  int32_t partitions;
  int64_t rate;
  int32_t replicas;
  int64_t replica_rate;
};

void PrintTo(const ConservationCase& c, std::ostream* os) { *os << c.name; }

class ConservationTest : public ::testing::TestWithParam<ConservationCase> {};

TEST_P(ConservationTest, ProducedIsConsumedPlusLag) {
  const ConservationCase& c = GetParam();
  Script script{.desired = {c.replicas}};
  ModelConfig config{.partitions = c.partitions,
                     .replica_rate = c.replica_rate,
                     .startup_seconds = 3,
                     .poll_interval_seconds = 7,
                     .duration_seconds = 101,
                     .initial_replicas = 1};
  StatusOr<Result> result =
      Simulate(Constant(c.rate), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Summary& s = result->summary;
  EXPECT_EQ(s.messages_produced, c.rate * 101);
  EXPECT_EQ(s.messages_produced, s.messages_consumed + s.final_lag);
  EXPECT_EQ(Lags(script.observations.back()).size(), static_cast<size_t>(c.partitions));
}

INSTANTIATE_TEST_SUITE_P(Model, ConservationTest,
                         ::testing::Values(ConservationCase{.name = "RemainderEverySecond",
                                                            .partitions = 7,
                                                            .rate = 1003,
                                                            .replicas = 3,
                                                            .replica_rate = 200},
                                           ConservationCase{.name = "FewerMessagesThanPartitions",
                                                            .partitions = 12,
                                                            .rate = 5,
                                                            .replicas = 2,
                                                            .replica_rate = 1},
                                           ConservationCase{.name = "AmpleCapacity",
                                                            .partitions = 5,
                                                            .rate = 999,
                                                            .replicas = 5,
                                                            .replica_rate = 100000},
                                           ConservationCase{.name = "MoreReplicasThanPartitions",
                                                            .partitions = 3,
                                                            .rate = 1000,
                                                            .replicas = 9,
                                                            .replica_rate = 100},
                                           ConservationCase{.name = "NoReplicas",
                                                            .partitions = 4,
                                                            .rate = 17,
                                                            .replicas = 0,
                                                            .replica_rate = 100}),
                         [](const auto& info) { return info.param.name; });

struct CapacityCase {
  std::string name;
  int32_t partitions;
  int64_t rate;
  int32_t replicas;
  int64_t replica_rate;
  int64_t consumed_per_second;  // computed by hand
};

void PrintTo(const CapacityCase& c, std::ostream* os) { *os << c.name; }

class CapacityTest : public ::testing::TestWithParam<CapacityCase> {};

TEST_P(CapacityTest, ConsumesAtMostWhatOwnersCan) {
  const CapacityCase& c = GetParam();
  Script script{.desired = {c.replicas}};
  ModelConfig config{.partitions = c.partitions,
                     .replica_rate = c.replica_rate,
                     .startup_seconds = 0,
                     .poll_interval_seconds = 100,
                     .duration_seconds = 10,
                     .initial_replicas = c.replicas};
  StatusOr<Result> result =
      Simulate(Constant(c.rate), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.messages_consumed, 10 * c.consumed_per_second);
}

INSTANTIATE_TEST_SUITE_P(
    Model, CapacityTest,
    ::testing::Values(
        // One replica: its rate, however many partitions have messages.
        CapacityCase{.name = "OneReplicaAtItsRate",
                     .partitions = 4,
                     .rate = 500,
                     .replicas = 1,
                     .replica_rate = 100,
                     .consumed_per_second = 100},
        // 8 replicas, 4 partitions: 4 own one each, 4 are idle.
        CapacityCase{.name = "IdleReplicasBeyondPartitions",
                     .partitions = 4,
                     .rate = 1000,
                     .replicas = 8,
                     .replica_rate = 100,
                     .consumed_per_second = 400},
        // Range: replica 0 owns p0 and p1 (100/s each) and can take 150;
        // replicas 1 and 2 own p2, p3 and keep up: 150 + 100 + 100.
        CapacityCase{.name = "OnlyOwnPartitions",
                     .partitions = 4,
                     .rate = 400,
                     .replicas = 3,
                     .replica_rate = 150,
                     .consumed_per_second = 350},
        // Enough everywhere: all that is produced.
        CapacityCase{.name = "KeepsUp",
                     .partitions = 6,
                     .rate = 600,
                     .replicas = 3,
                     .replica_rate = 200,
                     .consumed_per_second = 600},
        // The policy may ask for absurd counts; nothing is allocated per replica.
        CapacityCase{.name = "HugeReplicaCount",
                     .partitions = 2,
                     .rate = 100,
                     .replicas = 2000000000,
                     .replica_rate = 10,
                     .consumed_per_second = 20}),
    [](const auto& info) { return info.param.name; });

TEST(ModelTest, ReplicaSharesItsRateFairlyAmongItsPartitions) {
  // One replica (1 msg/s) owning two partitions that each get 1 msg/s: it
  // must not drain one and starve the other, so after 10 s their lags differ
  // by at most the one message an integer split cannot share.
  Script script{.desired = {1}};
  ModelConfig config{.partitions = 2,
                     .replica_rate = 1,
                     .startup_seconds = 0,
                     .poll_interval_seconds = 10,
                     .duration_seconds = 11,
                     .initial_replicas = 1};
  StatusOr<Result> result = Simulate(Constant(2), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  std::vector<int64_t> lags = Lags(script.observations[1]);
  ASSERT_EQ(lags.size(), 2u);
  EXPECT_EQ(lags[0] + lags[1], 10);
  EXPECT_LE(std::max(lags[0], lags[1]) - std::min(lags[0], lags[1]), 1);
}

TEST(ModelTest, CapacityUnusedByOnePartitionGoesToTheOther) {
  // 3 msgs/s over 2 partitions rotates 2+1, 1+2, ...; one replica of rate 3
  // keeps up with both: no lag ever, although an equal split (1.5 each) would
  // leave messages behind.
  Script script{.desired = {1}};
  ModelConfig config{.partitions = 2,
                     .replica_rate = 3,
                     .startup_seconds = 0,
                     .poll_interval_seconds = 1,
                     .duration_seconds = 20,
                     .initial_replicas = 1};
  StatusOr<Result> result = Simulate(Constant(3), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.max_lag, 0);
  EXPECT_EQ(result->summary.messages_consumed, 60);
}

TEST(ModelTest, NewReplicasConsumeOnlyAfterStartup) {
  // No replica at first; the first poll asks for one, which starts consuming
  // at second 5. Lag at the end of seconds 0..4: 100..500; at second 5 the
  // replica (ample rate) drains it.
  Script script{.desired = {1}, .ceiling = 4};
  ModelConfig config{.partitions = 4,
                     .replica_rate = 1'000'000,
                     .startup_seconds = 5,
                     .poll_interval_seconds = 1000,
                     .duration_seconds = 10,
                     .initial_replicas = 0,
                     .rebalance_pause_seconds = 0};
  StatusOr<Result> result =
      Simulate(Constant(100), config, SpecWithThreshold(100), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Summary& s = result->summary;
  EXPECT_EQ(s.max_lag, 500);
  EXPECT_EQ(s.final_lag, 0);
  EXPECT_EQ(s.messages_consumed, 1000);
  EXPECT_EQ(s.replica_seconds, 10);          // a starting replica costs from the start
  EXPECT_EQ(s.lag_seconds_above_target, 4);  // lag 200..500 > 100 x 1
  EXPECT_EQ(s.scale_ups, 1);
  EXPECT_EQ(s.min_replicas, 1);
}

TEST(ModelTest, ObservationCountsStartingReplicasButNotAsMembers) {
  Script script{.desired = {3}};
  ModelConfig config{.partitions = 6,
                     .replica_rate = 10,
                     .startup_seconds = 4,
                     .poll_interval_seconds = 2,
                     .duration_seconds = 8,
                     .initial_replicas = 1,
                     .rebalance_pause_seconds = 0};
  StatusOr<Result> result = Simulate(Constant(0), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(script.observations.size(), 4u);  // t = 0, 2, 4, 6
  std::vector<std::pair<int32_t, int32_t>> seen;
  for (const auto& o : script.observations) seen.emplace_back(o.current_replicas, *o.members);
  // Added at 0, running from 4 on.
  EXPECT_THAT(seen,
              ElementsAre(std::pair{1, 1}, std::pair{3, 1}, std::pair{3, 1}, std::pair{3, 3}));
  const policy::Observation& o = script.observations[0];
  ASSERT_EQ(o.partitions.size(), 6u);
  EXPECT_EQ(o.partitions[5].topic, "events");
  EXPECT_EQ(o.partitions[5].partition, 5);
  EXPECT_EQ(o.partitions[5].log_start_offset, 0);
  EXPECT_EQ(o.partitions[5].committed_offset, 0);
  EXPECT_FALSE(o.failed);
}

TEST(ModelTest, RemovesNewestFirstAndImmediately) {
  // 2 running; +2 starting (long startup); then down to 3 removes one of the
  // starting ones; down to 1 removes the other starting one and one running.
  Script script{.desired = {4, 3, 1}};
  ModelConfig config{.partitions = 8,
                     .replica_rate = 10,
                     .startup_seconds = 100,
                     .poll_interval_seconds = 10,
                     .duration_seconds = 31,
                     .initial_replicas = 2};
  StatusOr<Result> result = Simulate(Constant(0), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  std::vector<std::pair<int32_t, int32_t>> seen;
  for (const auto& o : script.observations) seen.emplace_back(o.current_replicas, *o.members);
  EXPECT_THAT(seen,
              ElementsAre(std::pair{2, 2}, std::pair{4, 2}, std::pair{3, 2}, std::pair{1, 1}));
  EXPECT_EQ(result->summary.replica_seconds, 10 * 4 + 10 * 3 + 11 * 1);
  EXPECT_EQ(result->summary.min_replicas, 1);
  EXPECT_EQ(result->summary.max_replicas, 4);
}

TEST(ModelTest, CountsDirectionChangesAndScaleEvents) {
  // 1 -> 3 (up), 3, 2 (down: change 1), 4 (up: 2), 4, 1 (down: 3).
  Script script{.desired = {1, 3, 3, 2, 4, 4, 1}, .ceiling = 4};
  ModelConfig config{.partitions = 4,
                     .replica_rate = 10,
                     .startup_seconds = 0,
                     .poll_interval_seconds = 1,
                     .duration_seconds = 7,
                     .initial_replicas = 1};
  StatusOr<Result> result = Simulate(Constant(0), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Summary& s = result->summary;
  EXPECT_EQ(s.direction_changes, 3);
  EXPECT_EQ(s.scale_ups, 2);
  EXPECT_EQ(s.scale_downs, 2);
  EXPECT_EQ(s.seconds_at_ceiling, 2);  // the two seconds at 4
  EXPECT_EQ(s.replica_seconds, 1 + 3 + 3 + 2 + 4 + 4 + 1);
  ASSERT_EQ(result->timeline.size(), 7u);
  EXPECT_EQ(result->timeline[3].replicas, 3);
  EXPECT_EQ(result->timeline[3].desired, 2);
}

TEST(ModelTest, AnyLagIsAboveTargetWithoutReplicas) {
  // lagThreshold x 0 replicas = 0: every second with lag counts, and a group
  // of zero replicas is never "at the ceiling".
  Script script{.desired = {0}, .ceiling = 3};
  ModelConfig config{.partitions = 3,
                     .replica_rate = 10,
                     .poll_interval_seconds = 2,
                     .duration_seconds = 5,
                     .initial_replicas = 0};
  StatusOr<Result> result =
      Simulate(Constant(1), config, SpecWithThreshold(1000), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.lag_seconds_above_target, 5);
  EXPECT_EQ(result->summary.seconds_at_ceiling, 0);
  EXPECT_EQ(result->summary.replica_seconds, 0);
  EXPECT_EQ(result->summary.max_replicas, 0);
  EXPECT_EQ(result->summary.final_lag, 5);
}

TEST(ModelTest, NoLoadBeforeTheFirstRow) {
  Script script{.desired = {0}};
  Trace trace{
      .rows = {{.time_seconds = 5, .produce_rate = 10}, {.time_seconds = 8, .produce_rate = 1}}};
  ModelConfig config{.partitions = 1, .replica_rate = 1, .initial_replicas = 0};
  StatusOr<Result> result = Simulate(trace, config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  // Default run length: last row (8) + 60 s.
  EXPECT_EQ(result->summary.duration_seconds, 68);
  EXPECT_EQ(result->summary.messages_produced, 3 * 10 + 60 * 1);
}

TEST(ModelTest, RunLengthDefaultsToLastRowPlusTail) {
  Trace trace{
      .rows = {{.time_seconds = 0, .produce_rate = 1}, {.time_seconds = 300, .produce_rate = 2}}};
  EXPECT_EQ(RunLength(trace, ModelConfig{}), 300 + kDefaultTailSeconds);
  EXPECT_EQ(RunLength(trace, ModelConfig{.duration_seconds = 42}), 42);
}

TEST(ModelTest, RebalancePausesTheWholeGroupWhenNewReplicasJoin) {
  // 1 replica; a second one asked for at 0 starts at 2 and joins: the group
  // consumes nothing during seconds 2, 3, 4, so 10/s piles up to 30 and the
  // message of second 2 is 3 s old at the end of second 4. The new replica
  // is a member once the rebalance is over, at 5.
  Script script{.desired = {2}, .ceiling = 2};
  ModelConfig config{.partitions = 2,
                     .replica_rate = 1000,
                     .startup_seconds = 2,
                     .poll_interval_seconds = 1,
                     .duration_seconds = 7,
                     .initial_replicas = 1,
                     .rebalance_pause_seconds = 3,
                     .lag_seconds_target = 2};
  StatusOr<Result> result =
      Simulate(Constant(10), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Summary& s = result->summary;
  EXPECT_EQ(s.rebalances, 1);
  EXPECT_EQ(s.max_lag, 30);
  EXPECT_EQ(s.final_lag, 0);
  EXPECT_EQ(s.max_lag_seconds, 3);
  EXPECT_EQ(s.seconds_above_target, 1);  // second 4 only: 3 s > 2 s
  std::vector<int32_t> members;
  for (const auto& o : script.observations) members.push_back(*o.members);
  EXPECT_THAT(members, ElementsAre(1, 1, 1, 1, 1, 2, 2));
  std::vector<int64_t> time_lags;
  for (const TimelineEntry& e : result->timeline) time_lags.push_back(e.time_lag_seconds);
  EXPECT_THAT(time_lags, ElementsAre(0, 0, 0, 1, 2, 3, 0));
}

TEST(ModelTest, RemovingRunningReplicasPausesAndCancellingStartsDoesNot) {
  // 2 running; +1 starting at 0 (long start-up); at 10 back to 2 cancels the
  // starting one: no membership change. At 20 down to 1: a rebalance that
  // stops the group for seconds 20..23, so lag reaches 4 x 10.
  Script script{.desired = {3, 2, 1}};
  ModelConfig config{.partitions = 2,
                     .replica_rate = 1000,
                     .startup_seconds = 100,
                     .poll_interval_seconds = 10,
                     .duration_seconds = 30,
                     .initial_replicas = 2,
                     .rebalance_pause_seconds = 4};
  StatusOr<Result> result =
      Simulate(Constant(10), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.rebalances, 1);
  EXPECT_EQ(result->summary.max_lag, 40);
  EXPECT_EQ(result->summary.final_lag, 0);
  EXPECT_EQ(result->summary.max_lag_seconds, 4);
}

TEST(ModelTest, TimeLagIsTheAgeOfTheOldestUnconsumedMessage) {
  // Nobody consumes: at the end of second t the first message is t + 1 s old.
  Script script{.desired = {0}};
  ModelConfig config{.partitions = 3,
                     .replica_rate = 1,
                     .poll_interval_seconds = 1,
                     .duration_seconds = 10,
                     .initial_replicas = 0,
                     .lag_seconds_target = 4};
  StatusOr<Result> result = Simulate(Constant(5), config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.max_lag_seconds, 10);
  EXPECT_EQ(result->summary.seconds_above_target, 6);  // seconds 4..9: 5..10 s old
  EXPECT_EQ(result->summary.rebalances, 0);
}

TEST(ModelTest, PoisonedPartitionIsNotConsumedAndLeftOutOfTimeLag) {
  // Partition 1 is poisoned from 5 s on: its 5 msgs/s stay (25 after 10 s)
  // while the replica keeps partition 0 empty; time lag ignores partition 1.
  Script script{.desired = {1}};
  Trace trace{.rows = {{.time_seconds = 0, .produce_rate = 10},
                       {.time_seconds = 5, .produce_rate = 10, .poisoned_partition = 1}}};
  ModelConfig config{.partitions = 2,
                     .replica_rate = 1000,
                     .poll_interval_seconds = 1,
                     .duration_seconds = 10,
                     .initial_replicas = 1};
  StatusOr<Result> result = Simulate(trace, config, SpecWithThreshold(10), script.Function());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.final_lag, 25);
  EXPECT_EQ(result->summary.max_lag_seconds, 0);
  EXPECT_THAT(Lags(script.observations.back()), ElementsAre(0, 20));
}

TEST(ModelTest, PoisonedPartitionMustExist) {
  Trace trace{.rows = {{.time_seconds = 0, .produce_rate = 10, .poisoned_partition = 2}}};
  StatusOr<Result> result = Simulate(trace, ModelConfig{.partitions = 2}, policy::Spec{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "the trace poisons partition 2 at 0 s, but the topic has 2 partitions");
}

struct ConfigErrorCase {
  std::string name;
  ModelConfig config;
  std::string what;
};

void PrintTo(const ConfigErrorCase& c, std::ostream* os) { *os << c.name; }

class ConfigErrorTest : public ::testing::TestWithParam<ConfigErrorCase> {};

TEST_P(ConfigErrorTest, IsRejected) {
  const ConfigErrorCase& c = GetParam();
  StatusOr<Result> result = Simulate(Constant(1), c.config, policy::Spec{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr(c.what));
}

INSTANTIATE_TEST_SUITE_P(
    Model, ConfigErrorTest,
    ::testing::Values(ConfigErrorCase{.name = "ZeroPartitions",
                                      .config = {.partitions = 0},
                                      .what = "partitions must be between 1 and 4096, got 0"},
                      ConfigErrorCase{.name = "TooManyPartitions",
                                      .config = {.partitions = 5000},
                                      .what = "partitions must be between"},
                      ConfigErrorCase{.name = "ZeroReplicaRate",
                                      .config = {.replica_rate = 0},
                                      .what = "replica rate must be between"},
                      ConfigErrorCase{.name = "NegativeStartup",
                                      .config = {.startup_seconds = -1},
                                      .what = "startup seconds must be between"},
                      ConfigErrorCase{.name = "ZeroPoll",
                                      .config = {.poll_interval_seconds = 0},
                                      .what = "poll interval must be between"},
                      ConfigErrorCase{.name = "ZeroDuration",
                                      .config = {.duration_seconds = 0},
                                      .what = "duration must be between"},
                      ConfigErrorCase{.name = "NegativeInitialReplicas",
                                      .config = {.initial_replicas = -2},
                                      .what = "initial replicas must be between"},
                      ConfigErrorCase{.name = "NegativeRebalancePause",
                                      .config = {.rebalance_pause_seconds = -1},
                                      .what = "rebalance pause seconds must be between"},
                      ConfigErrorCase{.name = "ZeroLagSecondsTarget",
                                      .config = {.lag_seconds_target = 0},
                                      .what = "lag seconds target must be between 1"}),
    [](const auto& info) { return info.param.name; });

TEST(ModelTest, InvalidSpecIsRejected) {
  policy::Spec spec;
  spec.lag_threshold = 0;
  StatusOr<Result> result = Simulate(Constant(1), ModelConfig{}, spec);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("spec.lagThreshold"));
}

// ---------------------------------------------------------------------------
// With the real policy.

Trace Burst() {
  return Trace{.rows = {{.time_seconds = 0, .produce_rate = 800},
                        {.time_seconds = 300, .produce_rate = 9000},
                        {.time_seconds = 420, .produce_rate = 800},
                        {.time_seconds = 900, .produce_rate = 3000},
                        {.time_seconds = 1200, .produce_rate = 500}}};
}

policy::Spec RealSpec() {
  policy::Spec spec;
  spec.max_replicas = 12;
  spec.lag_threshold = 1000;
  return spec;
}

TEST(ModelWithPolicyTest, IsDeterministic) {
  ModelConfig config{.partitions = 12, .replica_rate = 500};
  StatusOr<Result> first = Simulate(Burst(), config, RealSpec());
  StatusOr<Result> second = Simulate(Burst(), config, RealSpec());
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->summary, second->summary);
  ASSERT_EQ(first->timeline.size(), second->timeline.size());
  for (size_t i = 0; i < first->timeline.size(); ++i) {
    EXPECT_EQ(first->timeline[i].desired, second->timeline[i].desired) << i;
    EXPECT_EQ(first->timeline[i].lag, second->timeline[i].lag) << i;
    EXPECT_EQ(first->timeline[i].message, second->timeline[i].message) << i;
  }
}

TEST(ModelWithPolicyTest, ScalesUpUnderLoadWithinTheCeilingAndDrains) {
  ModelConfig config{.partitions = 12, .replica_rate = 500, .duration_seconds = 3000};
  StatusOr<Result> result = Simulate(Burst(), config, RealSpec());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const Summary& s = result->summary;
  EXPECT_EQ(s.duration_seconds, 3000);
  EXPECT_EQ(s.polls, 300);
  ASSERT_EQ(result->timeline.size(), 300u);
  EXPECT_EQ(s.messages_produced, s.messages_consumed + s.final_lag);
  // The burst (9000/s) is beyond 12 x 500: the group reaches the ceiling.
  EXPECT_EQ(s.max_replicas, 12);
  EXPECT_GT(s.seconds_at_ceiling, 0);
  EXPECT_GT(s.scale_ups, 0);
  EXPECT_GT(s.lag_seconds_above_target, 0);
  EXPECT_GT(s.max_lag, 120 * (9000 - 6000) / 2);
  // 500/s at the end is one replica's work: the backlog is gone.
  EXPECT_EQ(s.final_lag, 0);
  for (const TimelineEntry& e : result->timeline) {
    EXPECT_LE(e.desired, 12) << e.time_seconds;
    EXPECT_GE(e.desired, 1) << e.time_seconds;
    EXPECT_EQ(e.ceiling, 12) << e.time_seconds;
    EXPECT_FALSE(e.message.empty()) << e.time_seconds;
  }
}

TEST(ModelWithPolicyTest, BundledTracesRun) {
  for (const char* name : kBundledTraces) {
    StatusOr<Trace> trace =
        LoadTraceFile(std::string(GROUPSCALER_SOURCE_DIR) + "/bench/traces/" + name);
    ASSERT_TRUE(trace.ok()) << trace.status().message();
    ModelConfig config{.partitions = 12, .replica_rate = 500};
    StatusOr<Result> result = Simulate(*trace, config, RealSpec());
    ASSERT_TRUE(result.ok()) << result.status().message();
    const Summary& s = result->summary;
    EXPECT_EQ(s.duration_seconds, trace->rows.back().time_seconds + kDefaultTailSeconds) << name;
    EXPECT_EQ(s.messages_produced, s.messages_consumed + s.final_lag) << name;
    EXPECT_GT(s.scale_ups, 0) << name;
    EXPECT_LE(s.max_replicas, 12) << name;
  }
}

// ---------------------------------------------------------------------------
// KEDA's Kafka scaler behind an HPA.

// `partitions` partitions with `lag` spread over them (the remainder on the
// first), every one committed.
policy::Observation LagObservation(int32_t partitions, int64_t lag, int32_t replicas) {
  policy::Observation o;
  for (int32_t p = 0; p < partitions; ++p) {
    const int64_t share = lag / partitions + (p < lag % partitions ? 1 : 0);
    o.partitions.push_back({.topic = "t",
                            .partition = p,
                            .log_end_offset = 1'000'000 + share,
                            .committed_offset = 1'000'000});
  }
  o.current_replicas = replicas;
  o.members = replicas;
  return o;
}

Timestamp At(int64_t seconds) { return Timestamp{} + std::chrono::seconds(seconds); }

KedaConfig Keda(int64_t lag_threshold) {
  return KedaConfig{.lag_threshold = lag_threshold, .min_replica_count = 1};
}

struct KedaCase {
  std::string name;
  int32_t partitions;
  int64_t lag;
  int32_t replicas;
  int32_t desired;
  policy::Reason reason;
};

void PrintTo(const KedaCase& c, std::ostream* os) { *os << c.name; }

class KedaFirstSyncTest : public ::testing::TestWithParam<KedaCase> {};

TEST_P(KedaFirstSyncTest, Decides) {
  const KedaCase& c = GetParam();
  KedaScaler keda(Keda(1000));
  policy::Decision d = keda.Sync(LagObservation(c.partitions, c.lag, c.replicas), At(0));
  EXPECT_EQ(d.desired, c.desired) << d.message;
  EXPECT_EQ(d.reason, c.reason) << d.message;
}

INSTANTIATE_TEST_SUITE_P(Keda, KedaFirstSyncTest,
                         ::testing::Values(
                             // 4200 / (1000 x 4) = 1.05: within the 10% tolerance.
                             KedaCase{.name = "WithinTolerance",
                                      .partitions = 12,
                                      .lag = 4200,
                                      .replicas = 4,
                                      .desired = 4,
                                      .reason = policy::Reason::kSteady},
                             // 4500 / 4000 = 1.125: ceil(4.5) = 5.
                             KedaCase{.name = "BeyondTolerance",
                                      .partitions = 12,
                                      .lag = 4500,
                                      .replicas = 4,
                                      .desired = 5,
                                      .reason = policy::Reason::kScaleUp},
                             // ceil(9.5) = 10 but one 15 s period allows max(1 + 4, 1 x 2) = 5.
                             KedaCase{.name = "ScaleUpLimitedToFourPodsOrDouble",
                                      .partitions = 12,
                                      .lag = 9500,
                                      .replicas = 1,
                                      .desired = 5,
                                      .reason = policy::Reason::kScaleUpLimited},
                             // From 8, doubling (16) beats +4; the metric is capped at 12 x 1000.
                             KedaCase{.name = "CappedAtPartitions",
                                      .partitions = 12,
                                      .lag = 1'000'000,
                                      .replicas = 8,
                                      .desired = 12,
                                      .reason = policy::Reason::kScaleUp},
                             // The replicas the first sync finds are in the window (the
                             // HPA's recordInitialRecommendation): held.
                             KedaCase{.name = "FirstScaleDownHeld",
                                      .partitions = 12,
                                      .lag = 0,
                                      .replicas = 6,
                                      .desired = 6,
                                      .reason = policy::Reason::kScaleDownStabilized}),
                         [](const auto& info) { return info.param.name; });

TEST(KedaTest, ScaleUpLimitCountsFromThePeriodStart) {
  KedaScaler keda(Keda(1000));
  EXPECT_EQ(keda.Sync(LagObservation(24, 20000, 1), At(0)).desired, 5);
  // 15 s later the +4 of second 0 is out of the period: 5 -> max(9, 10).
  EXPECT_EQ(keda.Sync(LagObservation(24, 20000, 5), At(15)).desired, 10);
  // 5 s after that the +5 of second 15 is in it: the period started at 5.
  EXPECT_EQ(keda.Sync(LagObservation(24, 20000, 10), At(20)).desired, 10);
}

TEST(KedaTest, ScaleDownWaitsForTheStabilizationWindow) {
  KedaScaler keda(Keda(1000));
  EXPECT_EQ(keda.Sync(LagObservation(12, 10000, 10), At(0)).desired, 10);
  for (int64_t t = 15; t < 300; t += 15) {
    policy::Decision d = keda.Sync(LagObservation(12, 0, 10), At(t));
    ASSERT_EQ(d.desired, 10) << t;
    EXPECT_EQ(d.reason, policy::Reason::kScaleDownStabilized) << t;
  }
  // The recommendation of second 0 is exactly 300 s old: out of the window.
  EXPECT_EQ(keda.Sync(LagObservation(12, 0, 10), At(300)).desired, 1);
}

TEST(KedaTest, PartitionWithoutCommitCountsOneUnderLatest) {
  policy::Observation o = LagObservation(2, 0, 1);
  o.partitions[1].committed_offset.reset();
  KedaScaler keda(Keda(1));
  policy::Decision d = keda.Sync(o, At(0));
  EXPECT_EQ(d.total_lag, 1);
  EXPECT_EQ(d.desired, 1);
}

TEST(KedaTest, ConfigFromSpecKeepsTheUsersSettings) {
  policy::Spec spec = RealSpec();
  spec.min_replicas = 2;
  spec.activation_lag_threshold = 7;
  KedaConfig config = KedaConfigFromSpec(spec);
  EXPECT_EQ(config.lag_threshold, 1000);
  EXPECT_EQ(config.min_replica_count, 2);
  EXPECT_EQ(config.max_replica_count, 12);
  EXPECT_EQ(config.activation_lag_threshold, 7);
  EXPECT_EQ(config.polling_interval_seconds, 30);
  EXPECT_DOUBLE_EQ(config.tolerance, 0.1);
}

TEST(KedaTest, RunsInTheModelWithinTheCeiling) {
  KedaScaler keda(KedaConfigFromSpec(RealSpec()));
  ModelConfig config{.partitions = 12, .replica_rate = 500, .poll_interval_seconds = 15};
  StatusOr<Result> result = Simulate(Burst(), config, RealSpec(), keda.AsDecideFunction());
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->summary.max_replicas, 12);
  EXPECT_GT(result->summary.rebalances, 0);
  EXPECT_EQ(result->summary.final_lag, 0);
}

// ---------------------------------------------------------------------------
// The oracle.

TEST(OracleTest, SteadyLoadGetsTheSmallestBalancedCountThatKeepsUp) {
  // 2400/s over 12 partitions at 500/s per replica: 4 replicas (3 partitions
  // each) serve 2000/s, 6 (2 each) serve 3000/s.
  ModelConfig config{.partitions = 12, .replica_rate = 500, .duration_seconds = 1200};
  StatusOr<Result> oracle = SimulateOracle(Constant(2400), config, RealSpec());
  ASSERT_TRUE(oracle.ok()) << oracle.status().message();
  EXPECT_EQ(oracle->summary.seconds_above_target, 0);
  EXPECT_EQ(oracle->summary.max_replicas, 6);
  // Mid-run (near the end the run's horizon lets it spend less).
  EXPECT_EQ(oracle->timeline[60].time_seconds, 600);
  EXPECT_EQ(oracle->timeline[60].replicas, 6);
  StatusOr<Result> lag = Simulate(Constant(2400), config, RealSpec());
  ASSERT_TRUE(lag.ok());
  EXPECT_LE(oracle->summary.replica_seconds, lag->summary.replica_seconds);
}

TEST(OracleTest, KeepsTheTargetOnTheBundledStepTrace) {
  StatusOr<Trace> trace =
      LoadTraceFile(std::string(GROUPSCALER_SOURCE_DIR) + "/bench/traces/step.csv");
  ASSERT_TRUE(trace.ok()) << trace.status().message();
  ModelConfig config{.partitions = 12, .replica_rate = 500};
  StatusOr<Result> oracle = SimulateOracle(*trace, config, RealSpec());
  ASSERT_TRUE(oracle.ok()) << oracle.status().message();
  EXPECT_EQ(oracle->summary.seconds_above_target, 0);
  EXPECT_LE(oracle->summary.max_lag_seconds, config.lag_seconds_target);
  for (const TimelineEntry& e : oracle->timeline) {
    EXPECT_THAT(e.desired, ::testing::AnyOf(1, 2, 3, 4, 6, 12)) << e.time_seconds;
  }
}

TEST(OracleTest, LoadBeyondTheCeilingGetsTheCeiling) {
  ModelConfig config{.partitions = 12, .replica_rate = 500, .duration_seconds = 600};
  StatusOr<std::vector<int32_t>> plan = PlanOracle(Constant(9000), config, RealSpec());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 60u);  // a poll every 10 s
  EXPECT_EQ(plan->front(), 12);
}

TEST(OracleTest, RefusesAPlanTooLargeToCompute) {
  policy::Spec spec;
  spec.max_replicas = 4096;
  ModelConfig config{.partitions = 4096, .replica_rate = 1, .duration_seconds = 7 * 86400};
  StatusOr<std::vector<int32_t>> plan = PlanOracle(Constant(1), config, spec);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("the oracle cannot plan this run"));
}

TEST(OracleTest, RejectsWhatSimulateRejects) {
  StatusOr<std::vector<int32_t>> plan =
      PlanOracle(Constant(1), ModelConfig{.partitions = 0}, policy::Spec{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("partitions must be between"));
}

// ---------------------------------------------------------------------------
// The plot.

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(PlotTest, OneSeriesPerRunInTheLagAndReplicaPanels) {
  ModelConfig config{.partitions = 12, .replica_rate = 500};
  StatusOr<Result> lag = Simulate(Burst(), config, RealSpec());
  StatusOr<Result> oracle = SimulateOracle(Burst(), config, RealSpec());
  ASSERT_TRUE(lag.ok() && oracle.ok());
  std::string svg = PlotSvg(Burst(), {{"lag", &*lag}, {"a<b&c", &*oracle}},
                            PlotOptions{.title = "burst & more",
                                        .duration_seconds = lag->summary.duration_seconds,
                                        .ceiling = 12,
                                        .replica_rate = 500,
                                        .lag_seconds_target = 60});
  EXPECT_THAT(svg, StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
  EXPECT_EQ(Count(svg, "class=\"series\""), 4u);
  EXPECT_EQ(Count(svg, "data-policy=\"lag\""), 2u);
  EXPECT_EQ(Count(svg, "data-policy=\"a&lt;b&amp;c\""), 2u);
  EXPECT_EQ(Count(svg, "class=\"ceiling\""), 2u);
  EXPECT_EQ(Count(svg, "class=\"target\""), 1u);
  EXPECT_EQ(Count(svg, "class=\"rate\""), 1u);
  EXPECT_THAT(svg, HasSubstr(">burst &amp; more</text>"));
  EXPECT_THAT(svg, HasSubstr("ceiling 12"));
  EXPECT_LT(svg.size(), 200'000u);
}

}  // namespace
}  // namespace groupscaler::sim
