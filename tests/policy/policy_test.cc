// The decision core's rules, one named table-driven case each.

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
using ::testing::HasSubstr;

constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
const Timestamp kT0 = Timestamp{} + std::chrono::hours(24 * 365 * 50);

// `partitions` partitions of one topic, each with `lag_each` messages of lag
// (committed, end at 1,000,000).
std::vector<PartitionObservation> Uniform(int partitions, int64_t lag_each,
                                          const std::string& topic = "t") {
  std::vector<PartitionObservation> out;
  for (int i = 0; i < partitions; ++i) {
    out.push_back({.topic = topic,
                   .partition = i,
                   .log_start_offset = 0,
                   .log_end_offset = 1'000'000,
                   .committed_offset = 1'000'000 - lag_each});
  }
  return out;
}

// `partitions` partitions whose lags add up to `total` (the first gets the rest).
std::vector<PartitionObservation> WithTotalLag(int partitions, int64_t total) {
  auto out = Uniform(partitions, 0);
  for (int i = 0; i < partitions; ++i) {
    const int64_t lag = total / partitions + (i == 0 ? total % partitions : 0);
    out[i].committed_offset = out[i].log_end_offset - lag;
  }
  return out;
}

Observation Obs(std::vector<PartitionObservation> partitions, int32_t current) {
  return {.partitions = std::move(partitions), .current_replicas = current};
}

// The lag policy: these are its rules and the HPA's.
Spec BaseSpec() {
  Spec spec;
  spec.policy_type = PolicyType::kLag;
  spec.min_replicas = 1;
  spec.max_replicas = 100;
  spec.lag_threshold = 1000;
  spec.alignment = Alignment::kNone;
  // The HPA's rules in isolation; settling after a change has its own cases.
  spec.rebalance_settle_seconds = 0;
  return spec;
}

// ---------------------------------------------------------------------------
// Lag per partition.

struct LagCase {
  std::string name;
  PartitionObservation p;
  OffsetResetPolicy reset = OffsetResetPolicy::kLatest;
  std::optional<int64_t> previous_end;
  int64_t want_lag = 0;
  bool want_known = true;
  bool want_active = false;
  bool want_beyond_end = false;
  bool want_missing = false;
  bool want_negative = false;
  bool want_below_start = false;
};

void PrintTo(const LagCase& c, std::ostream* os) { *os << c.name; }

class PartitionLagTest : public ::testing::TestWithParam<LagCase> {};

