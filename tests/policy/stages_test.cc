// The stages of Decide, one table each: every case pins a rule of its stage,
// so changing the rule fails a named case here as well as end to end.

#include "policy/stages.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policy/policy.h"

namespace groupscaler::policy::stages {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Optional;

constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
const Timestamp kT0 = Timestamp{} + std::chrono::hours(24 * 365 * 50);

Timestamp At(int64_t s) { return kT0 + std::chrono::seconds(s); }

const auto kCaseName = [](const auto& info) { return info.param.name; };

// A failing case is named, not dumped as bytes.
template <typename Case>
requires requires(const Case& c) { c.name; }
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// ---------------------------------------------------------------------------
// 1. ObserveLag.

struct ObserveCase {
  std::string name;
  std::vector<PartitionObservation> partitions;
  // The track of partition t/0 at the last observation, At(0); now is At(10).
  std::optional<PartitionTrack> previous;
  int64_t want_total = 0;
  int32_t want_with_lag = 0;
  int32_t want_unknown = 0;
  bool want_active = false;
  bool want_step = false;  // partition 0 has a step from the last observation
  int64_t want_produced = 0;
  int64_t want_consumed = 0;
  std::optional<double> want_time_lag;  // of partition 0
  size_t want_tracks = 1;
};

class ObserveLagTest : public ::testing::TestWithParam<ObserveCase> {};

TEST_P(ObserveLagTest, Observes) {
  const ObserveCase& c = GetParam();
  History history;
  if (c.previous) {
    history.partitions[{"t", 0}] = *c.previous;
    history.last_observed = At(0);
  }
  const LagObservation got = ObserveLag({.partitions = c.partitions, .current_replicas = 1},
                                        history, OffsetResetPolicy::kLatest, At(10));
  EXPECT_EQ(got.total_lag, c.want_total);
  EXPECT_EQ(got.partitions_with_lag, c.want_with_lag);
  EXPECT_EQ(got.unknown, c.want_unknown);
  EXPECT_EQ(got.any_active, c.want_active);
  ASSERT_EQ(got.steps.size(), c.partitions.size());
  EXPECT_EQ(got.steps[0].has_previous, c.want_step);
  EXPECT_EQ(got.steps[0].produced, c.want_produced);
  EXPECT_EQ(got.steps[0].consumed, c.want_consumed);
  if (c.want_time_lag) {
    EXPECT_THAT(got.partition_lags[0].time_lag_seconds,
                Optional(DoubleNear(*c.want_time_lag, 1e-9)));
  } else {
    EXPECT_EQ(got.partition_lags[0].time_lag_seconds, std::nullopt);
  }
  EXPECT_EQ(got.tracks.size(), c.want_tracks);
}

const PartitionTrack kTrackAt900{.end_points = {{.offset = 900, .time = At(0)}},
                                 .committed = 650,
                                 .lag = 250,
                                 .commit_moved_at = At(0),
                                 .progress_at = At(0)};

INSTANTIATE_TEST_SUITE_P(
    Cases, ObserveLagTest,
    ::testing::Values(
        ObserveCase{.name = "FirstSightHasLagButNoStep",
                    .partitions = {{.topic = "t", .log_end_offset = 1000, .committed_offset = 700}},
                    .want_total = 300,
                    .want_with_lag = 1},
        // The table reaches from 900 at 0 s to 1000 at 10 s: offset 950
        // appeared 5.1 s after 0 s.
        ObserveCase{.name = "SecondSightStepsFromTheLastEnd",
                    .partitions = {{.topic = "t", .log_end_offset = 1000, .committed_offset = 950}},
                    .previous = kTrackAt900,
                    .want_total = 50,
                    .want_with_lag = 1,
                    .want_step = true,
                    .want_produced = 100,
                    .want_consumed = 300,
                    .want_time_lag = 4.9},
        ObserveCase{
            .name = "NoLagIsZeroTimeLag",
            .partitions = {{.topic = "t", .log_end_offset = 1000, .committed_offset = 1000}},
            .previous = kTrackAt900,
            .want_step = true,
            .want_produced = 100,
            .want_consumed = 350,
            .want_time_lag = 0.0},
        ObserveCase{.name = "FailedPartitionIsUnknownAndKeepsItsTrack",
                    .partitions = {{.topic = "t", .log_end_offset = 1000, .failed = true},
                                   {.topic = "t", .partition = 1, .log_end_offset = 10}},
                    .previous = kTrackAt900,
                    .want_unknown = 1,
                    .want_tracks = 2},
        ObserveCase{.name = "EndMovedWithoutCommitIsActive",
                    .partitions = {{.topic = "t", .log_end_offset = 1010}},
                    .previous = PartitionTrack{.end_points = {{.offset = 1000, .time = At(0)}}},
                    .want_with_lag = 1,
                    .want_active = true,
                    .want_step = true,
                    .want_produced = 10,
                    .want_time_lag = 0.0},
        ObserveCase{
            .name = "TrackNotFromTheLastObservationIsNoStep",
            .partitions = {{.topic = "t", .log_end_offset = 1000, .committed_offset = 1000}},
            .previous = PartitionTrack{.end_points = {{.offset = 900, .time = At(-5)}},
                                       .committed = 900},
            .want_time_lag = 0.0},
        ObserveCase{.name = "ShrunkLogIsNoStep",
                    .partitions = {{.topic = "t", .log_end_offset = 800, .committed_offset = 800}},
                    .previous = kTrackAt900,
                    .want_time_lag = 0.0}),
    kCaseName);

// A known partition's track is advanced where it is: the node moves from
// the history into the result, so a controller's thousands of tracks are not
// allocated anew at every observation. An unknown one is copied and stays.
TEST(ObserveLagTracks, KnownOnesMoveUnknownOnesStay) {
  History history;
  history.partitions[{"t", 0}] = kTrackAt900;
  history.partitions[{"t", 1}] = kTrackAt900;
  history.last_observed = At(0);
  const PartitionTrack* before = &history.partitions.at({"t", 0});
  const LagObservation got =
      ObserveLag({.partitions = {{.topic = "t", .log_end_offset = 1000, .committed_offset = 950},
                                 {.topic = "t", .partition = 1, .failed = true}},
                  .current_replicas = 1},
                 history, OffsetResetPolicy::kLatest, At(10));
  ASSERT_EQ(got.tracks.size(), 2u);
  EXPECT_EQ(&got.tracks.at({"t", 0}), before);
  EXPECT_EQ(got.tracks.at({"t", 0}).end_points.size(), 2u);
  EXPECT_EQ(got.tracks.at({"t", 1}), kTrackAt900);
  EXPECT_FALSE(history.partitions.contains({"t", 0}));
  EXPECT_TRUE(history.partitions.contains({"t", 1}));
}

// ---------------------------------------------------------------------------
// 2. MarkStalls and SignalLag.

struct StallCase {
  std::string name;
  int64_t lag = 10;  // of t/0
  bool known = true;
  int64_t progress_age = 0;      // seconds since t/0 last made progress
  int64_t other_commit_age = 0;  // seconds since t/1's commit moved
  bool has_members = true;
  bool want_stalled = false;
  bool want_stopped = false;
};

class MarkStallsTest : public ::testing::TestWithParam<StallCase> {};

TEST_P(MarkStallsTest, Marks) {
  const StallCase& c = GetParam();
  const Timestamp now = At(1000);
  const std::map<TopicPartition, PartitionTrack> tracks = {
      {{"t", 0},
       {.commit_moved_at = now - std::chrono::seconds(c.progress_age),
        .progress_at = now - std::chrono::seconds(c.progress_age)}},
      {{"t", 1},
       {.commit_moved_at = now - std::chrono::seconds(c.other_commit_age), .progress_at = now}}};
  std::vector<PartitionLag> lags = {{.topic = "t", .partition = 0, .lag = c.lag, .known = c.known},
                                    {.topic = "t", .partition = 1}};
  const std::vector<PartitionLag> got =
      MarkStalls(lags, tracks, c.has_members, std::chrono::seconds(120), now);
  EXPECT_EQ(got[0].stalled, c.want_stalled);
  EXPECT_EQ(got[0].stopped, c.want_stopped);
  EXPECT_FALSE(got[1].stalled || got[1].stopped);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MarkStallsTest,
    ::testing::Values(StallCase{.name = "NoProgressForTheWindowWhileOthersCommitIsStalled",
                                .progress_age = 120,
                                .want_stalled = true},
                      StallCase{.name = "ProgressWithinTheWindowIsNeither", .progress_age = 119},
                      StallCase{.name = "NoMembersIsStopped",
                                .progress_age = 120,
                                .has_members = false,
                                .want_stopped = true},
                      StallCase{.name = "NothingCommittingIsStopped",
                                .progress_age = 120,
                                .other_commit_age = 120,
                                .want_stopped = true},
                      StallCase{.name = "NoLagIsNeither", .lag = 0, .progress_age = 500},
                      StallCase{.name = "UnknownIsNeither", .known = false, .progress_age = 500}),
    kCaseName);

struct SignalCase {
  std::string name;
  std::vector<PartitionLag> lags;
  std::vector<double> age_bounds;
  int64_t want_lag = 0;
  int64_t want_stalled_lag = 0;
  bool want_any_lag = false;
  double want_max_age_bound = 0;
  std::vector<TopicPartition> want_stalled;
  bool want_stopped = false;
  std::optional<double> want_max_time_lag;
  std::optional<double> want_total_time_lag;
};

class SignalLagTest : public ::testing::TestWithParam<SignalCase> {};

TEST_P(SignalLagTest, Sums) {
  const SignalCase& c = GetParam();
  const LagSignal got = SignalLag(c.lags, c.age_bounds);
  EXPECT_EQ(got.lag, c.want_lag);
  EXPECT_EQ(got.stalled_lag, c.want_stalled_lag);
  EXPECT_EQ(got.any_lag, c.want_any_lag);
  EXPECT_DOUBLE_EQ(got.max_age_bound, c.want_max_age_bound);
  EXPECT_EQ(got.stalled_partitions, c.want_stalled);
  EXPECT_EQ(got.group_stopped, c.want_stopped);
  EXPECT_EQ(got.max_time_lag_seconds, c.want_max_time_lag);
  EXPECT_EQ(got.total_time_lag_seconds, c.want_total_time_lag);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SignalLagTest,
    ::testing::Values(
        SignalCase{.name = "StalledLeftOutOfTheSignalButNotOfTheTimeLag",
                   .lags = {{.topic = "t", .lag = 100, .time_lag_seconds = 50, .stalled = true},
                            {.topic = "t", .partition = 1, .lag = 30, .time_lag_seconds = 5}},
                   .age_bounds = {50, 5},
                   .want_lag = 30,
                   .want_stalled_lag = 100,
                   .want_any_lag = true,
                   .want_max_age_bound = 5,
                   .want_stalled = {{"t", 0}},
                   .want_max_time_lag = 50,
                   .want_total_time_lag = 55},
        SignalCase{.name = "UnknownCountsNowhere",
                   .lags = {{.topic = "t", .lag = 999, .known = false},
                            {.topic = "t", .partition = 1, .time_lag_seconds = 0}},
                   .age_bounds = {99, 0},
                   .want_max_time_lag = 0,
                   .want_total_time_lag = 0},
        SignalCase{.name = "StoppedStaysInTheSignal",
                   .lags = {{.topic = "t", .lag = 40, .stopped = true}},
                   .age_bounds = {70},
                   .want_lag = 40,
                   .want_any_lag = true,
                   .want_max_age_bound = 70,
                   .want_stopped = true},
        SignalCase{
            .name = "LagSaturates",
            .lags = {{.topic = "t", .lag = kMax64}, {.topic = "t", .partition = 1, .lag = 5}},
            .age_bounds = {1, 2},
            .want_lag = kMax64,
            .want_any_lag = true,
            .want_max_age_bound = 2}),
    kCaseName);

// ---------------------------------------------------------------------------
// 3. MeasureRates: one topic "t", two partitions, a 60 s window, now At(0).

struct RatesCase {
  std::string name;
  std::vector<PartitionStep> steps;
  bool stalled1 = false;
  std::vector<RateSample> previous;
  double interval = 10;
  bool want_known = true;
  std::optional<double> want_produce;  // the topic's
  std::optional<double> want_consume;
  double want_signal_produce = 0;  // into partitions not stalled
  int64_t want_produced = 0;
  size_t want_samples = 1;
};

class MeasureRatesTest : public ::testing::TestWithParam<RatesCase> {};

TEST_P(MeasureRatesTest, Measures) {
  const RatesCase& c = GetParam();
  const std::vector<PartitionLag> lags = {{.topic = "t"},
                                          {.topic = "t", .partition = 1, .stalled = c.stalled1}};
  std::map<std::string, std::vector<RateSample>> previous;
  if (!c.previous.empty()) previous["t"] = c.previous;
  const TopicRates got =
      MeasureRates(c.steps, lags, previous, c.interval, std::chrono::seconds(60), At(0));
  EXPECT_EQ(got.produce_known, c.want_known);
  ASSERT_EQ(got.topic_rates.size(), 1u);
  EXPECT_EQ(got.topic_rates[0].produce_rate, c.want_produce);
  EXPECT_EQ(got.topic_rates[0].consume_rate, c.want_consume);
  EXPECT_DOUBLE_EQ(got.produce_rate, c.want_signal_produce);
  EXPECT_EQ(got.produced, c.want_produced);
  EXPECT_EQ(got.samples.at("t").size(), c.want_samples);
}

const PartitionStep kStep100{.has_previous = true, .produced = 100, .consumed = 50};
const PartitionStep kStep20{.has_previous = true, .produced = 20, .consumed = 20};

INSTANTIATE_TEST_SUITE_P(Cases, MeasureRatesTest,
                         ::testing::Values(RatesCase{.name = "FirstObservationHasNoRate",
                                                     .steps = {{}, {}},
                                                     .interval = 0,
                                                     .want_known = false,
                                                     .want_samples = 0},
                                           RatesCase{.name = "OneIntervalGivesItsRates",
                                                     .steps = {kStep100, kStep20},
                                                     .want_produce = 12,
                                                     .want_consume = 7,
                                                     .want_signal_produce = 12,
                                                     .want_produced = 120},
                                           RatesCase{.name = "StalledProduceLeftOutOfTheSignalOnly",
                                                     .steps = {kStep100, kStep20},
                                                     .stalled1 = true,
                                                     .want_produce = 12,
                                                     .want_consume = 7,
                                                     .want_signal_produce = 10,
                                                     .want_produced = 120},
                                           RatesCase{
                                               .name = "PartitionNotSeenAtBothEndsAddsNothing",
                                               .steps = {kStep100, {}},
                                               .want_produce = 10,
                                               .want_consume = 5,
                                               .want_signal_produce = 10,
                                               .want_produced = 100},
                                           RatesCase{.name = "SamplesWithinTheWindowCount",
                                                     .steps = {kStep100, kStep20},
                                                     .previous = {{.time = At(-30),
                                                                   .seconds = 10,
                                                                   .produced = 80,
                                                                   .consumed = 80,
                                                                   .produced_unstalled = 80}},
                                                     .want_produce = 10,
                                                     .want_consume = 7.5,
                                                     .want_signal_produce = 10,
                                                     .want_produced = 120,
                                                     .want_samples = 2},
                                           RatesCase{.name = "SamplesOutsideTheWindowAreDropped",
                                                     .steps = {kStep100, kStep20},
                                                     .previous = {{.time = At(-60),
                                                                   .seconds = 10,
                                                                   .produced = 800,
                                                                   .consumed = 800,
                                                                   .produced_unstalled = 800}},
                                                     .want_produce = 12,
                                                     .want_consume = 7,
                                                     .want_signal_produce = 12,
                                                     .want_produced = 120}),
                         kCaseName);

// ---------------------------------------------------------------------------
// 4. Settled, NoteSettled, WorkingReplicas, IntervalRate, UpdateRate.

struct SettledCase {
  std::string name;
  bool changed = true;  // a change at At(0)
  int32_t current = 3;
  std::optional<int32_t> members;
  std::optional<bool> stable;
  int32_t consumers_per_replica = 1;
  int64_t now = 1;
  bool want = false;
};

class SettledTest : public ::testing::TestWithParam<SettledCase> {};

TEST_P(SettledTest, Decides) {
  const SettledCase& c = GetParam();
  History history;
  if (c.changed) history.last_change = ScaleChange{.time = At(0), .from = 2, .replicas = 3};
  Spec spec;
  spec.rebalance_settle_seconds = 30;
  spec.consumers_per_replica = c.consumers_per_replica;
  const Observation observation{
      .current_replicas = c.current, .members = c.members, .group_stable = c.stable};
  EXPECT_EQ(Settled(history, observation, spec, At(c.now)), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SettledTest,
    ::testing::Values(
        SettledCase{.name = "NoChangeIsSettled", .changed = false, .want = true},
        SettledCase{.name = "ZeroReplicasIsSettled", .current = 0, .want = true},
        SettledCase{.name = "WithoutMembersWaitsTheSettleTime", .now = 29},
        SettledCase{.name = "WithoutMembersSettledAfterIt", .now = 30, .want = true},
        SettledCase{.name = "MembersEqualReplicas", .members = 3, .want = true},
        SettledCase{
            .name = "MembersEqualReplicasStable", .members = 3, .stable = true, .want = true},
        SettledCase{.name = "MembersEqualReplicasRebalancing", .members = 3, .stable = false},
        SettledCase{.name = "OneMemberPerConsumerThread",
                    .members = 6,
                    .consumers_per_replica = 2,
                    .want = true},
        SettledCase{.name = "MembersMissingHold", .members = 2, .now = 119},
        SettledCase{.name = "MembersMissingHoldAtMostFourTimesTheSettleTime",
                    .members = 2,
                    .now = 120,
                    .want = true}),
    kCaseName);

struct NoteSettledCase {
  std::string name;
  ScaleChange change;
  bool settled = true;
  int32_t current = 4;
  int64_t signal_lag = 1600;
  std::optional<Timestamp> want_settled_at;
  int64_t want_backlog = 0;
};

class NoteSettledTest : public ::testing::TestWithParam<NoteSettledCase> {};

TEST_P(NoteSettledTest, Notes) {
  const NoteSettledCase& c = GetParam();
  const std::optional<ScaleChange> got =
      NoteSettled(c.change, c.settled, c.current, c.signal_lag, At(10));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->settled_at, c.want_settled_at);
  EXPECT_EQ(got->rebalance_backlog, c.want_backlog);
}

const ScaleChange kDown6To4{.time = At(0), .from = 6, .replicas = 4, .lag = 1000};

INSTANTIATE_TEST_SUITE_P(
    Cases, NoteSettledTest,
    ::testing::Values(
        NoteSettledCase{.name = "NotSettledUnchanged", .change = kDown6To4, .settled = false},
        NoteSettledCase{.name = "ScaleDownThatTookEffectKeepsTheLagGrown",
                        .change = kDown6To4,
                        .want_settled_at = At(10),
                        .want_backlog = 600},
        NoteSettledCase{.name = "ScaleDownNotYetTakenEffectNoBacklog",
                        .change = kDown6To4,
                        .current = 6,
                        .want_settled_at = At(10)},
        NoteSettledCase{.name = "LagShrankNoBacklog",
                        .change = kDown6To4,
                        .signal_lag = 500,
                        .want_settled_at = At(10)},
        NoteSettledCase{.name = "ScaleUpNoBacklog",
                        .change = {.time = At(0), .from = 2, .replicas = 4, .lag = 1000},
                        .want_settled_at = At(10)},
        NoteSettledCase{.name = "AlreadySettledKeepsItsTime",
                        .change = {.time = At(0),
                                   .from = 6,
                                   .replicas = 4,
                                   .lag = 1000,
                                   .settled_at = At(5),
                                   .rebalance_backlog = 7},
                        .want_settled_at = At(5),
                        .want_backlog = 7}),
    kCaseName);

struct WorkingCase {
  std::string name;
  bool observed = true;  // last observed at At(0), 3 replicas
  std::optional<int32_t> last_members;
  std::optional<int64_t> last_change_at;
  int32_t current = 3;
  std::optional<int32_t> members;
  bool stable = true;
  std::optional<int32_t> want;
};

class WorkingReplicasTest : public ::testing::TestWithParam<WorkingCase> {};

TEST_P(WorkingReplicasTest, Counts) {
  const WorkingCase& c = GetParam();
  History history;
  if (c.observed) history.last_observed = At(0);
  history.last_replicas = 3;
  history.last_members = c.last_members;
  if (c.last_change_at) history.last_change = ScaleChange{.time = At(*c.last_change_at)};
  Spec spec;
  spec.rebalance_settle_seconds = 30;
  const Observation observation{
      .current_replicas = c.current, .members = c.members, .group_stable = c.stable};
  EXPECT_EQ(WorkingReplicas(history, observation, spec), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WorkingReplicasTest,
    ::testing::Values(
        WorkingCase{.name = "NeverObserved", .observed = false},
        WorkingCase{
            .name = "SameSizeAllJoinedAtBothEnds", .last_members = 3, .members = 3, .want = 3},
        WorkingCase{.name = "SameSizeMemberMissingAtTheStart", .last_members = 2, .members = 3},
        WorkingCase{
            .name = "SameSizeRebalancing", .last_members = 3, .members = 3, .stable = false},
        WorkingCase{
            .name = "NoMembersChangeSettledBeforeTheInterval", .last_change_at = -30, .want = 3},
        WorkingCase{.name = "NoMembersChangeStillSettling", .last_change_at = -29},
        WorkingCase{.name = "AddedReplicasStillStarting",
                    .last_members = 3,
                    .current = 5,
                    .members = 3,
                    .want = 3},
        WorkingCase{.name = "AddedReplicasJoined", .last_members = 3, .current = 5, .members = 5},
        WorkingCase{.name = "RemovedReplicas", .last_members = 3, .current = 2, .members = 2}),
    kCaseName);

struct IntervalCase {
  std::string name;
  std::vector<PartitionStep> steps;
  std::vector<bool> stalled;
  int32_t working = 1;
  std::optional<RateEvidence> want;  // interval 10 s
};

class IntervalRateTest : public ::testing::TestWithParam<IntervalCase> {};

TEST_P(IntervalRateTest, Weighs) {
  const IntervalCase& c = GetParam();
  std::vector<bool> stalled = c.stalled;
  stalled.resize(c.steps.size());
  const std::optional<RateEvidence> got = IntervalRate(c.steps, stalled, 10, c.working);
  ASSERT_EQ(got.has_value(), c.want.has_value());
  if (!got) return;
  EXPECT_DOUBLE_EQ(got->lower_bound, c.want->lower_bound);
  EXPECT_EQ(got->saturated, c.want->saturated);
  EXPECT_DOUBLE_EQ(got->rate, c.want->rate);
  EXPECT_EQ(got->flat_out, c.want->flat_out);
}

PartitionStep Step(int64_t previous_lag, int64_t consumed, int64_t lag, int64_t produced = 0) {
  return {.has_previous = true,
          .produced = produced,
          .consumed = consumed,
          .previous_lag = previous_lag,
          .lag = lag};
}

INSTANTIATE_TEST_SUITE_P(
    Cases, IntervalRateTest,
    ::testing::Values(
        IntervalCase{
            .name = "BacklogAtTheStartIsFlatOut",
            .steps = {Step(500, 100, 400)},
            .want =
                RateEvidence{.lower_bound = 10, .saturated = true, .rate = 10, .flat_out = true}},
        IntervalCase{.name = "BacklogAtTheStartOnlyWhatWasConsumedIsNotBusy",
                     .steps = {Step(100, 100, 0)},
                     .want = RateEvidence{.lower_bound = 10, .rate = 10}},
        IntervalCase{.name = "BacklogOnlyAtTheEndIsSaturatedNotFlatOut",
                     .steps = {Step(50, 100, 100, 150)},
                     .want = RateEvidence{.lower_bound = 10, .saturated = true, .rate = 10}},
        IntervalCase{.name = "BacklogGrownToHalfOfWhatWasConsumedIsSaturated",
                     .steps = {Step(10, 100, 50, 140)},
                     .want = RateEvidence{.lower_bound = 10, .saturated = true, .rate = 10}},
        IntervalCase{.name = "KeepingUpIsNotSaturated",
                     .steps = {Step(5, 100, 5, 100)},
                     .want = RateEvidence{.lower_bound = 10, .rate = 10}},
        IntervalCase{.name = "BacklogThatConsumedNothingIsNotSaturated",
                     .steps = {Step(500, 100, 400), Step(100, 0, 100)},
                     .want = RateEvidence{.lower_bound = 10, .rate = 10}},
        IntervalCase{
            .name = "IdlePartitionsDoNotCount",
            .steps = {Step(500, 100, 400), Step(0, 0, 0)},
            .working = 2,
            .want = RateEvidence{.lower_bound = 5, .saturated = true, .rate = 5, .flat_out = true}},
        IntervalCase{
            .name = "StalledLeftOutAndTheReplicasScaled",
            .steps = {Step(500, 100, 400), Step(100, 0, 100)},
            .stalled = {false, true},
            .working = 2,
            .want =
                RateEvidence{.lower_bound = 5, .saturated = true, .rate = 10, .flat_out = true}},
        IntervalCase{.name = "PartitionNotSeenAtBothEnds", .steps = {Step(500, 100, 400), {}}},
        IntervalCase{.name = "NothingConsumed", .steps = {Step(0, 0, 0)}},
        IntervalCase{.name = "NoWorkingReplicas", .steps = {Step(500, 100, 400)}, .working = 0}),
    kCaseName);

struct UpdateCase {
  std::string name;
  LearnedRate learned;
  RateEvidence evidence;
  std::optional<double> hint;
  LearnedRate want;  // alpha 0.25
};

class UpdateRateTest : public ::testing::TestWithParam<UpdateCase> {};

TEST_P(UpdateRateTest, Learns) {
  const UpdateCase& c = GetParam();
  EXPECT_EQ(UpdateRate(c.learned, c.evidence, c.hint, 0.25), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UpdateRateTest,
    ::testing::Values(
        UpdateCase{.name = "UnsaturatedOnlyRaisesTheLowerBound",
                   .learned = {.per_replica_rate = 10, .saturated_intervals = 2, .lower_bound = 3},
                   .evidence = {.lower_bound = 5, .rate = 20},
                   .want = {.per_replica_rate = 10, .saturated_intervals = 2, .lower_bound = 5}},
        UpdateCase{.name = "LowerBoundNeverFalls",
                   .learned = {.lower_bound = 8},
                   .evidence = {.lower_bound = 5, .rate = 20},
                   .want = {.lower_bound = 8}},
        UpdateCase{.name = "FirstSaturatedIntervalSetsTheRate",
                   .evidence = {.lower_bound = 4, .saturated = true, .rate = 20},
                   .want = {.per_replica_rate = 20, .saturated_intervals = 1, .lower_bound = 4}},
        UpdateCase{.name = "FlatOutMovesFromTheHintByAlpha",
                   .evidence = {.lower_bound = 4, .saturated = true, .rate = 20, .flat_out = true},
                   .hint = 10,
                   .want = {.per_replica_rate = 12.5, .saturated_intervals = 1, .lower_bound = 4}},
        UpdateCase{.name = "FlatOutMovesTheLearnedRateDownToo",
                   .learned = {.per_replica_rate = 20, .saturated_intervals = 1, .lower_bound = 4},
                   .evidence = {.lower_bound = 4, .saturated = true, .rate = 12, .flat_out = true},
                   .hint = 100,
                   .want = {.per_replica_rate = 18, .saturated_intervals = 2, .lower_bound = 4}},
        UpdateCase{.name = "NotFlatOutNeverLowers",
                   .learned = {.per_replica_rate = 10, .saturated_intervals = 1, .lower_bound = 4},
                   .evidence = {.lower_bound = 4, .saturated = true, .rate = 8},
                   .want = {.per_replica_rate = 10, .saturated_intervals = 2, .lower_bound = 4}},
        UpdateCase{.name = "NotFlatOutRaises",
                   .learned = {.per_replica_rate = 10, .saturated_intervals = 1, .lower_bound = 4},
                   .evidence = {.lower_bound = 4, .saturated = true, .rate = 14},
                   .want = {.per_replica_rate = 14, .saturated_intervals = 2, .lower_bound = 4}}),
    kCaseName);

struct LearnCase {
  std::string name;
  double interval = 10;
  int32_t unknown = 0;
  bool group_stopped = false;
  bool want_learned = true;
};

class LearnRateTest : public ::testing::TestWithParam<LearnCase> {};

TEST_P(LearnRateTest, LearnsOnlyFromAWholeSteadyInterval) {
  const LearnCase& c = GetParam();
  History history;
  history.last_observed = At(0);
  history.last_replicas = 1;
  const LagObservation lags{.partition_lags = {{.topic = "t", .lag = 400}},
                            .steps = {Step(500, 100, 400)},
                            .unknown = c.unknown};
  const LearnedRate got =
      LearnRate({}, history, {.current_replicas = 1}, Spec{}, lags, c.interval, c.group_stopped);
  if (c.want_learned) {
    EXPECT_EQ(got,
              (LearnedRate{.per_replica_rate = 10, .saturated_intervals = 1, .lower_bound = 10}));
  } else {
    EXPECT_EQ(got, LearnedRate{});
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LearnRateTest,
    ::testing::Values(LearnCase{.name = "SteadyInterval"},
                      LearnCase{.name = "FirstObservation", .interval = 0, .want_learned = false},
                      LearnCase{.name = "PartialObservation", .unknown = 1, .want_learned = false},
                      LearnCase{
                          .name = "GroupStopped", .group_stopped = true, .want_learned = false}),
    kCaseName);

// ---------------------------------------------------------------------------
// 5. The raw target.

struct AllowanceCase {
  std::string name;
  std::optional<ScaleChange> change;
  int64_t signal_lag = 5000;
  int64_t now = 30;  // the drain is 60 s
  int64_t want = 0;
};

class RebalanceAllowanceTest : public ::testing::TestWithParam<AllowanceCase> {};

TEST_P(RebalanceAllowanceTest, Allows) {
  const AllowanceCase& c = GetParam();
  EXPECT_EQ(RebalanceAllowance(c.change, c.signal_lag, 60, At(c.now)), c.want);
}

const ScaleChange kSettledWith600{.settled_at = At(0), .rebalance_backlog = 600};

INSTANTIATE_TEST_SUITE_P(
    Cases, RebalanceAllowanceTest,
    ::testing::Values(
        AllowanceCase{.name = "NoChange"},
        AllowanceCase{.name = "NotSettled", .change = ScaleChange{.rebalance_backlog = 600}},
        AllowanceCase{.name = "HalfTheDrainLeftAllowsHalf", .change = kSettledWith600, .want = 300},
        AllowanceCase{
            .name = "AtTheStartAllowsAll", .change = kSettledWith600, .now = 0, .want = 600},
        AllowanceCase{.name = "DrainOverAllowsNothing", .change = kSettledWith600, .now = 60},
        AllowanceCase{.name = "NeverMoreThanTheLag",
                      .change = kSettledWith600,
                      .signal_lag = 100,
                      .want = 100}),
    kCaseName);

struct DemandCase {
  std::string name;
  double demand = 0;
  double rate = 0;
  int32_t partitions = 0;
  int32_t carrying = 0;
  int32_t want = 0;
};

class ReplicasForDemandTest : public ::testing::TestWithParam<DemandCase> {};

TEST_P(ReplicasForDemandTest, Counts) {
  const DemandCase& c = GetParam();
  EXPECT_EQ(ReplicasForDemand(c.demand, c.rate, c.partitions, c.carrying), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReplicasForDemandTest,
    ::testing::Values(DemandCase{.name = "NoDemand", .rate = 500, .partitions = 12, .carrying = 12},
                      // 373/s a partition: one replica carries only one.
                      DemandCase{.name = "TheBusiestReplicaCarriesItsPartitions",
                                 .demand = 4478,
                                 .rate = 500,
                                 .partitions = 12,
                                 .carrying = 12,
                                 .want = 12},
                      DemandCase{.name = "EvenSpreadIsLinear",
                                 .demand = 1000,
                                 .rate = 500,
                                 .partitions = 12,
                                 .carrying = 12,
                                 .want = 2},
                      // ceil(700 / 350) = 2 would leave one replica 4 partitions, 400/s.
                      DemandCase{.name = "UnevenSpreadNeedsMore",
                                 .demand = 700,
                                 .rate = 350,
                                 .partitions = 7,
                                 .carrying = 7,
                                 .want = 3},
                      DemandCase{.name = "OnePartitionBeyondAReplicaIsLinear",
                                 .demand = 1000,
                                 .rate = 400,
                                 .partitions = 2,
                                 .carrying = 2,
                                 .want = 3},
                      DemandCase{.name = "StalledPartitionsCarryNoShare",
                                 .demand = 1100,
                                 .rate = 100,
                                 .partitions = 12,
                                 .carrying = 11,
                                 .want = 12},
                      DemandCase{
                          .name = "NoPartitionsIsLinear", .demand = 1001, .rate = 100, .want = 11}),
    kCaseName);

TargetInputs Inputs(int32_t current, double produce, int64_t lag, std::optional<double> rate) {
  return {.current = current,
          .partitions = 12,
          .carrying = 12,
          .partition_cap = 12,
          .signal = {.lag = lag, .any_lag = lag > 0},
          .demand = {.produce_rate = produce, .lag = lag, .drain_seconds = 60},
          .produce_known = true,
          .per_replica_rate = rate};
}

struct ThroughputCase {
  std::string name;
  TargetInputs in;
  ThroughputTarget want;
};

class ByThroughputTest : public ::testing::TestWithParam<ThroughputCase> {};

TEST_P(ByThroughputTest, Counts) {
  const ThroughputCase& c = GetParam();
  const ThroughputTarget got = ByThroughput(c.in);
  EXPECT_EQ(got.for_demand, c.want.for_demand);
  EXPECT_EQ(got.replicas, c.want.replicas);
  EXPECT_EQ(got.learned_from, c.want.learned_from);
}

TargetInputs WithAllowance(TargetInputs in, int64_t allowance) {
  in.demand.rebalance_allowance = allowance;
  return in;
}

TargetInputs Learned(TargetInputs in, int64_t intervals) {
  in.learned = {.per_replica_rate = in.per_replica_rate, .saturated_intervals = intervals};
  return in;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ByThroughputTest,
    ::testing::Values(ThroughputCase{.name = "ScaleUpToTheDemand",
                                     .in = Inputs(1, 1000, 0, 500),
                                     .want = {.for_demand = 2, .replicas = 2}},
                      ThroughputCase{.name = "SaysHowManyIntervalsTheRateWasLearnedFrom",
                                     .in = Learned(Inputs(1, 1000, 0, 500), 3),
                                     .want = {.for_demand = 2, .replicas = 2, .learned_from = 3}},
                      // At 100/s a replica: 600/s over 12 partitions is two partitions a
                      // replica, 6 replicas; 660/s only one, 12.
                      ThroughputCase{.name = "ScaleDownNeedsTheHeadroom",
                                     .in = Inputs(12, 600, 0, 100),
                                     .want = {.for_demand = 6, .replicas = 12}},
                      // 400/s: 4 replicas; 440/s: 6.
                      ThroughputCase{.name = "ScaleDownToWhatCarriesTheHeadroom",
                                     .in = Inputs(12, 400, 0, 100),
                                     .want = {.for_demand = 4, .replicas = 6}},
                      // 350/s and 385/s: 3 partitions a replica, 4 replicas (420/s, 20%
                      // more, would need 6).
                      ThroughputCase{.name = "TheHeadroomIsTenPercent",
                                     .in = Inputs(12, 350, 0, 100),
                                     .want = {.for_demand = 4, .replicas = 4}},
                      // 250/s and 275/s: 4 partitions a replica, 3 replicas.
                      ThroughputCase{.name = "ScaleDownWithinTheHeadroom",
                                     .in = Inputs(12, 250, 0, 100),
                                     .want = {.for_demand = 3, .replicas = 3}},
                      // 6,000 of lag over 60 s is 100/s; half of it left by the rebalance.
                      ThroughputCase{.name = "TheRebalanceBacklogIsDrainedNotCounted",
                                     .in = WithAllowance(Inputs(1, 0, 6000, 10), 3000),
                                     .want = {.for_demand = 6, .replicas = 6}},
                      ThroughputCase{.name = "AScaleDownCountsTheWholeLag",
                                     .in = WithAllowance(Inputs(12, 0, 6000, 10), 3000),
                                     .want = {.for_demand = 6, .replicas = 12}}),
    kCaseName);

struct LagTargetCase {
  std::string name;
  PolicyType policy = PolicyType::kThroughput;
  TargetInputs in;
  std::optional<double> lower_bound;
  LagTarget want;
};

class ByLagTest : public ::testing::TestWithParam<LagTargetCase> {};

TEST_P(ByLagTest, Counts) {
  const LagTargetCase& c = GetParam();
  Spec spec;
  spec.policy_type = c.policy;
  spec.lag_threshold = 1000;
  TargetInputs in = c.in;
  in.learned.lower_bound = c.lower_bound;
  const LagTarget got = ByLag(in, spec);
  EXPECT_EQ(got.fallback, c.want.fallback);
  EXPECT_EQ(got.for_lag, c.want.for_lag);
  EXPECT_EQ(got.replicas, c.want.replicas);
  EXPECT_EQ(got.capped_by, c.want.capped_by);
}

TargetInputs ProduceUnknown(TargetInputs in) {
  in.produce_known = false;
  return in;
}

// 200/s + 10,000 / 60 s = 366.7/s over 12 partitions at 100/s: 4 replicas.
INSTANTIATE_TEST_SUITE_P(
    Cases, ByLagTest,
    ::testing::Values(LagTargetCase{.name = "LagPolicyRoundsUp",
                                    .policy = PolicyType::kLag,
                                    .in = Inputs(1, 0, 2500, std::nullopt),
                                    .want = {.for_lag = 3, .replicas = 3}},
                      LagTargetCase{.name = "ThroughputWithoutARateFallsBack",
                                    .in = Inputs(1, 0, 2500, std::nullopt),
                                    .want = {.fallback = FallbackCause::kPerReplicaRateUnknown,
                                             .for_lag = 3,
                                             .replicas = 3}},
                      LagTargetCase{.name = "ThroughputWithoutAProduceRateFallsBack",
                                    .in = ProduceUnknown(Inputs(1, 0, 2500, 10)),
                                    .want = {.fallback = FallbackCause::kProduceRateUnknown,
                                             .for_lag = 3,
                                             .replicas = 3}},
                      LagTargetCase{.name = "FallbackScaleUpCappedByTheLowerBound",
                                    .in = Inputs(1, 200, 10000, std::nullopt),
                                    .lower_bound = 100,
                                    .want = {.fallback = FallbackCause::kPerReplicaRateUnknown,
                                             .for_lag = 10,
                                             .replicas = 4,
                                             .capped_by = 100}},
                      LagTargetCase{.name = "CapNeverBelowTheCurrentReplicas",
                                    .in = Inputs(6, 200, 10000, std::nullopt),
                                    .lower_bound = 100,
                                    .want = {.fallback = FallbackCause::kPerReplicaRateUnknown,
                                             .for_lag = 10,
                                             .replicas = 6,
                                             .capped_by = 100}},
                      LagTargetCase{.name = "NoCapOnAScaleDown",
                                    .in = Inputs(20, 200, 10000, std::nullopt),
                                    .lower_bound = 100,
                                    .want = {.fallback = FallbackCause::kPerReplicaRateUnknown,
                                             .for_lag = 10,
                                             .replicas = 10}},
                      // At 10/s a replica the demand needs 37: the lag's count is less.
                      LagTargetCase{.name = "NoCapWhenTheLowerBoundAsksForMore",
                                    .in = Inputs(1, 200, 10000, std::nullopt),
                                    .lower_bound = 10,
                                    .want = {.fallback = FallbackCause::kPerReplicaRateUnknown,
                                             .for_lag = 10,
                                             .replicas = 10}},
                      LagTargetCase{.name = "NoCapWithoutAProduceRate",
                                    .in = ProduceUnknown(Inputs(1, 200, 10000, std::nullopt)),
                                    .lower_bound = 100,
                                    .want = {.fallback = FallbackCause::kPerReplicaRateUnknown,
                                             .for_lag = 10,
                                             .replicas = 10}},
                      LagTargetCase{.name = "LagPolicyNeverCapped",
                                    .policy = PolicyType::kLag,
                                    .in = Inputs(1, 200, 10000, std::nullopt),
                                    .lower_bound = 100,
                                    .want = {.for_lag = 10, .replicas = 10}}),
    kCaseName);

struct AgeCase {
  std::string name;
  std::optional<int64_t> threshold = 30;
  int32_t current = 2;
  int64_t lag = 100;
  double age = 90;
  std::optional<int64_t> want_working;
  int64_t want = 0;
};

class ByAgeTest : public ::testing::TestWithParam<AgeCase> {};

TEST_P(ByAgeTest, Counts) {
  const AgeCase& c = GetParam();
  Spec spec;
  spec.lag_seconds_threshold = c.threshold;
  TargetInputs in = Inputs(c.current, 0, c.lag, std::nullopt);
  in.signal.max_age_bound = c.age;
  const std::optional<AgeTarget> got = ByAge(in, spec);
  ASSERT_EQ(got.has_value(), c.want_working.has_value());
  if (!got) return;
  EXPECT_EQ(got->working, *c.want_working);
  EXPECT_EQ(got->replicas, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ByAgeTest,
    ::testing::Values(
        AgeCase{.name = "NoThreshold", .threshold = std::nullopt},
        AgeCase{.name = "NoLag", .lag = 0},
        AgeCase{.name = "InProportionToTheAge", .want_working = 2, .want = 6},
        AgeCase{.name = "UnderTheTargetKeepsOne", .age = 10, .want_working = 2, .want = 1},
        AgeCase{.name = "AtLeastOneWorking", .current = 0, .age = 45, .want_working = 1, .want = 2},
        AgeCase{.name = "AtMostThePartitionCeilingWorking",
                .current = 20,
                .age = 30,
                .want_working = 12,
                .want = 12}),
    kCaseName);

TEST(ComputeRawTargetTest, ThroughputWhenTheRatesAreKnownAndTheLargerTargetWins) {
  Spec spec;
  spec.lag_threshold = 1000;
  const RawTarget by_rate = ComputeRawTarget(Inputs(1, 1000, 0, 500), spec);
  EXPECT_TRUE(by_rate.throughput.has_value());
  EXPECT_FALSE(by_rate.lag.has_value());
  EXPECT_EQ(by_rate.replicas, 2);

  const RawTarget by_lag = ComputeRawTarget(Inputs(1, 1000, 2500, std::nullopt), spec);
  EXPECT_FALSE(by_lag.throughput.has_value());
  EXPECT_EQ(by_lag.replicas, 3);

  spec.lag_seconds_threshold = 10;
  TargetInputs old = Inputs(2, 1000, 2500, std::nullopt);
  old.signal.max_age_bound = 40;
  const RawTarget by_age = ComputeRawTarget(old, spec);
  ASSERT_TRUE(by_age.age.has_value());
  EXPECT_EQ(by_age.replicas, 8);
}

TEST(ComputeRawTargetTest, ClampsToInt32) {
  Spec spec;
  spec.policy_type = PolicyType::kLag;
  spec.lag_threshold = 1;
  EXPECT_EQ(ComputeRawTarget(Inputs(1, 0, kMax64, std::nullopt), spec).replicas, kInt32Max);
}

// ---------------------------------------------------------------------------
// 6. CeilingAndFloor: 12 partitions unless said.

struct BoundsCase {
  std::string name;
  int32_t min = 1;
  int32_t max = 100;
  int32_t consumers_per_replica = 1;
  bool allow_idle = false;
  bool limit_to_lag = false;
  int32_t with_lag = 12;
  int32_t raw = 5;
  int32_t current = 5;
  std::optional<int32_t> members;
  Bounds want;
};

class CeilingAndFloorTest : public ::testing::TestWithParam<BoundsCase> {};

TEST_P(CeilingAndFloorTest, Computes) {
  const BoundsCase& c = GetParam();
  Spec spec;
  spec.min_replicas = c.min;
  spec.max_replicas = c.max;
  spec.consumers_per_replica = c.consumers_per_replica;
  spec.allow_idle_consumers = c.allow_idle;
  spec.limit_to_partitions_with_lag = c.limit_to_lag;
  const Bounds got = CeilingAndFloor(spec, 12, c.with_lag, c.raw, c.current, c.members);
  EXPECT_EQ(got.named_ceiling, c.want.named_ceiling);
  EXPECT_EQ(got.ceiling_by, c.want.ceiling_by);
  EXPECT_EQ(got.ceiling_partitions, c.want.ceiling_partitions);
  EXPECT_EQ(got.floor, c.want.floor);
  EXPECT_EQ(got.ceiling, c.want.ceiling);
  EXPECT_EQ(got.target, c.want.target);
  EXPECT_EQ(got.min_above_partitions, c.want.min_above_partitions);
  EXPECT_EQ(got.at_ceiling, c.want.at_ceiling);
  EXPECT_EQ(got.idle_members, c.want.idle_members);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CeilingAndFloorTest,
    ::testing::Values(BoundsCase{.name = "ThePartitions",
                                 .want = {.named_ceiling = 12,
                                          .ceiling_partitions = 12,
                                          .floor = 1,
                                          .ceiling = 12,
                                          .target = 5}},
                      BoundsCase{.name = "MaxReplicasBelowThePartitions",
                                 .max = 8,
                                 .raw = 9,
                                 .want = {.named_ceiling = 8,
                                          .ceiling_by = CeilingBy::kMaxReplicas,
                                          .ceiling_partitions = 12,
                                          .floor = 1,
                                          .ceiling = 8,
                                          .target = 8,
                                          .at_ceiling = true}},
                      BoundsCase{.name = "ConsumersPerReplica",
                                 .consumers_per_replica = 5,
                                 .current = 2,
                                 .want = {.named_ceiling = 3,
                                          .ceiling_partitions = 12,
                                          .floor = 1,
                                          .ceiling = 3,
                                          .target = 3,
                                          .at_ceiling = true}},
                      BoundsCase{.name = "IdleConsumersAllowed",
                                 .allow_idle = true,
                                 .raw = 20,
                                 .current = 20,
                                 .members = 20,
                                 .want = {.named_ceiling = 100,
                                          .ceiling_by = CeilingBy::kIdleAllowed,
                                          .floor = 1,
                                          .ceiling = 100,
                                          .target = 20}},
                      BoundsCase{.name = "OnlyPartitionsWithLag",
                                 .limit_to_lag = true,
                                 .with_lag = 3,
                                 .want = {.named_ceiling = 3,
                                          .ceiling_partitions = 3,
                                          .floor = 1,
                                          .ceiling = 3,
                                          .target = 3,
                                          .at_ceiling = true}},
                      BoundsCase{.name = "MinReplicasCappedAtThePartitions",
                                 .min = 20,
                                 .raw = 1,
                                 .current = 12,
                                 .want = {.named_ceiling = 12,
                                          .ceiling_partitions = 12,
                                          .floor = 12,
                                          .ceiling = 12,
                                          .target = 12,
                                          .min_above_partitions = true}},
                      BoundsCase{.name = "MinReplicasCappedAtAllThePartitionsNotThoseWithLag",
                                 .min = 20,
                                 .limit_to_lag = true,
                                 .with_lag = 2,
                                 .raw = 1,
                                 .current = 12,
                                 .want = {.named_ceiling = 2,
                                          .ceiling_partitions = 2,
                                          .floor = 12,
                                          .ceiling = 12,
                                          .target = 12,
                                          .min_above_partitions = true}},
                      BoundsCase{.name = "FloorAboveTheLaggingPartitionsLiftsTheCeiling",
                                 .min = 4,
                                 .limit_to_lag = true,
                                 .with_lag = 2,
                                 .raw = 1,
                                 .want = {.named_ceiling = 2,
                                          .ceiling_partitions = 2,
                                          .floor = 4,
                                          .ceiling = 4,
                                          .target = 4}},
                      BoundsCase{.name = "ReplicasAboveThePartitionsAreIdle",
                                 .current = 14,
                                 .want = {.named_ceiling = 12,
                                          .ceiling_partitions = 12,
                                          .floor = 1,
                                          .ceiling = 12,
                                          .target = 5,
                                          .idle_members = true}},
                      BoundsCase{.name = "MembersAboveThePartitionsAreIdle",
                                 .members = 13,
                                 .want = {.named_ceiling = 12,
                                          .ceiling_partitions = 12,
                                          .floor = 1,
                                          .ceiling = 12,
                                          .target = 5,
                                          .idle_members = true}}),
    kCaseName);

// ---------------------------------------------------------------------------
// 7. IdleSince and ScaleToZero: activation 0, cooldown 300 s, now At(0).

struct IdleCase {
  std::string name;
  std::optional<Timestamp> since;
  int64_t lag = 0;
  bool active = false;
  bool by_rate = false;
  int64_t produced = 0;
  std::optional<Timestamp> want;
};

class IdleSinceTest : public ::testing::TestWithParam<IdleCase> {};

TEST_P(IdleSinceTest, Tracks) {
  const IdleCase& c = GetParam();
  EXPECT_EQ(IdleSince(c.since, Spec{}, c.lag, c.active, c.by_rate, c.produced, At(0)), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, IdleSinceTest,
    ::testing::Values(IdleCase{.name = "LagAboveActivationIsNotIdle", .since = At(-50), .lag = 1},
                      IdleCase{.name = "IdleStartsNow", .want = At(0)},
                      IdleCase{.name = "IdleKeepsItsStart", .since = At(-50), .want = At(-50)},
                      IdleCase{
                          .name = "ActivePartitionIsNotIdle", .since = At(-50), .active = true},
                      IdleCase{.name = "ByRateAnythingProducedIsNotIdle",
                               .since = At(-50),
                               .by_rate = true,
                               .produced = 1},
                      IdleCase{.name = "ByLagProducedDoesNotMatter",
                               .since = At(-50),
                               .produced = 1,
                               .want = At(-50)}),
    kCaseName);

struct ZeroCase {
  std::string name;
  int32_t floor = 0;
  int32_t target = 0;
  int32_t current = 2;
  int64_t lag = 0;
  bool active = false;
  bool by_rate = false;
  std::optional<int64_t> idle_since;
  int32_t want = 0;
  ZeroState want_state = ZeroState::kNone;
  int64_t want_idle = 0;
};

class ScaleToZeroTest : public ::testing::TestWithParam<ZeroCase> {};

TEST_P(ScaleToZeroTest, Decides) {
  const ZeroCase& c = GetParam();
  std::optional<Timestamp> since;
  if (c.idle_since) since = At(*c.idle_since);
  const Bounds bounds{.floor = c.floor, .ceiling = 12, .target = c.target};
  const ZeroStep got =
      ScaleToZero(bounds, Spec{}, c.current, c.lag, c.active, c.by_rate, since, At(0));
  EXPECT_EQ(got.target, c.want);
  EXPECT_EQ(got.state, c.want_state);
  EXPECT_EQ(got.idle_seconds, c.want_idle);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ScaleToZeroTest,
    ::testing::Values(
        ZeroCase{.name = "FloorAboveZeroLeavesTheTarget", .floor = 1, .target = 3, .want = 3},
        ZeroCase{.name = "AtZeroLagActivates", .current = 0, .lag = 1, .want = 1},
        ZeroCase{.name = "AtZeroNoLagStays", .current = 0, .idle_since = -1000},
        ZeroCase{.name = "AtZeroAnActivePartitionActivates",
                 .current = 0,
                 .active = true,
                 .want = 1,
                 .want_state = ZeroState::kActiveWithoutCommits},
        ZeroCase{
            .name = "AtZeroKeepsALargerTarget", .target = 4, .current = 0, .lag = 9, .want = 4},
        ZeroCase{.name = "IdleWaitsTheCooldownAtOne",
                 .idle_since = -299,
                 .want = 1,
                 .want_state = ZeroState::kCoolingDown,
                 .want_idle = 299},
        ZeroCase{
            .name = "NotIdleTargetZeroHoldsOne", .want = 1, .want_state = ZeroState::kCoolingDown},
        ZeroCase{.name = "CooldownOverGoesToZero", .idle_since = -300, .want_idle = 300},
        ZeroCase{
            .name = "ByLagIdleWithATargetLeftAlone", .target = 2, .idle_since = -300, .want = 2},
        ZeroCase{.name = "ByRateCooldownOverGoesToZeroWhateverTheRate",
                 .target = 2,
                 .by_rate = true,
                 .idle_since = -300,
                 .want = 0,
                 .want_state = ZeroState::kCooldownOver,
                 .want_idle = 300},
        ZeroCase{.name = "ByRateCoolingDownKeepsTheTarget",
                 .target = 2,
                 .by_rate = true,
                 .idle_since = -10,
                 .want = 2,
                 .want_state = ZeroState::kCoolingDown,
                 .want_idle = 10}),
    kCaseName);

// ---------------------------------------------------------------------------
// 8. AlignTarget: 12 partitions.

struct AlignCase {
  std::string name;
  Alignment alignment = Alignment::kBalanced;
  int32_t target = 5;
  int32_t ceiling = 12;
  int32_t floor = 1;
  int32_t want = 0;
};

class AlignTargetTest : public ::testing::TestWithParam<AlignCase> {};

TEST_P(AlignTargetTest, Aligns) {
  const AlignCase& c = GetParam();
  const Aligned got = AlignTarget(c.target, 12, c.alignment, c.ceiling, c.floor);
  EXPECT_EQ(got.from, c.target);
  EXPECT_EQ(got.replicas, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AlignTargetTest,
    ::testing::Values(
        AlignCase{.name = "BalancedTakesTheFewestAsBusy", .want = 4},
        AlignCase{.name = "DivisorRoundsUp", .alignment = Alignment::kDivisor, .want = 6},
        AlignCase{.name = "NoneLeavesIt", .alignment = Alignment::kNone, .want = 5},
        AlignCase{.name = "DivisorNeverAboveTheCeiling",
                  .alignment = Alignment::kDivisor,
                  .ceiling = 5,
                  .want = 5},
        AlignCase{.name = "NeverBelowTheFloor", .floor = 5, .want = 5},
        AlignCase{.name = "BeyondThePartitionsLeftAlone", .target = 13, .ceiling = 20, .want = 13},
        AlignCase{.name = "ZeroLeftAlone", .target = 0, .floor = 0, .want = 0}),
    kCaseName);

// ---------------------------------------------------------------------------
// 9. Stabilize: floor 1, ceiling 12, now At(0).

Rules WindowRules(int32_t up_seconds, int32_t down_seconds) {
  return {.up = Resolve({.stabilization_window_seconds = up_seconds}, DefaultScaleUp()),
          .down = Resolve({.stabilization_window_seconds = down_seconds}, DefaultScaleDown())};
}

struct StabilizeCase {
  std::string name;
  int32_t recommendation = 3;
  int32_t current = 6;
  std::vector<Recommendation> past;
  int32_t ceiling = 12;
  Stabilized want;
};

class StabilizeTest : public ::testing::TestWithParam<StabilizeCase> {};

TEST_P(StabilizeTest, Holds) {
  const StabilizeCase& c = GetParam();
  const Bounds bounds{.floor = c.recommendation == 0 ? 0 : 1, .ceiling = c.ceiling};
  const Stabilized got =
      Stabilize(c.recommendation, c.current, bounds, c.past, WindowRules(60, 300), At(0));
  EXPECT_EQ(got.replicas, c.want.replicas);
  EXPECT_EQ(got.held, c.want.held);
  EXPECT_EQ(got.window_seconds, c.want.window_seconds);
  EXPECT_EQ(got.bound, c.want.bound);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StabilizeTest,
    ::testing::Values(
        StabilizeCase{
            .name = "DownWindowHoldsTheHighest",
            .past = {{At(-299), 6}},
            .want = {.replicas = 6, .held = Held::kScaleDown, .window_seconds = 300, .bound = 6}},
        StabilizeCase{
            .name = "DownWindowPartlyHolds",
            .past = {{At(-100), 5}},
            .want = {.replicas = 5, .held = Held::kScaleDown, .window_seconds = 300, .bound = 5}},
        StabilizeCase{.name = "DownWindowForgetsWhatIsOlder",
                      .past = {{At(-300), 6}},
                      .want = {.replicas = 3}},
        StabilizeCase{
            .name = "UpWindowHoldsTheLowest",
            .recommendation = 8,
            .current = 2,
            .past = {{At(-30), 2}},
            .want = {.replicas = 2, .held = Held::kScaleUp, .window_seconds = 60, .bound = 2}},
        StabilizeCase{.name = "UpWindowForgetsWhatIsOlder",
                      .recommendation = 8,
                      .current = 2,
                      .past = {{At(-60), 2}},
                      .want = {.replicas = 8}},
        StabilizeCase{.name = "ZeroAfterTheCooldownBypassesTheWindows",
                      .recommendation = 0,
                      .past = {{At(-10), 6}},
                      .want = {.replicas = 0}},
        StabilizeCase{
            .name = "HeldWithinTheCeiling",
            .past = {{At(-10), 10}},
            .ceiling = 4,
            .want = {.replicas = 4, .held = Held::kScaleDown, .window_seconds = 300, .bound = 10}}),
    kCaseName);

TEST(KeepRecommendationsTest, AddsNowAndPrunesToTheLongerWindow) {
  const std::vector<Recommendation> got = KeepRecommendations(
      {{At(-400), 1}, {At(-300), 2}, {At(-299), 3}}, {At(0), 4}, WindowRules(60, 300), At(0));
  EXPECT_THAT(got, ElementsAre(Recommendation{At(-299), 3}, Recommendation{At(0), 4}));
}

TEST(ResolveRulesTest, FromTheRatesTheDownWindowIsTheRateWindow) {
  Spec spec;
  spec.rate_window_seconds = 60;
  EXPECT_EQ(ResolveRules(spec, false).down.stabilization_window_seconds, 300);
  EXPECT_EQ(ResolveRules(spec, true).down.stabilization_window_seconds, 60);
  spec.rate_window_seconds = 900;
  EXPECT_EQ(ResolveRules(spec, true).down.stabilization_window_seconds, 300);
  spec.behavior.scale_down.stabilization_window_seconds = 10;
  EXPECT_EQ(ResolveRules(spec, true).down.stabilization_window_seconds, 10);
}

// ---------------------------------------------------------------------------
// 10. LimitStep: the HPA's default rules unless said, now At(0).

Rules OnePodRules(SelectPolicy select) {
  const ScalingRules one_pod{
      .select_policy = select,
      .policies = std::vector<ScalingPolicy>{
          {.type = ScalingPolicyType::kPods, .value = 1, .period_seconds = 60}}};
  return {.up = Resolve(one_pod, DefaultScaleUp()), .down = Resolve(one_pod, DefaultScaleDown())};
}

// Up by 100% a period only: nothing, from zero.
Rules DoublingRules() {
  const ScalingRules doubling{
      .policies = std::vector<ScalingPolicy>{{.type = ScalingPolicyType::kPercent, .value = 100}}};
  return {.up = Resolve(doubling, DefaultScaleUp()), .down = DefaultScaleDown()};
}

struct LimitCase {
  std::string name;
  int32_t stabilized = 20;
  int32_t current = 2;
  std::vector<ScaleEvent> events;
  Rules rules = WindowRules(0, 300);
  bool up_in_one_step = false;
  Limited want;
};

class LimitStepTest : public ::testing::TestWithParam<LimitCase> {};

TEST_P(LimitStepTest, Limits) {
  const LimitCase& c = GetParam();
  const Limited got =
      LimitStep(c.stabilized, c.current, c.events, c.rules, c.up_in_one_step, At(0));
  EXPECT_EQ(got.replicas, c.want.replicas);
  EXPECT_EQ(got.direction, c.want.direction);
  EXPECT_EQ(got.disabled, c.want.disabled);
  EXPECT_EQ(got.limited, c.want.limited);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LimitStepTest,
    ::testing::Values(
        LimitCase{.name = "UpByFourPodsFromFew",
                  .want = {.replicas = 6, .direction = Direction::kUp, .limited = true}},
        LimitCase{.name = "UpByDoublingFromMany",
                  .stabilized = 40,
                  .current = 10,
                  .want = {.replicas = 20, .direction = Direction::kUp, .limited = true}},
        LimitCase{.name = "UpWithinTheLimit",
                  .stabilized = 5,
                  .want = {.replicas = 5, .direction = Direction::kUp}},
        LimitCase{.name = "UpCountsThePeriodsEarlierSteps",
                  .current = 6,
                  .events = {{At(-5), 4}},
                  .want = {.replicas = 6, .direction = Direction::kUp, .limited = true}},
        LimitCase{.name = "UpForgetsStepsBeforeThePeriod",
                  .current = 6,
                  .events = {{At(-15), 4}},
                  .want = {.replicas = 12, .direction = Direction::kUp, .limited = true}},
        LimitCase{.name = "UpFromZeroAtLeastOne",
                  .current = 0,
                  .rules = DoublingRules(),
                  .want = {.replicas = 1, .direction = Direction::kUp, .limited = true}},
        LimitCase{.name = "UpInOneStepFromTheRates",
                  .up_in_one_step = true,
                  .want = {.replicas = 20, .direction = Direction::kUp}},
        LimitCase{.name = "UpDisabled",
                  .rules = OnePodRules(SelectPolicy::kDisabled),
                  .want = {.replicas = 2, .direction = Direction::kUp, .disabled = true}},
        LimitCase{.name = "DownByOnePod",
                  .stabilized = 2,
                  .current = 5,
                  .rules = OnePodRules(SelectPolicy::kMax),
                  .want = {.replicas = 4, .direction = Direction::kDown, .limited = true}},
        LimitCase{.name = "DownAllAtOnceByDefault",
                  .stabilized = 2,
                  .current = 5,
                  .want = {.replicas = 2, .direction = Direction::kDown}},
        LimitCase{.name = "DownToZeroNotLimited",
                  .stabilized = 0,
                  .current = 5,
                  .rules = OnePodRules(SelectPolicy::kDisabled),
                  .want = {.replicas = 0, .direction = Direction::kDown}},
        LimitCase{.name = "DownDisabled",
                  .stabilized = 2,
                  .current = 5,
                  .rules = OnePodRules(SelectPolicy::kDisabled),
                  .want = {.replicas = 5, .direction = Direction::kDown, .disabled = true}},
        LimitCase{.name = "NoStep", .stabilized = 2, .want = {.replicas = 2}}),
    kCaseName);

// ---------------------------------------------------------------------------
// 11. HoldWhileSettling and HoldOnPartialLag: lagThreshold 1000, emergency
// factor 2, a change at lag 1000.

struct SettleCase {
  std::string name;
  int32_t desired = 5;
  int32_t current = 3;
  int32_t ceiling = 12;
  bool settled = false;
  int64_t change_lag = 1000;
  int64_t signal_lag = 1500;
  SettleHold want;
};

class HoldWhileSettlingTest : public ::testing::TestWithParam<SettleCase> {};

TEST_P(HoldWhileSettlingTest, Holds) {
  const SettleCase& c = GetParam();
  Spec spec;
  spec.lag_threshold = 1000;
  spec.emergency_lag_factor = 2;
  const ScaleChange change{.time = At(0), .from = 2, .replicas = 3, .lag = c.change_lag};
  const SettleHold got =
      HoldWhileSettling(c.desired, c.current, c.ceiling, c.settled, change, c.signal_lag, spec);
  EXPECT_EQ(got.replicas, c.want.replicas);
  EXPECT_EQ(got.held, c.want.held);
  EXPECT_EQ(got.emergency, c.want.emergency);
  EXPECT_EQ(got.baseline, c.want.baseline);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HoldWhileSettlingTest,
    ::testing::Values(
        SettleCase{.name = "SettledGoesAhead", .settled = true, .want = {.replicas = 5}},
        SettleCase{.name = "NoChangeNoHold", .desired = 3, .want = {.replicas = 3}},
        SettleCase{.name = "HeldUntilSettled",
                   .want = {.replicas = 3, .held = true, .baseline = 1000}},
        SettleCase{.name = "RunawayLagLiftsTheHoldForAScaleUp",
                   .signal_lag = 2001,
                   .want = {.replicas = 5, .emergency = true, .baseline = 1000}},
        SettleCase{.name = "TheBaselineIsTheLagAtTheChange",
                   .change_lag = 5000,
                   .signal_lag = 9000,
                   .want = {.replicas = 3, .held = true, .baseline = 5000}},
        SettleCase{.name = "TheBaselineIsAtLeastTheThreshold",
                   .change_lag = 100,
                   .signal_lag = 2000,
                   .want = {.replicas = 3, .held = true, .baseline = 1000}},
        SettleCase{.name = "AScaleDownIsNeverAnEmergency",
                   .desired = 2,
                   .signal_lag = 9999,
                   .want = {.replicas = 3, .held = true, .baseline = 1000}},
        SettleCase{.name = "AboveTheCeilingGoesAhead",
                   .desired = 10,
                   .current = 12,
                   .ceiling = 10,
                   .want = {.replicas = 10}}),
    kCaseName);

TEST(HoldOnPartialLagTest, HoldsOnlyAScaleDown) {
  EXPECT_EQ(HoldOnPartialLag(2, 5, true).replicas, 5);
  EXPECT_TRUE(HoldOnPartialLag(2, 5, true).held);
  EXPECT_EQ(HoldOnPartialLag(7, 5, true).replicas, 7);
  EXPECT_FALSE(HoldOnPartialLag(7, 5, true).held);
  EXPECT_EQ(HoldOnPartialLag(2, 5, false).replicas, 2);
  EXPECT_FALSE(HoldOnPartialLag(2, 5, false).held);
}

// ---------------------------------------------------------------------------
// The reason: current 4 unless said.

struct ReasonCase {
  std::string name;
  int32_t current = 4;
  int32_t desired = 4;
  int32_t recommendation = 4;
  Limited limited;
  bool settling = false;
  bool partial_hold = false;
  ZeroState zero = ZeroState::kNone;
  bool paused = false;
  Reason want = Reason::kSteady;
};

class ChooseReasonTest : public ::testing::TestWithParam<ReasonCase> {};

TEST_P(ChooseReasonTest, Chooses) {
  const ReasonCase& c = GetParam();
  Pipeline p{.current = c.current};
  p.zero.state = c.zero;
  p.aligned = {.from = c.recommendation, .replicas = c.recommendation};
  p.limited = c.limited;
  p.settle.held = c.settling;
  p.partial = {.replicas = c.desired, .held = c.partial_hold};
  EXPECT_EQ(ReasonName(ChooseReason(p, c.paused)), std::string(ReasonName(c.want)));
  EXPECT_EQ(Desired(p, c.paused), c.paused ? c.current : c.desired);
}

const Limited kUpLimited{.direction = Direction::kUp, .limited = true};
const Limited kDownLimited{.direction = Direction::kDown, .limited = true};

INSTANTIATE_TEST_SUITE_P(
    Cases, ChooseReasonTest,
    ::testing::Values(
        ReasonCase{.name = "Steady"},
        ReasonCase{
            .name = "PausedWinsOverAChange", .desired = 8, .paused = true, .want = Reason::kPaused},
        ReasonCase{.name = "ScaleUp", .desired = 8, .want = Reason::kScaleUp},
        ReasonCase{.name = "ScaleFromZero",
                   .current = 0,
                   .desired = 1,
                   .limited = kUpLimited,
                   .want = Reason::kScaleFromZero},
        ReasonCase{.name = "ScaleUpLimited",
                   .desired = 8,
                   .limited = kUpLimited,
                   .want = Reason::kScaleUpLimited},
        ReasonCase{.name = "ScaleDown", .desired = 2, .want = Reason::kScaleDown},
        ReasonCase{.name = "ScaleToZero", .desired = 0, .want = Reason::kScaleToZero},
        ReasonCase{.name = "ScaleDownLimited",
                   .desired = 3,
                   .limited = kDownLimited,
                   .want = Reason::kScaleDownLimited},
        ReasonCase{.name = "SettlingBeforeThePartialHold",
                   .settling = true,
                   .partial_hold = true,
                   .want = Reason::kRebalanceSettling},
        ReasonCase{
            .name = "PartialHold", .partial_hold = true, .want = Reason::kPartialObservation},
        ReasonCase{.name = "Disabled",
                   .limited = {.direction = Direction::kUp, .disabled = true},
                   .want = Reason::kScalingDisabled},
        ReasonCase{.name = "LimitedToTheCurrentCount",
                   .limited = kUpLimited,
                   .want = Reason::kScaleUpLimited},
        ReasonCase{.name = "DownWindowBeforeTheCooldown",
                   .recommendation = 2,
                   .zero = ZeroState::kCoolingDown,
                   .want = Reason::kScaleDownStabilized},
        ReasonCase{.name = "Cooldown", .zero = ZeroState::kCoolingDown, .want = Reason::kCooldown},
        ReasonCase{.name = "UpWindow", .recommendation = 6, .want = Reason::kScaleUpStabilized}),
    kCaseName);

}  // namespace
}  // namespace groupscaler::policy::stages
