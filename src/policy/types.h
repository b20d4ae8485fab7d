#pragma once

// The values the pure decision core works on: what was observed of a consumer
// group, what the user asked for, what was decided before, and what is
// decided now. Plain data; no I/O anywhere in src/policy.

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace groupscaler::policy {

// ---------------------------------------------------------------------------
// Spec: the scaling part of a ConsumerGroupAutoscaler's spec.

// What a consumer does on a partition where its group never committed: the
// consumers' `auto.offset.reset`. Kafka's default is latest.
enum class OffsetResetPolicy { kLatest, kEarliest };

// How the replica count is rounded so that partitions spread evenly.
enum class Alignment {
  kNone,
  // The smallest count whose busiest replica holds no more partitions than at
  // the raw count (12 partitions, 5 -> 4: five replicas leave one with 3).
  kBalanced,
  // Round up to a divisor of the partition count (12 partitions, 5 -> 6).
  kDivisor,
};

// As the HPA's behavior.*.policies[].type.
enum class ScalingPolicyType { kPods, kPercent };

// As the HPA's behavior.*.selectPolicy.
enum class SelectPolicy { kMax, kMin, kDisabled };

struct ScalingPolicy {
  ScalingPolicyType type = ScalingPolicyType::kPods;
  int32_t value = 0;  // pods, or percent of the replicas at the period's start
  int32_t period_seconds = 15;
  friend bool operator==(const ScalingPolicy&, const ScalingPolicy&) = default;
};

// One direction of behavior. Unset fields take the HPA's defaults for that
// direction (see DefaultScaleUp, DefaultScaleDown).
struct ScalingRules {
  std::optional<int32_t> stabilization_window_seconds;
  std::optional<SelectPolicy> select_policy;
  std::optional<std::vector<ScalingPolicy>> policies;
  friend bool operator==(const ScalingRules&, const ScalingRules&) = default;
};

struct Behavior {
  ScalingRules scale_up;
  ScalingRules scale_down;
  friend bool operator==(const Behavior&, const Behavior&) = default;
};

struct Fallback {
  // Consecutive failed observations before `replicas` applies.
  int32_t failure_threshold = 3;
  // Unset: hold the current replicas however long observation fails.
  std::optional<int32_t> replicas;
  friend bool operator==(const Fallback&, const Fallback&) = default;
};

// spec.policy.type: what the replica count is computed from.
enum class PolicyType {
  kLag,  // ceil(lag / lagThreshold), as KEDA's Kafka scaler
  // The fewest replicas whose busiest one carries its partitions' share of
  // produceRate + lag / targetDrainSeconds at perReplicaRate (the default).
  kThroughput,
};

struct Spec {
  PolicyType policy_type = PolicyType::kThroughput;
  // Throughput policy: how fast the backlog should be drained.
  int64_t target_drain_seconds = 60;
  // Throughput policy: messages/s one replica sustains, the prior until one
  // is learned.
  std::optional<double> per_replica_rate_hint;
  // Window over which produce and consume rates are smoothed.
  int64_t rate_window_seconds = 60;
  // Alternative target: the oldest unconsumed message's age, seconds.
  std::optional<int64_t> lag_seconds_threshold;
  // After a scale change, hold further changes this long (or until the
  // group's members equal the replicas, where the broker reports them)...
  int64_t rebalance_settle_seconds = 30;
  // ... unless lag grew past this factor of the lag at the change.
  double emergency_lag_factor = 2.0;
  // A partition with lag whose committed offset did not move this long
  // while the group has members is stalled.
  int64_t stall_seconds = 120;
  int32_t min_replicas = 1;  // 0 allows scale to zero
  int32_t max_replicas = 10;
  int32_t consumers_per_replica = 1;     // consumer threads per replica
  int64_t lag_threshold = 1000;          // target backlog per replica, messages
  int64_t activation_lag_threshold = 0;  // only for 0 <-> 1
  OffsetResetPolicy offset_reset_policy = OffsetResetPolicy::kLatest;
  Alignment alignment = Alignment::kBalanced;
  bool allow_idle_consumers = false;
  bool limit_to_partitions_with_lag = false;
  // How long lag must stay at or below activation_lag_threshold before
  // scaling to zero.
  int64_t cooldown_seconds = 300;
  Behavior behavior;
  Fallback fallback;
  bool paused = false;
  friend bool operator==(const Spec&, const Spec&) = default;
};

// ---------------------------------------------------------------------------
// Observation: one reading of the group and its topics.

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

struct PartitionObservation {
  std::string topic;
  int32_t partition = 0;
  int64_t log_start_offset = 0;
  int64_t log_end_offset = 0;
  // Absent where the group never committed on this partition.
  std::optional<int64_t> committed_offset;
  // The records a read_committed consumer would still be given from
  // committed_offset up to log_end_offset, where the reader counted them:
  // transaction markers and aborted records take offsets but are never
  // given. Unset where not counted: then every offset in between counts.
  std::optional<int64_t> records_after_commit;
  // The offsets of this partition could not be read; the others are valid.
  bool failed = false;
};

struct Observation {
  std::vector<PartitionObservation> partitions;
  int32_t current_replicas = 0;
  // Members of the group where the broker reports them; unknown otherwise.
  std::optional<int32_t> members;
  // Whether the group's state is Stable (not rebalancing), where the broker
  // describes groups; unknown otherwise.
  std::optional<bool> group_stable;
  // The whole observation failed (Kafka unreachable, deadline exceeded): no
  // offset in it means anything, and it must never read as zero lag.
  bool failed = false;
  std::string error;  // why it failed, for the decision's message
};

// ---------------------------------------------------------------------------
// History: what Decide needs to remember between reconciles. Decide takes it
// by value and returns the next one, so a reconcile can be replayed exactly.

struct Recommendation {
  Timestamp time;
  int32_t replicas = 0;
  friend bool operator==(const Recommendation&, const Recommendation&) = default;
};

// A change of the replica count that Decide asked for (`delta` > 0 up).
struct ScaleEvent {
  Timestamp time;
  int32_t delta = 0;
  friend bool operator==(const ScaleEvent&, const ScaleEvent&) = default;
};

// A partition's log-end offset seen at a time: the message at offset
// `offset` had not been produced yet at `time`.
struct OffsetPoint {
  int64_t offset = 0;
  Timestamp time;
  friend bool operator==(const OffsetPoint&, const OffsetPoint&) = default;
};

// At most this many OffsetPoints are kept per partition (see
// PartitionTrack::end_points).
inline constexpr size_t kMaxOffsetPoints = 48;

// What is remembered of one partition from its last successful observation.
struct PartitionTrack {
  // Oldest first, offsets non-decreasing, the last one the latest
  // observation's. Of a run of equal offsets only the first and the last are
  // kept; beyond kMaxOffsetPoints the interior point whose neighbours are
  // closest relative to their age goes, so resolution is fine for recent
  // messages and coarser for old ones while the table reaches back as far as
  // it ever did.
  std::vector<OffsetPoint> end_points;
  // The committed offset at the last observation (absent: none).
  std::optional<int64_t> committed;
  // The partition's lag at the last observation, messages.
  int64_t lag = 0;
  // When the committed offset last changed (or the partition was first seen).
  Timestamp commit_moved_at;
  // The later of commit_moved_at and the last time the partition had no lag:
  // the stall window runs from here.
  Timestamp progress_at;
  friend bool operator==(const PartitionTrack&, const PartitionTrack&) = default;
};

// Offsets gained by one topic between two successive observations.
struct RateSample {
  Timestamp time;                 // of the later observation
  double seconds = 0;             // between the two observations
  double produced = 0;            // log-end offsets' growth
  double consumed = 0;            // committed offsets' growth
  double produced_unstalled = 0;  // of `produced`, on partitions not stalled
  friend bool operator==(const RateSample&, const RateSample&) = default;
};

// At most this many RateSamples are kept per topic; beyond it the two oldest
// are merged into one.
inline constexpr size_t kMaxRateSamples = 128;

// The last change of the replica count that Decide asked for.
struct ScaleChange {
  Timestamp time;
  int32_t from = 0;      // the replicas before
  int32_t replicas = 0;  // asked for
  int64_t lag = 0;       // the scaling signal's lag at the change
  // When the group was first seen settled after the change and, for a
  // scale-down that took effect, how much the lag had grown by then: the
  // backlog the change's rebalance left (after a scale-up, the growth is
  // also the old count falling behind, so none is put down to the
  // rebalance).
  std::optional<Timestamp> settled_at;
  int64_t rebalance_backlog = 0;
  friend bool operator==(const ScaleChange&, const ScaleChange&) = default;
};

struct History {
  // When the history began: the first Decide of this autoscaler by this
  // controller (a new autoscaler, a restart, a new leader).
  std::optional<Timestamp> began;
  // Raw recommendations, pruned to the longest stabilization window. The
  // first is the replicas when the history began, as the HPA's
  // recordInitialRecommendation: a controller that starts afresh scales
  // down only after a whole scale-down window.
  std::vector<Recommendation> recommendations;
  // Replica changes, pruned to the longest policy period.
  std::vector<ScaleEvent> scale_events;
  // Per partition observed at the last successful observation (a partition
  // that failed keeps its older track; one no longer observed is dropped).
  std::map<TopicPartition, PartitionTrack> partitions;
  // Per topic observed, the samples within spec.rate_window_seconds.
  std::map<std::string, std::vector<RateSample>> rate_samples;
  // The last successful observation: when, and the replicas and members
  // then.
  std::optional<Timestamp> last_observed;
  int32_t last_replicas = 0;
  std::optional<int32_t> last_members;
  // Messages/s one replica sustains, learned from intervals in which the
  // group was saturated; unset until the first such interval.
  std::optional<double> per_replica_rate;
  // The saturated intervals per_replica_rate was learned from.
  int64_t saturated_intervals = 0;
  // The most messages/s per working replica consumed in any interval at one
  // size: what a replica sustains is at least this. Unset until the first.
  std::optional<double> per_replica_rate_lower_bound;
  std::optional<ScaleChange> last_change;
  // Changes Decide asked for since the history began.
  int64_t rebalances_caused = 0;
  int32_t consecutive_failures = 0;
  // Since when total lag has been at or below activation_lag_threshold.
  std::optional<Timestamp> low_lag_since;
  friend bool operator==(const History&, const History&) = default;
};

// ---------------------------------------------------------------------------
// Decision.

enum class Reason {
  kScaleUp,
  kScaleDown,
  kSteady,               // desired equals current
  kScaleDownStabilized,  // a lower count was held by the scale-down window
  kScaleUpStabilized,    // a higher count was held by the scale-up window
  kScaleUpLimited,       // behavior.scaleUp.policies limited the step
  kScaleDownLimited,     // behavior.scaleDown.policies limited the step
  kScalingDisabled,      // selectPolicy Disabled in the wanted direction
  kScaleFromZero,
  kScaleToZero,
  kCooldown,  // at zero lag, waiting cooldownSeconds before zero
  kPaused,
  kObservationFailed,   // hold: the observation failed
  kFallback,            // fallback.replicas after failureThreshold failures
  kNoPartitions,        // hold: no partition was observed
  kPartialObservation,  // scale-down held: some partitions could not be read
  kRebalanceSettling,   // held: the group has not settled since the last change
};

// "ScaleUp", "ScaleDownStabilized", ... (CamelCase, as Kubernetes reasons).
const char* ReasonName(Reason reason);

struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t lag = 0;
  bool known = true;  // false where the partition's observation failed
  // No commit yet and the log end advanced since the last observation: the
  // group would have work that lag (under `latest`) does not show.
  bool active = false;
  bool committed_beyond_end = false;  // clamped to the end
  bool committed_missing = false;
  // Below the log start (records deleted past it): lag as without a commit.
  bool committed_below_start = false;
  bool negative_offsets = false;  // an offset < 0 or start > end: lag unknown
  // How old the oldest unconsumed message is, estimated from the history of
  // (log-end offset, time seen) points; unset when the table is too short to
  // say (never guessed) or the partition has no lag (then 0).
  std::optional<double> time_lag_seconds;
  // Lag, and the committed offset has not moved over the stall window while
  // the group has members: more replicas cannot help (left out of the signal).
  bool stalled = false;
  // Lag, and the group stopped committing on every partition altogether.
  bool stopped = false;
};