TEST_P(PartitionLagTest, Computes) {
  const LagCase& c = GetParam();
  const PartitionLag got = ComputePartitionLag(c.p, c.reset, c.previous_end);
  EXPECT_EQ(got.lag, c.want_lag);
  EXPECT_EQ(got.known, c.want_known);
  EXPECT_EQ(got.active, c.want_active);
  EXPECT_EQ(got.committed_beyond_end, c.want_beyond_end);
  EXPECT_EQ(got.committed_missing, c.want_missing);
  EXPECT_EQ(got.negative_offsets, c.want_negative);
  EXPECT_EQ(got.committed_below_start, c.want_below_start);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PartitionLagTest,
    ::testing::Values(
        LagCase{.name = "CommittedBehindEnd",
                .p = {.log_start_offset = 0, .log_end_offset = 500, .committed_offset = 200},
                .want_lag = 300},
        LagCase{.name = "CommittedAtEnd",
                .p = {.log_start_offset = 0, .log_end_offset = 500, .committed_offset = 500},
                .want_lag = 0},
        // A transaction's commit marker after the last record consumed.
        LagCase{.name = "OnlyMarkersAfterTheCommitCountNothing",
                .p = {.log_start_offset = 0,
                      .log_end_offset = 18,
                      .committed_offset = 17,
                      .records_after_commit = 0},
                .want_lag = 0},
        LagCase{.name = "RecordsCountedAfterTheCommitAreTheLag",
                .p = {.log_start_offset = 0,
                      .log_end_offset = 30,
                      .committed_offset = 17,
                      .records_after_commit = 10},
                .want_lag = 10},
        LagCase{.name = "RecordsCountedNeverExceedTheOffsetsBetween",
                .p = {.log_start_offset = 0,
                      .log_end_offset = 20,
                      .committed_offset = 17,
                      .records_after_commit = 5},
                .want_lag = 3},
        LagCase{.name = "RecordsCountedDoNotApplyBelowTheLogStart",
                .p = {.log_start_offset = 400,
                      .log_end_offset = 500,
                      .committed_offset = 100,
                      .records_after_commit = 0},
                .reset = OffsetResetPolicy::kEarliest,
                .want_lag = 100,
                .want_below_start = true},
        LagCase{.name = "CommittedBelowLogStartEarliestCountsTheRetainedLog",
                .p = {.log_start_offset = 400, .log_end_offset = 500, .committed_offset = 100},
                .reset = OffsetResetPolicy::kEarliest,
                .want_lag = 100,
                .want_below_start = true},
        LagCase{.name = "CommittedBelowLogStartLatestIsZero",
                .p = {.log_start_offset = 400, .log_end_offset = 500, .committed_offset = 100},
                .previous_end = 500,
                .want_lag = 0,
                .want_below_start = true},
        LagCase{.name = "CommittedBelowLogStartLatestActiveWhenEndAdvanced",
                .p = {.log_start_offset = 400, .log_end_offset = 510, .committed_offset = 100},
                .previous_end = 500,
                .want_lag = 0,
                .want_active = true,
                .want_below_start = true},
        LagCase{.name = "CommittedAtLogStartCountsFromIt",
                .p = {.log_start_offset = 400, .log_end_offset = 500, .committed_offset = 400},
                .want_lag = 100},
        LagCase{.name = "CommittedBeyondEndClampedAndFlagged",
                .p = {.log_start_offset = 0, .log_end_offset = 500, .committed_offset = 900},
                .want_lag = 0,
                .want_beyond_end = true},
        LagCase{.name = "MissingCommitEarliestCountsRetainedLog",
                .p = {.log_start_offset = 100, .log_end_offset = 500},
                .reset = OffsetResetPolicy::kEarliest,
                .want_lag = 400,
                .want_missing = true},
        LagCase{.name = "MissingCommitLatestIsZero",
                .p = {.log_start_offset = 100, .log_end_offset = 500},
                .previous_end = 500,
                .want_lag = 0,
                .want_missing = true},
        LagCase{.name = "MissingCommitLatestActiveWhenEndAdvanced",
                .p = {.log_start_offset = 100, .log_end_offset = 501},
                .previous_end = 500,
                .want_lag = 0,
                .want_active = true,
                .want_missing = true},
        LagCase{.name = "MissingCommitLatestNotActiveOnFirstObservation",
                .p = {.log_start_offset = 100, .log_end_offset = 501},
                .want_lag = 0,
                .want_missing = true},
        LagCase{.name = "NegativeCommitSentinelIsMissing",
                .p = {.log_start_offset = 0, .log_end_offset = 70, .committed_offset = -1001},
                .reset = OffsetResetPolicy::kEarliest,
                .want_lag = 70,
                .want_missing = true},
        LagCase{.name = "FailedPartitionUnknown",
                .p = {.log_end_offset = 500, .committed_offset = 0, .failed = true},
                .want_known = false},
        LagCase{.name = "NegativeEndOffsetUnknown",
                .p = {.log_start_offset = 0, .log_end_offset = -1, .committed_offset = 0},
                .want_known = false,
                .want_negative = true},
        LagCase{.name = "StartAfterEndUnknown",
                .p = {.log_start_offset = 10, .log_end_offset = 5, .committed_offset = 0},
                .want_known = false,
                .want_negative = true},
        LagCase{.name = "Int64MaxEndFromZeroIsExact",
                .p = {.log_start_offset = 0, .log_end_offset = kMax64, .committed_offset = 0},
                .want_lag = kMax64},
        LagCase{
            .name = "Int64MaxEndOneBehindIsExact",
            .p = {.log_start_offset = 0, .log_end_offset = kMax64, .committed_offset = kMax64 - 1},
            .want_lag = 1},
        LagCase{.name = "Int64MaxEarliestIsExact",
                .p = {.log_start_offset = 0, .log_end_offset = kMax64},
                .reset = OffsetResetPolicy::kEarliest,
                .want_lag = kMax64,
                .want_missing = true}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// desired = ceil(totalLag / lagThreshold), ceiling, bounds.

struct DesiredCase {
  std::string name;
  std::vector<PartitionObservation> partitions;
  int32_t current = 1;
  Spec spec = BaseSpec();
  int32_t want_desired = 0;
  int32_t want_ceiling = 0;
  int64_t want_total_lag = -1;  // -1: don't check
  bool want_at_ceiling = false;
};

void PrintTo(const DesiredCase& c, std::ostream* os) { *os << c.name; }

class DesiredTest : public ::testing::TestWithParam<DesiredCase> {};

TEST_P(DesiredTest, Decides) {
  const DesiredCase& c = GetParam();
  const Decision d = Decide(Obs(c.partitions, c.current), {}, c.spec, kT0);
  EXPECT_EQ(d.desired, c.want_desired) << d.message;
  EXPECT_EQ(d.ceiling, c.want_ceiling) << d.message;
  EXPECT_EQ(d.flags.at_ceiling, c.want_at_ceiling) << d.message;
  if (c.want_total_lag >= 0) {
    EXPECT_EQ(d.total_lag, c.want_total_lag);
  }
}

Spec With(Spec spec, auto&& change) {
  change(spec);
  return spec;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DesiredTest,
    ::testing::Values(
        DesiredCase{.name = "ZeroLagKeepsMinReplicas",
                    .partitions = Uniform(12, 0),
                    .current = 1,
                    .want_desired = 1,
                    .want_ceiling = 12,
                    .want_total_lag = 0},
        DesiredCase{.name = "LagExactlyOneThreshold",
                    .partitions = WithTotalLag(12, 1000),
                    .want_desired = 1,
                    .want_ceiling = 12},
        DesiredCase{.name = "LagOneOverThresholdRoundsUp",
                    .partitions = WithTotalLag(12, 1001),
                    .want_desired = 2,
                    .want_ceiling = 12},
        DesiredCase{.name = "LagOverThresholdDividesUp",
                    .partitions = WithTotalLag(12, 12000),
                    .current = 4,
                    .spec = With(BaseSpec(), [](Spec& s) { s.lag_threshold = 3000; }),
                    .want_desired = 4,
                    .want_ceiling = 12,
                    .want_total_lag = 12000},
        DesiredCase{.name = "CeilingIsPartitionCount",
                    .partitions = WithTotalLag(12, 1'000'000),
                    .current = 12,
                    .want_desired = 12,
                    .want_ceiling = 12,
                    .want_at_ceiling = true},
        DesiredCase{.name = "CeilingIsMaxReplicas",
                    .partitions = WithTotalLag(12, 1'000'000),
                    .current = 8,
                    .spec = With(BaseSpec(), [](Spec& s) { s.max_replicas = 8; }),
                    .want_desired = 8,
                    .want_ceiling = 8,
                    .want_at_ceiling = true},
        DesiredCase{.name = "NoDeadZoneBelowCeiling63Of64",
                    .partitions = WithTotalLag(64, 63'001),
                    .current = 63,
                    .want_desired = 64,
                    .want_ceiling = 64,
                    .want_at_ceiling = true},
        DesiredCase{.name = "ConsumersPerReplicaDividesCeiling",
                    .partitions = WithTotalLag(12, 1'000'000),
                    .current = 3,
                    .spec = With(BaseSpec(), [](Spec& s) { s.consumers_per_replica = 5; }),
                    .want_desired = 3,
                    .want_ceiling = 3,
                    .want_at_ceiling = true},
        DesiredCase{.name = "AllowIdleConsumersLiftsPartitionCeiling",
                    .partitions = WithTotalLag(4, 20'000),
                    .current = 20,
                    .spec = With(BaseSpec(),
                                 [](Spec& s) {
                                   s.allow_idle_consumers = true;
                                   s.max_replicas = 30;
                                 }),
                    .want_desired = 20,
                    .want_ceiling = 30},
        DesiredCase{
            .name = "LimitToPartitionsWithLag",
            .partitions =
                [] {
                  auto p = Uniform(12, 0);
                  p[3].committed_offset = *p[3].committed_offset - 50'000;
                  p[7].committed_offset = *p[7].committed_offset - 50'000;
                  return p;
                }(),
            .current = 2,
            .spec = With(BaseSpec(), [](Spec& s) { s.limit_to_partitions_with_lag = true; }),
            .want_desired = 2,
            .want_ceiling = 2,
            .want_at_ceiling = true},
        DesiredCase{.name = "MinReplicasIsFloor",
                    .partitions = Uniform(12, 0),
                    .current = 3,
                    .spec = With(BaseSpec(), [](Spec& s) { s.min_replicas = 3; }),
                    .want_desired = 3,
                    .want_ceiling = 12},
        DesiredCase{.name = "MinReplicasAbovePartitionsCapped",
                    .partitions = Uniform(2, 0),
                    .current = 2,
                    .spec = With(BaseSpec(), [](Spec& s) { s.min_replicas = 5; }),
                    .want_desired = 2,
                    .want_ceiling = 2},
        DesiredCase{.name = "SaturatedTotalLagGoesToCeiling",
                    .partitions =
                        [] {
                          auto p = Uniform(2, 0);
                          for (auto& x : p) {
                            x.log_end_offset = kMax64;
                            x.committed_offset = 0;
                          }
                          return p;
                        }(),
                    .current = 2,
                    .want_desired = 2,
                    .want_ceiling = 2,
                    .want_total_lag = kMax64,
                    .want_at_ceiling = true},
        DesiredCase{.name = "SeveralTopicsAddUp",
                    .partitions =
                        [] {
                          auto p = Uniform(3, 1000, "a");
                          auto q = Uniform(5, 1000, "b");
                          p.insert(p.end(), q.begin(), q.end());
                          return p;
                        }(),
                    .current = 8,
                    .want_desired = 8,
                    .want_ceiling = 8,
                    .want_total_lag = 8000,
                    .want_at_ceiling = true}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Alignment.

struct AlignCase {
  std::string name;
  int32_t desired;
  int32_t partitions;
  Alignment alignment;
  int32_t ceiling;
  int32_t want;
};

void PrintTo(const AlignCase& c, std::ostream* os) { *os << c.name; }

class AlignTest : public ::testing::TestWithParam<AlignCase> {};

TEST_P(AlignTest, Aligns) {
  const AlignCase& c = GetParam();
  EXPECT_EQ(Align(c.desired, c.partitions, c.alignment, c.ceiling), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, AlignTest,
    ::testing::Values(AlignCase{"NoneKeeps", 5, 12, Alignment::kNone, 12, 5},
                      AlignCase{"BalancedFiveOfTwelveIsFour", 5, 12, Alignment::kBalanced, 12, 4},
                      AlignCase{"BalancedSevenOfTwelveIsSix", 7, 12, Alignment::kBalanced, 12, 6},
                      AlignCase{"BalancedElevenOfTwelveIsSix", 11, 12, Alignment::kBalanced, 12, 6},
                      AlignCase{"BalancedDivisorKept", 6, 12, Alignment::kBalanced, 12, 6},
                      AlignCase{"BalancedOneKept", 1, 12, Alignment::kBalanced, 12, 1},
                      AlignCase{"BalancedSevenOfTen", 7, 10, Alignment::kBalanced, 10, 5},
                      AlignCase{"DivisorFiveOfTwelveIsSix", 5, 12, Alignment::kDivisor, 12, 6},
                      AlignCase{"DivisorSevenOfTwelveIsTwelve", 7, 12, Alignment::kDivisor, 12, 12},
                      AlignCase{"DivisorAboveCeilingKeeps", 7, 12, Alignment::kDivisor, 10, 7},
                      AlignCase{"DivisorPrimePartitions", 2, 7, Alignment::kDivisor, 7, 7},
                      AlignCase{"AbovePartitionsUntouched", 20, 12, Alignment::kBalanced, 30, 20},
                      AlignCase{"ZeroUntouched", 0, 12, Alignment::kDivisor, 12, 0}),
    [](const auto& info) { return info.param.name; });

TEST(DecideAlignment, BalancedIsTheDefaultAndSaysSo) {
  Spec spec = BaseSpec();
  spec.alignment = Spec{}.alignment;
  ASSERT_EQ(spec.alignment, Alignment::kBalanced);
  const Decision d = Decide(Obs(WithTotalLag(12, 5000), 4), {}, spec, kT0);
  EXPECT_EQ(d.raw, 5);
  EXPECT_EQ(d.desired, 4);
  EXPECT_THAT(d.message, HasSubstr("aligned 5 -> 4 (balanced, 3 partitions per replica)"));
}

TEST(DecideAlignment, DivisorRoundsUp) {
  Spec spec = BaseSpec();
  spec.alignment = Alignment::kDivisor;
  const Decision d = Decide(Obs(WithTotalLag(12, 5000), 4), {}, spec, kT0);
  EXPECT_EQ(d.desired, 6);
}

// ---------------------------------------------------------------------------
// Scale to and from zero.

Spec ZeroSpec() {
  Spec spec = BaseSpec();
  spec.min_replicas = 0;
  spec.activation_lag_threshold = 100;
  spec.cooldown_seconds = 60;
  return spec;
}

struct FromZeroCase {
  std::string name;
  int64_t total_lag;
  bool active_partition = false;
  int32_t want_desired;
  Reason want_reason;
};

void PrintTo(const FromZeroCase& c, std::ostream* os) { *os << c.name; }

class FromZeroTest : public ::testing::TestWithParam<FromZeroCase> {};

TEST_P(FromZeroTest, Activates) {
  const FromZeroCase& c = GetParam();
  auto partitions = WithTotalLag(12, c.total_lag);
  History history;
  if (c.active_partition) {
    partitions[5].committed_offset.reset();
    history.partitions[{"t", 5}].end_points = {{partitions[5].log_end_offset - 1, kT0}};
  }
  const Decision d = Decide(Obs(partitions, 0), history, ZeroSpec(), kT0);
  EXPECT_EQ(d.desired, c.want_desired) << d.message;
  EXPECT_EQ(d.reason, c.want_reason) << ReasonName(d.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, FromZeroTest,
    ::testing::Values(
        FromZeroCase{"NoLagStaysAtZero", 0, false, 0, Reason::kSteady},
        FromZeroCase{"LagAtActivationStaysAtZero", 100, false, 0, Reason::kSteady},
        FromZeroCase{"LagOverActivationScalesToOne", 101, false, 1, Reason::kScaleFromZero},
        FromZeroCase{"ActivePartitionWithoutCommitScalesToOne", 0, true, 1, Reason::kScaleFromZero},
        FromZeroCase{"BigLagScalesByBehavior", 50'000, false, 4, Reason::kScaleFromZero}),
    [](const auto& info) { return info.param.name; });

TEST(DecideToZero, WaitsForCooldownThenScalesToZero) {
  const Spec spec = ZeroSpec();
  Decision d = Decide(Obs(Uniform(12, 0), 1), {}, spec, kT0);
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, Reason::kCooldown) << d.message;
  EXPECT_THAT(d.message, HasSubstr("for 0s of cooldown 60s"));

  d = Decide(Obs(Uniform(12, 0), 1), d.history, spec, kT0 + seconds(59));
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, Reason::kCooldown);

  d = Decide(Obs(Uniform(12, 0), 1), d.history, spec, kT0 + seconds(60));
  EXPECT_EQ(d.desired, 0) << d.message;
  EXPECT_EQ(d.reason, Reason::kScaleToZero);
}

TEST(DecideToZero, LagDuringCooldownRestartsIt) {
  const Spec spec = ZeroSpec();
  Decision d = Decide(Obs(Uniform(12, 0), 1), {}, spec, kT0);
  d = Decide(Obs(WithTotalLag(12, 500), 1), d.history, spec, kT0 + seconds(30));
  EXPECT_EQ(d.desired, 1);
  d = Decide(Obs(Uniform(12, 0), 1), d.history, spec, kT0 + seconds(61));
  EXPECT_EQ(d.desired, 1) << "cooldown restarted at +61s";
  d = Decide(Obs(Uniform(12, 0), 1), d.history, spec, kT0 + seconds(121));
  EXPECT_EQ(d.desired, 0);
}

// ---------------------------------------------------------------------------
// Behavior: stabilization windows and rate policies, as the HPA.

struct Step {
  int64_t at_seconds;
  int64_t total_lag;
  int32_t current;
  int32_t want_desired;
  Reason want_reason;
};

struct BehaviorCase {
  std::string name;
  Spec spec = BaseSpec();
  std::vector<Step> steps;
};

void PrintTo(const BehaviorCase& c, std::ostream* os) { *os << c.name; }

class BehaviorTest : public ::testing::TestWithParam<BehaviorCase> {};

TEST_P(BehaviorTest, FollowsSteps) {
  const BehaviorCase& c = GetParam();
  History history;
  for (const Step& s : c.steps) {
    const Decision d = Decide(Obs(WithTotalLag(64, s.total_lag), s.current), history, c.spec,
                              kT0 + seconds(s.at_seconds));
    EXPECT_EQ(d.desired, s.want_desired) << "at +" << s.at_seconds << "s: " << d.message;
    EXPECT_EQ(d.reason, s.want_reason) << "at +" << s.at_seconds << "s: " << ReasonName(d.reason);
    history = d.history;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BehaviorTest,
    ::testing::Values(
        BehaviorCase{.name = "DefaultScaleDownHeldFor300s",
                     .steps = {{0, 6000, 6, 6, Reason::kSteady},
                               {60, 2000, 6, 6, Reason::kScaleDownStabilized},
                               {299, 2000, 6, 6, Reason::kScaleDownStabilized},
                               {300, 2000, 6, 2, Reason::kScaleDown}}},
        // As the HPA's recordInitialRecommendation: the replicas when the
        // history began (a new leader, a restart) count as a recommendation.
        BehaviorCase{.name = "AHistoryBegunHoldsItsReplicasForTheWindow",
                     .steps = {{0, 2000, 6, 6, Reason::kScaleDownStabilized},
                               {299, 2000, 6, 6, Reason::kScaleDownStabilized},
                               {300, 2000, 6, 2, Reason::kScaleDown}}},
        BehaviorCase{.name = "DefaultScaleDownTakesMaxOfWindow",
                     .steps = {{0, 8000, 8, 8, Reason::kSteady},
                               {100, 5000, 8, 8, Reason::kScaleDownStabilized},
                               {300, 2000, 8, 5, Reason::kScaleDown},
                               {399, 2000, 5, 5, Reason::kScaleDownStabilized},
                               {400, 2000, 5, 2, Reason::kScaleDown}}},
        BehaviorCase{.name = "DefaultScaleUpMaxOfFourPodsAndDouble",
                     .steps = {{0, 40'000, 2, 6, Reason::kScaleUpLimited},
                               {5, 40'000, 6, 6, Reason::kScaleUpLimited},
                               {15, 40'000, 6, 12, Reason::kScaleUpLimited},
                               {30, 40'000, 12, 24, Reason::kScaleUpLimited},
                               {45, 40'000, 24, 40, Reason::kScaleUp}}},
        BehaviorCase{
            .name = "ScaleUpSelectMinTakesSmallerStep",
            .spec = With(BaseSpec(),
                         [](Spec& s) { s.behavior.scale_up.select_policy = SelectPolicy::kMin; }),
            .steps = {{0, 40'000, 10, 14, Reason::kScaleUpLimited},
                      {15, 40'000, 14, 18, Reason::kScaleUpLimited}}},
        BehaviorCase{.name = "ScaleUpDisabled",
                     .spec = With(BaseSpec(),
                                  [](Spec& s) {
                                    s.behavior.scale_up.select_policy = SelectPolicy::kDisabled;
                                  }),
                     .steps = {{0, 40'000, 2, 2, Reason::kScalingDisabled}}},
        BehaviorCase{.name = "ScaleDownDisabled",
                     .spec = With(BaseSpec(),
                                  [](Spec& s) {
                                    s.behavior.scale_down.select_policy = SelectPolicy::kDisabled;
                                    s.behavior.scale_down.stabilization_window_seconds = 0;
                                  }),
                     .steps = {{0, 1000, 8, 8, Reason::kScalingDisabled}}},
        BehaviorCase{.name = "ScaleDownOnePodPerMinute",
                     .spec = With(BaseSpec(),
                                  [](Spec& s) {
                                    s.behavior.scale_down.stabilization_window_seconds = 0;
                                    s.behavior.scale_down.policies = std::vector<ScalingPolicy>{
                                        {ScalingPolicyType::kPods, 1, 60}};
                                  }),
                     .steps = {{0, 1000, 10, 9, Reason::kScaleDownLimited},
                               {15, 1000, 9, 9, Reason::kScaleDownLimited},
                               {60, 1000, 9, 8, Reason::kScaleDownLimited}}},
        BehaviorCase{.name = "ScaleDownHalfPerPeriodFloors",
                     .spec = With(BaseSpec(),
                                  [](Spec& s) {
                                    s.behavior.scale_down.stabilization_window_seconds = 0;
                                    s.behavior.scale_down.policies = std::vector<ScalingPolicy>{
                                        {ScalingPolicyType::kPercent, 50, 15}};
                                  }),
                     .steps = {{0, 1000, 9, 4, Reason::kScaleDownLimited},
                               {15, 1000, 4, 2, Reason::kScaleDownLimited},
                               {30, 1000, 2, 1, Reason::kScaleDown}}},
        BehaviorCase{
            .name = "ScaleUpWindowTakesMinOfWindow",
            .spec = With(BaseSpec(),
                         [](Spec& s) { s.behavior.scale_up.stabilization_window_seconds = 30; }),
            .steps = {{0, 2000, 2, 2, Reason::kSteady},
                      {10, 6000, 2, 2, Reason::kScaleUpStabilized},
                      {31, 6000, 2, 6, Reason::kScaleUp}}},
        BehaviorCase{
            .name = "ZeroDownWindowScalesDownAtOnce",
            .spec = With(BaseSpec(),
                         [](Spec& s) { s.behavior.scale_down.stabilization_window_seconds = 0; }),
            .steps = {{0, 6000, 6, 6, Reason::kSteady}, {10, 2000, 6, 2, Reason::kScaleDown}}}),
    [](const auto& info) { return info.param.name; });

TEST(DecideMessage, CarriesTheNumbers) {
  Spec spec = BaseSpec();
  spec.lag_threshold = 3000;
  Decision d = Decide(Obs(WithTotalLag(12, 18'000), 6), {}, spec, kT0);
  d = Decide(Obs(WithTotalLag(12, 12'000), 6), d.history, spec, kT0 + seconds(10));
  EXPECT_EQ(d.desired, 6);
  EXPECT_THAT(d.message, HasSubstr("lag 12000 / threshold 3000 = 4; ceiling 12 (12 partitions)"));
  EXPECT_THAT(d.message, HasSubstr("scale-down held by 300s window (max recommendation 6)"));
  EXPECT_THAT(d.message, HasSubstr("desired 6 (current 6)"));
}

TEST(DecideMessage, NamesMaxReplicasAsTheCeiling) {
  Spec spec = BaseSpec();
  spec.max_replicas = 5;
  const Decision d = Decide(Obs(WithTotalLag(12, 90'000), 5), {}, spec, kT0);
  EXPECT_THAT(d.message, HasSubstr("ceiling 5 (maxReplicas)"));
}

// ---------------------------------------------------------------------------
// Holds: failed observation, fallback, partial observation, paused, nothing.

TEST(DecideFailure, HoldsCurrentNeverZero) {
  Observation failed{.current_replicas = 5, .failed = true, .error = "all brokers down"};
  const Decision d = Decide(failed, {}, BaseSpec(), kT0);
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.reason, Reason::kObservationFailed);
  EXPECT_THAT(d.message, HasSubstr("all brokers down"));
  EXPECT_EQ(d.history.consecutive_failures, 1);
  EXPECT_FALSE(d.lag_known) << "a failed observation must not read as zero lag";
}

TEST(DecideFailure, FallbackAfterThresholdAndResetOnSuccess) {
  Spec spec = BaseSpec();
  spec.fallback = {.failure_threshold = 3, .replicas = 7};
  Observation failed{.current_replicas = 2, .failed = true, .error = "timeout"};
  History history;
  for (int i = 1; i <= 2; ++i) {
    const Decision d = Decide(failed, history, spec, kT0 + seconds(i));
    EXPECT_EQ(d.desired, 2) << i;
    EXPECT_EQ(d.reason, Reason::kObservationFailed);
    EXPECT_THAT(d.message, HasSubstr("failure " + std::to_string(i) + " of 3"));
    history = d.history;
  }
  Decision d = Decide(failed, history, spec, kT0 + seconds(3));
  EXPECT_EQ(d.desired, 7);
  EXPECT_EQ(d.reason, Reason::kFallback);
  d = Decide(Obs(WithTotalLag(12, 3000), 7), d.history, spec, kT0 + seconds(4));
  EXPECT_EQ(d.history.consecutive_failures, 0);
  d = Decide(failed, d.history, spec, kT0 + seconds(5));
  EXPECT_EQ(d.reason, Reason::kObservationFailed);
}

TEST(DecideFailure, AllPartitionsFailedIsAFailedObservation) {
  auto partitions = Uniform(6, 0);
  for (auto& p : partitions) p.failed = true;
  const Decision d = Decide(Obs(partitions, 3), {}, BaseSpec(), kT0);
  EXPECT_EQ(d.desired, 3);
  EXPECT_EQ(d.reason, Reason::kObservationFailed);
  EXPECT_EQ(d.history.consecutive_failures, 1);
}

TEST(DecidePartial, ScalesUpOnKnownLagButNeverDown) {
  Spec spec = BaseSpec();
  spec.behavior.scale_down.stabilization_window_seconds = 0;
  auto partitions = WithTotalLag(12, 6000);
  partitions[0].failed = true;
  Decision d = Decide(Obs(partitions, 2), {}, spec, kT0);
  EXPECT_TRUE(d.flags.partial_observation);
  EXPECT_GT(d.desired, 2) << d.message;

  auto quiet = Uniform(12, 0);
  quiet[0].failed = true;
  d = Decide(Obs(quiet, 6), {}, spec, kT0);
  EXPECT_EQ(d.desired, 6);
  EXPECT_EQ(d.reason, Reason::kPartialObservation);
  EXPECT_THAT(d.message, HasSubstr("1 of 12 partitions unreadable"));
}

TEST(DecidePaused, Holds) {
  Spec spec = BaseSpec();
  spec.paused = true;
  const Decision d = Decide(Obs(WithTotalLag(12, 90'000), 2), {}, spec, kT0);
  EXPECT_EQ(d.desired, 2);
  EXPECT_EQ(d.reason, Reason::kPaused);
  EXPECT_EQ(d.total_lag, 90'000) << "status still shows the lag";
  EXPECT_TRUE(d.lag_known);
}

TEST(DecideNoPartitions, Holds) {
  const Decision d = Decide(Obs({}, 3), {}, BaseSpec(), kT0);
  EXPECT_EQ(d.desired, 3);
  EXPECT_EQ(d.reason, Reason::kNoPartitions);
}

// ---------------------------------------------------------------------------
// Flags.

struct FlagCase {
  std::string name;
  Observation observation;
  Spec spec = BaseSpec();
  DecisionFlags want;
};

void PrintTo(const FlagCase& c, std::ostream* os) { *os << c.name; }

class FlagTest : public ::testing::TestWithParam<FlagCase> {};

TEST_P(FlagTest, Flags) {
  const FlagCase& c = GetParam();
  const Decision d = Decide(c.observation, {}, c.spec, kT0);
  EXPECT_EQ(d.flags, c.want) << d.message;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, FlagTest,
    ::testing::Values(
        FlagCase{.name = "ReplicasAbovePartitionsAreIdle",
                 .observation = Obs(Uniform(12, 0), 20),
                 .want = {.idle_members = true}},
        FlagCase{
            .name = "MembersAbovePartitionsAreIdle",
            .observation = {.partitions = Uniform(12, 0), .current_replicas = 4, .members = 14},
            .want = {.idle_members = true}},
        FlagCase{.name = "IdleConsumersAllowedAreNotWarned",
                 .observation = Obs(Uniform(12, 0), 20),
                 .spec = With(BaseSpec(), [](Spec& s) { s.allow_idle_consumers = true; }),
                 .want = {}},
        FlagCase{.name = "AtCeiling",
                 .observation = Obs(WithTotalLag(4, 9000), 4),
                 .want = {.at_ceiling = true}},
        FlagCase{.name = "CommittedBeyondEnd",
                 .observation = Obs(
                     [] {
                       auto p = Uniform(2, 0);
                       p[1].committed_offset = p[1].log_end_offset + 5;
                       return p;
                     }(),
                     1),
                 .want = {.committed_beyond_end = true}},
        FlagCase{.name = "CommittedMissingAndNegativeOffsets",
                 .observation = Obs(
                     [] {
                       auto p = Uniform(3, 0);
                       p[0].committed_offset.reset();
                       p[1].log_end_offset = -1;
                       return p;
                     }(),
                     1),
                 .want = {.partial_observation = true,
                          .committed_missing = true,
                          .negative_offsets = true}},
        FlagCase{.name = "MinAbovePartitions",
                 .observation = Obs(Uniform(2, 0), 2),
                 .spec = With(BaseSpec(), [](Spec& s) { s.min_replicas = 4; }),
                 .want = {.min_above_partitions = true}}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// ValidateSpec.

struct ValidateCase {
  std::string name;
  Spec spec;
  std::string want_error;  // empty: valid
};

void PrintTo(const ValidateCase& c, std::ostream* os) { *os << c.name; }

class ValidateTest : public ::testing::TestWithParam<ValidateCase> {};

TEST_P(ValidateTest, Validates) {
  const ValidateCase& c = GetParam();
  const Status s = ValidateSpec(c.spec);
  if (c.want_error.empty()) {
    EXPECT_TRUE(s.ok()) << s.ToString();
  } else {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(c.want_error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ValidateTest,
    ::testing::Values(
        ValidateCase{"Defaults", Spec{}, ""},
        ValidateCase{"ZeroMinAllowed", With(BaseSpec(), [](Spec& s) { s.min_replicas = 0; }), ""},
        ValidateCase{"NegativeMin", With(BaseSpec(), [](Spec& s) { s.min_replicas = -1; }),
                     "spec.minReplicas must be >= 0 (got -1)"},
        ValidateCase{"MinAboveMax",
                     With(BaseSpec(),
                          [](Spec& s) {
                            s.min_replicas = 5;
                            s.max_replicas = 4;
                          }),
                     "spec.minReplicas must be <= spec.maxReplicas (4) (got 5)"},
        ValidateCase{"ZeroThreshold", With(BaseSpec(), [](Spec& s) { s.lag_threshold = 0; }),
                     "spec.lagThreshold must be > 0"},
        ValidateCase{"ZeroConsumersPerReplica",
                     With(BaseSpec(), [](Spec& s) { s.consumers_per_replica = 0; }),
                     "spec.consumersPerReplica"},
        ValidateCase{"IdleWithLimitToLag",
                     With(BaseSpec(),
                          [](Spec& s) {
                            s.allow_idle_consumers = true;
                            s.limit_to_partitions_with_lag = true;
                          }),
                     "cannot both be true"},
        ValidateCase{
            "WindowTooLong",
            With(BaseSpec(),
                 [](Spec& s) { s.behavior.scale_down.stabilization_window_seconds = 3601; }),
            "spec.behavior.scaleDown.stabilizationWindowSeconds"},
        ValidateCase{"PolicyPeriodZero",
                     With(BaseSpec(),
                          [](Spec& s) {
                            s.behavior.scale_up.policies =
                                std::vector<ScalingPolicy>{{ScalingPolicyType::kPods, 1, 0}};
                          }),
                     "spec.behavior.scaleUp.policies[0].periodSeconds"},
        ValidateCase{
            "EmptyPoliciesNeedDisabled",
            With(BaseSpec(),
                 [](Spec& s) { s.behavior.scale_up.policies = std::vector<ScalingPolicy>{}; }),
            "must not be empty"},
        ValidateCase{"FallbackAboveMax",
                     With(BaseSpec(), [](Spec& s) { s.fallback.replicas = 101; }),
                     "spec.fallback.replicas"},
        ValidateCase{"FallbackThresholdZero",
                     With(BaseSpec(), [](Spec& s) { s.fallback.failure_threshold = 0; }),
                     "spec.fallback.failureThreshold"},
        ValidateCase{"DrainZero", With(BaseSpec(), [](Spec& s) { s.target_drain_seconds = 0; }),
                     "spec.policy.targetDrainSeconds must be between 1 and 86400 (got 0)"},
        ValidateCase{"HintZero", With(BaseSpec(), [](Spec& s) { s.per_replica_rate_hint = 0.0; }),
                     "spec.policy.perReplicaRateHint must be > 0 and < 1e15 (got 0)"},
        ValidateCase{"HintFractionAllowed",
                     With(BaseSpec(), [](Spec& s) { s.per_replica_rate_hint = 0.5; }), ""},
        ValidateCase{"RateWindowTooLong",
                     With(BaseSpec(), [](Spec& s) { s.rate_window_seconds = 3601; }),
                     "spec.policy.rateWindowSeconds must be between 1 and 3600 (got 3601)"},
        ValidateCase{"LagSecondsZero",
                     With(BaseSpec(), [](Spec& s) { s.lag_seconds_threshold = 0; }),
                     "spec.lagSecondsThreshold must be between 1 and 86400 (got 0)"},
        ValidateCase{"SettleNegative",
                     With(BaseSpec(), [](Spec& s) { s.rebalance_settle_seconds = -1; }),
                     "spec.policy.rebalanceSettleSeconds must be between 0 and 3600 (got -1)"},
        ValidateCase{"EmergencyBelowOne",
                     With(BaseSpec(), [](Spec& s) { s.emergency_lag_factor = 0.5; }),
                     "spec.policy.emergencyLagFactor must be between 1 and 1000 (got 0.5)"},
        ValidateCase{"StallZero", With(BaseSpec(), [](Spec& s) { s.stall_seconds = 0; }),
                     "spec.policy.stallSeconds must be between 1 and 86400 (got 0)"}),
    [](const auto& info) { return info.param.name; });

TEST(Defaults, AreTheHpaDefaults) {
  const ScalingRules up = DefaultScaleUp();
  EXPECT_EQ(*up.stabilization_window_seconds, 0);
  EXPECT_EQ(*up.select_policy, SelectPolicy::kMax);
  EXPECT_EQ(*up.policies, (std::vector<ScalingPolicy>{{ScalingPolicyType::kPods, 4, 15},
                                                      {ScalingPolicyType::kPercent, 100, 15}}));
  const ScalingRules down = DefaultScaleDown();
  EXPECT_EQ(*down.stabilization_window_seconds, 300);
  EXPECT_EQ(*down.policies, (std::vector<ScalingPolicy>{{ScalingPolicyType::kPercent, 100, 15}}));
}

}  // namespace
}  // namespace groupscaler::policy
