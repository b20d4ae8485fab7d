// Properties of Decide over seeded random inputs: bounds, the partition
// ceiling, monotonicity in lag, and determinism. Seeds are fixed so a failure
// replays; the seed is printed with it.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "policy/policy.h"

namespace groupscaler::policy {
namespace {

using std::chrono::seconds;

const Timestamp kT0 = Timestamp{} + std::chrono::hours(24 * 365 * 50);
constexpr int kCasesPerSeed = 400;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Coin(double p = 0.5) { return std::bernoulli_distribution(p)(rng_); }

  Spec RandomSpec() {
    Spec s;
    s.min_replicas = static_cast<int32_t>(Int(0, 4));
    s.max_replicas = static_cast<int32_t>(Int(std::max(1, s.min_replicas), 80));
    s.consumers_per_replica = static_cast<int32_t>(Int(1, 4));
    s.lag_threshold = Int(1, 5000);
    s.activation_lag_threshold = Int(0, 200);
    s.offset_reset_policy = Coin() ? OffsetResetPolicy::kEarliest : OffsetResetPolicy::kLatest;
    s.alignment = static_cast<Alignment>(Int(0, 2));
    s.allow_idle_consumers = Coin(0.15);
    s.limit_to_partitions_with_lag = !s.allow_idle_consumers && Coin(0.2);
    s.cooldown_seconds = Int(0, 120);
    if (Coin(0.3))
      s.behavior.scale_down.stabilization_window_seconds = static_cast<int32_t>(Int(0, 600));
    if (Coin(0.3))
      s.behavior.scale_up.stabilization_window_seconds = static_cast<int32_t>(Int(0, 60));
    if (Coin(0.2)) {
      s.behavior.scale_down.policies = std::vector<ScalingPolicy>{
          {Coin() ? ScalingPolicyType::kPods : ScalingPolicyType::kPercent,
           static_cast<int32_t>(Int(1, 100)), static_cast<int32_t>(Int(1, 120))}};
    }
    if (Coin(0.2)) s.behavior.scale_up.select_policy = SelectPolicy::kMin;
    s.policy_type = Coin() ? PolicyType::kThroughput : PolicyType::kLag;
    if (Coin(0.5)) s.per_replica_rate_hint = static_cast<double>(Int(1, 100'000));
    s.target_drain_seconds = Int(1, 600);
    s.rate_window_seconds = Int(1, 600);
    if (Coin(0.3)) s.lag_seconds_threshold = Int(1, 600);
    s.rebalance_settle_seconds = Int(0, 120);
    s.emergency_lag_factor = 1.0 + static_cast<double>(Int(0, 40)) / 10;
    s.stall_seconds = Int(1, 600);
    return s;
  }

  std::vector<PartitionObservation> RandomPartitions() {
    const int n = static_cast<int>(Int(1, 64));
    std::vector<PartitionObservation> out;
    for (int i = 0; i < n; ++i) {
      const bool huge = Coin(0.05);
      const int64_t end =
          huge ? std::numeric_limits<int64_t>::max() - Int(0, 10) : Int(0, 2'000'000);
      const int64_t start = Int(0, end / 4);
      PartitionObservation p{.topic = Coin(0.8) ? "a" : "b",
                             .partition = i,
                             .log_start_offset = start,
                             .log_end_offset = end};
      if (!Coin(0.1)) p.committed_offset = Int(0, end);
      out.push_back(p);
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

// Replays a random run of several reconciles, so history matters too.
struct Run {
  Spec spec;
  History history;
  int32_t current;
  Timestamp now;
};

int32_t PartitionCap(const Decision& d, const Spec& spec) {
  return PartitionCeiling(d.partitions, spec.consumers_per_replica);
}

class PolicyProperty : public ::testing::TestWithParam<uint64_t> {};

TEST_P(PolicyProperty, DesiredWithinFloorAndCeiling) {
  Gen gen(GetParam());
  for (int i = 0; i < kCasesPerSeed; ++i) {
    const Spec spec = gen.RandomSpec();
    ASSERT_TRUE(ValidateSpec(spec).ok());
    History history;
    int32_t current = static_cast<int32_t>(gen.Int(0, 10));
    Timestamp now = kT0;
    for (int step = 0; step < 8; ++step) {
      const Observation obs{.partitions = gen.RandomPartitions(), .current_replicas = current};
      const Decision d = Decide(obs, history, spec, now);
      const int32_t cap = PartitionCap(d, spec);
      const int32_t floor =
          spec.allow_idle_consumers ? spec.min_replicas : std::min(spec.min_replicas, cap);
      // Inside the bounds, a decision stays inside them. From outside (a
      // hand-scaled target, a new ceiling) it moves towards them without
      // overshooting, as fast as behavior allows. Holds keep `current`.
      const int32_t lo = std::min(floor, d.ceiling);
      const bool hold = d.reason == Reason::kScalingDisabled || d.reason == Reason::kPaused ||
                        d.reason == Reason::kPartialObservation ||
                        d.reason == Reason::kRebalanceSettling;
      const std::string where =
          "seed " + std::to_string(GetParam()) + " case " + std::to_string(i) + ": " + d.message;
      if (hold) {
        EXPECT_EQ(d.desired, current) << where;
      } else if (current >= lo && current <= d.ceiling) {
        EXPECT_LE(d.desired, d.ceiling) << where;
        if (!(floor == 0 && d.desired == 0)) {
          EXPECT_GE(d.desired, lo) << where;
        }
      } else if (current < lo) {
        EXPECT_GE(d.desired, current) << where;
        EXPECT_LE(d.desired, d.ceiling) << where;
      } else {
        EXPECT_LE(d.desired, current) << where;
        EXPECT_GE(d.desired, lo) << where;
      }
      EXPECT_GE(d.desired, 0);
      // Never above the partitions unless allowed, once inside them.
      if (!spec.allow_idle_consumers && current <= cap) {
        EXPECT_LE(d.desired, cap) << "seed " << GetParam() << " case " << i << ": " << d.message;
      }
      history = d.history;
      current = d.desired;
      now += seconds(gen.Int(1, 120));
    }
  }
}

TEST_P(PolicyProperty, MonotoneInLag) {
  Gen gen(GetParam());
  for (int i = 0; i < kCasesPerSeed; ++i) {
    const Spec spec = gen.RandomSpec();
    auto partitions = gen.RandomPartitions();
    const int32_t current = static_cast<int32_t>(gen.Int(0, 20));
    // Some history, the same for both.
    History history;
    Timestamp now = kT0;
    for (int step = 0; step < 3; ++step) {
      history = Decide({.partitions = gen.RandomPartitions(), .current_replicas = current}, history,
                       spec, now)
                    .history;
      now += seconds(gen.Int(1, 60));
    }
    auto more = partitions;
    const size_t k = static_cast<size_t>(gen.Int(0, static_cast<int64_t>(more.size()) - 1));
    // More lag on partition k: its committed offset moves back.
    more[k].committed_offset = more[k].log_start_offset;
    const Decision less_lag =
        Decide({.partitions = partitions, .current_replicas = current}, history, spec, now);
    const Decision more_lag =
        Decide({.partitions = more, .current_replicas = current}, history, spec, now);
    ASSERT_GE(more_lag.total_lag, less_lag.total_lag);
    EXPECT_GE(more_lag.desired, less_lag.desired)
        << "seed " << GetParam() << " case " << i << "\nless: " << less_lag.message
        << "\nmore: " << more_lag.message;
  }
}

TEST_P(PolicyProperty, SameInputsSameDecision) {
  Gen gen(GetParam());
  for (int i = 0; i < kCasesPerSeed; ++i) {
    const Spec spec = gen.RandomSpec();
    History history;
    int32_t current = static_cast<int32_t>(gen.Int(0, 10));
    Timestamp now = kT0;
    for (int step = 0; step < 5; ++step) {
      const Observation obs{.partitions = gen.RandomPartitions(), .current_replicas = current};
      const Decision a = Decide(obs, history, spec, now);
      const Decision b = Decide(obs, history, spec, now);
      EXPECT_EQ(a.desired, b.desired);
      EXPECT_EQ(a.reason, b.reason);
      EXPECT_EQ(a.message, b.message);
      EXPECT_EQ(a.flags, b.flags);
      EXPECT_EQ(a.history, b.history);
      history = a.history;
      current = a.desired;
      now += seconds(gen.Int(1, 60));
    }
  }
}

TEST_P(PolicyProperty, FailedObservationNeverReadsAsZero) {
  Gen gen(GetParam());
  for (int i = 0; i < kCasesPerSeed; ++i) {
    Spec spec = gen.RandomSpec();
    const int32_t current = static_cast<int32_t>(gen.Int(1, 30));
    History history;
    history.consecutive_failures = static_cast<int32_t>(gen.Int(0, 10));
    const Decision d =
        Decide({.current_replicas = current, .failed = true, .error = "down"}, history, spec, kT0);
    EXPECT_EQ(d.desired, current);
    EXPECT_EQ(d.reason, Reason::kObservationFailed);
  }
}

// Long runs of a growing workload: whatever the history remembers stays
// within its bounds.
TEST_P(PolicyProperty, HistoryStaysBounded) {
  Gen gen(GetParam());
  Spec spec = gen.RandomSpec();
  spec.rate_window_seconds = 3600;
  const int partitions = static_cast<int>(gen.Int(1, 32));
  std::vector<int64_t> ends(partitions, 0);
  std::vector<int64_t> committed(partitions, 0);
  History history;
  int32_t current = 1;
  Timestamp now = kT0;
  std::map<TopicPartition, Timestamp> first_read;
  for (int step = 0; step < 3000; ++step) {
    Observation obs{.current_replicas = current, .members = current};
    for (int p = 0; p < partitions; ++p) {
      ends[p] += gen.Int(0, 1000) * (gen.Coin(0.1) ? 0 : 1);
      committed[p] += gen.Int(0, ends[p] - committed[p]);
      const bool failed = gen.Coin(0.02);
      const std::string topic = p % 2 == 0 ? "a" : "b";
      if (!failed) first_read.try_emplace({topic, p}, now);
      obs.partitions.push_back({.topic = topic,
                                .partition = p,
                                .log_end_offset = ends[p],
                                .committed_offset = committed[p],
                                .failed = failed});
    }
    const Decision d = Decide(obs, history, spec, now);
    history = d.history;
    current = d.desired;
    now += seconds(gen.Int(1, 5));
  }
  EXPECT_LE(history.partitions.size(), static_cast<size_t>(partitions));
  for (const auto& [key, track] : history.partitions) {
    EXPECT_LE(track.end_points.size(), kMaxOffsetPoints);
    EXPECT_EQ(track.end_points.front().time, first_read[key]) << "the table reaches back";
  }
  EXPECT_LE(history.rate_samples.size(), 2u);
  for (const auto& [topic, samples] : history.rate_samples) {
    EXPECT_LE(samples.size(), kMaxRateSamples);
  }
  // At least a second between decisions: one per second of the longest
  // window (up to 3600 s) or period (up to 1800 s).
  EXPECT_LE(history.recommendations.size(), 3601u);
  EXPECT_LE(history.scale_events.size(), 1801u);
}

// A stalled partition's lag and produce rate never add to the replicas.
TEST_P(PolicyProperty, StalledLagNeverRaisesDesired) {
  Gen gen(GetParam());
  for (int i = 0; i < kCasesPerSeed / 4; ++i) {
    Spec spec = gen.RandomSpec();
    spec.stall_seconds = gen.Int(1, 60);
    const int partitions = static_cast<int>(gen.Int(2, 16));
    const int stuck = static_cast<int>(gen.Int(0, partitions - 1));
    const int32_t current = static_cast<int32_t>(gen.Int(1, 10));
    std::vector<int64_t> ends(partitions, 1000);
    History history;
    Timestamp now = kT0;
    auto observe = [&](int64_t extra_stuck_end) {
      Observation obs{.current_replicas = current, .members = current};
      for (int p = 0; p < partitions; ++p) {
        obs.partitions.push_back({.topic = "t",
                                  .partition = p,
                                  .log_end_offset = ends[p] + (p == stuck ? extra_stuck_end : 0),
                                  .committed_offset = p == stuck ? 0 : ends[p] - gen.Int(0, 50)});
      }
      return obs;
    };
    for (int64_t t = 0; t <= spec.stall_seconds + 10; t += 10) {
      for (int64_t& end : ends) end += gen.Int(1, 1000);
      history = Decide(observe(0), history, spec, now).history;
      now += seconds(10);
    }
    for (int64_t& end : ends) end += gen.Int(1, 1000);
    const Observation base = observe(0);
    Observation more = base;
    more.partitions[stuck].log_end_offset += gen.Int(1, 1'000'000);
    const Decision a = Decide(base, history, spec, now);
    const Decision b = Decide(more, history, spec, now);
    ASSERT_TRUE(a.partition_lags[stuck].stalled) << a.message;
    ASSERT_TRUE(b.partition_lags[stuck].stalled) << b.message;
    EXPECT_EQ(a.desired, b.desired) << "seed " << GetParam() << " case " << i << "\n"
                                    << a.message << "\n"
                                    << b.message;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, PolicyProperty, ::testing::Values(1u, 2u, 3u, 42u, 2026u));

}  // namespace
}  // namespace groupscaler::policy