// Rates of one topic from successive observations, smoothed over the rate
// window, in messages per second. Unset until two observations are known.
struct TopicRate {
  std::string topic;
  std::optional<double> produce_rate;  // log-end offsets' growth
  std::optional<double> consume_rate;  // committed offsets' growth
};

struct DecisionFlags {
  bool at_ceiling = false;  // lag asks for at least the ceiling
  // Members or current replicas above the partition ceiling, unless
  // allowIdleConsumers allows them.
  bool idle_members = false;
  bool partial_observation = false;  // some partitions failed: lag is a lower bound
  bool committed_beyond_end = false;
  bool committed_missing = false;
  bool negative_offsets = false;
  bool min_above_partitions = false;  // minReplicas capped at the partition ceiling
  // The throughput policy fell back to the lag policy: the per-replica rate
  // or a topic's produce rate is not known yet.
  bool throughput_fallback = false;
  // The group stopped committing altogether (see PartitionLag::stopped).
  bool group_stopped = false;
  // Lag grew past emergencyLagFactor while the group was settling: the
  // settling hold was lifted for a scale-up.
  bool emergency = false;
  friend bool operator==(const DecisionFlags&, const DecisionFlags&) = default;
};

struct Decision {
  int32_t current = 0;
  int32_t desired = 0;
  int32_t raw = 0;      // what the policy's targets ask for, before bounds
  int32_t ceiling = 0;  // min(maxReplicas, partition ceiling)
  int32_t partitions = 0;
  int32_t partitions_with_lag = 0;
  int64_t total_lag = 0;  // saturates at INT64_MAX
  // False when the observation failed or held no partitions: total_lag then
  // means nothing and must not be shown or exported as zero.
  bool lag_known = false;
  Reason reason = Reason::kSteady;
  // One line with the numbers that made the decision.
  std::string message;
  DecisionFlags flags;
  std::vector<PartitionLag> partition_lags;
  std::vector<TopicRate> topic_rates;
  // Time lag over the partitions whose time lag is known; unset when none is.
  std::optional<double> max_time_lag_seconds;
  std::optional<double> total_time_lag_seconds;
  // Partitions flagged stalled (see PartitionLag::stalled), in order.
  std::vector<TopicPartition> stalled_partitions;
  // Messages per second one replica sustains: learned, else the spec's hint;
  // unset while unknown.
  std::optional<double> per_replica_rate;
  // Scale changes Decide has asked for since the history began: each costs
  // the group a rebalance.
  int64_t rebalances_caused = 0;
  History history;  // to pass to the next Decide
};

}  // namespace groupscaler::policy
