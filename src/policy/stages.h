#pragma once

// The stages of policy::Decide, in the order it runs them. Internal to
// src/policy (and its tests): callers use policy.h. Each stage is a pure
// function from values to a small value; Decide feeds one stage's result to
// the next, and builds the reason and message from all of them at the end
// (ChooseReason, DescribePipeline), so no stage writes text or sets a flag
// for a later one.

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "policy/types.h"

namespace groupscaler::policy::stages {

inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
inline constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

// a + b saturating at kInt64Max; both >= 0.
inline int64_t SaturatingAdd(int64_t a, int64_t b) { return a > kInt64Max - b ? kInt64Max : a + b; }

// `v` clamped to [0, kInt32Max].
int32_t ClampToInt32(int64_t v);

inline double ToSeconds(Timestamp::duration d) { return std::chrono::duration<double>(d).count(); }

inline std::chrono::milliseconds Seconds(int64_t s) { return std::chrono::seconds(s); }

// ---------------------------------------------------------------------------
// 1. Observe lag.

// A known partition between the last observation and this one.
struct PartitionStep {
  // The partition was read at the last observation too and its log did not
  // shrink since: the fields below mean something.
  bool has_previous = false;
  int64_t produced = 0;
  int64_t consumed = 0;
  int64_t previous_lag = 0;
  int64_t lag = 0;  // at this observation
};

struct LagObservation {
  // One per observed partition, in the observation's order (every vector
  // below is indexed the same way).
  std::vector<PartitionLag> partition_lags;
  // Default (no previous) for a partition whose observation failed.
  std::vector<PartitionStep> steps;
  // Of a partition with lag: its time lag, or where the offset table does
  // not reach back that far, the table's span (a lower bound); else 0.
  std::vector<double> age_bounds;
  // The next history's tracks: each known partition's advanced to now, an
  // unknown one's kept as it was, a partition no longer observed dropped.
  std::map<TopicPartition, PartitionTrack> tracks;
  int64_t total_lag = 0;            // over known partitions, saturating
  int32_t partitions_with_lag = 0;  // known, with lag or active
  int32_t unknown = 0;              // partitions whose lag is not known
  bool any_active = false;
  bool committed_beyond_end = false;
  bool committed_missing = false;
  bool negative_offsets = false;
};

// Lag per partition (ComputePartitionLag) against the log-end offsets of
// `history`'s tracks, each known partition's track advanced to this
// observation (a new end point, its commit, when it last moved and last
// made progress) and its time lag read from that table. Never reads lag
// into a partition that failed: it counts in `unknown` and nowhere else.
// The track of a known partition moves from history.partitions into the
// result, advanced where it is (no allocation: a controller keeps thousands);
// the others stay in `history`.
LagObservation ObserveLag(const Observation& observation, History& history, OffsetResetPolicy reset,
                          Timestamp now);

// ---------------------------------------------------------------------------
// 2. Stalls and the scaling signal.

// `lags` with `stalled` or `stopped` set on each known partition with lag
// whose track (in `tracks`) made no progress for `stall_window`: more
// replicas cannot help a stalled one, so it leaves the signal. Stalled needs
// the group to have members and some partition's commit to have moved
// within the window (a poison message, a stuck thread); otherwise the whole
// group stopped, and replicas may be exactly what it lacks. Partitions
// without lag, or unknown, are returned as they came.
std::vector<PartitionLag> MarkStalls(std::vector<PartitionLag> lags,
                                     const std::map<TopicPartition, PartitionTrack>& tracks,
                                     bool has_members, Timestamp::duration stall_window,
                                     Timestamp now);

// What scaling is driven by, from the marked lags.
struct LagSignal {
  int64_t lag = 0;          // known partitions not stalled, saturating
  int64_t stalled_lag = 0;  // stalled partitions, saturating
  bool any_lag = false;     // some partition in `lag` has lag
  // The largest age bound of the partitions in `lag` that have lag.
  double max_age_bound = 0;
  std::vector<TopicPartition> stalled_partitions;  // in order
  bool group_stopped = false;                      // some partition stopped
  // Over every partition whose time lag is known (stalled too); unset when
  // none is.
  std::optional<double> max_time_lag_seconds;
  std::optional<double> total_time_lag_seconds;
};

// Sums `lags` (as MarkStalls left them; `age_bounds` indexed alike) into the
// signal. Unknown partitions count nowhere.
LagSignal SignalLag(const std::vector<PartitionLag>& lags, const std::vector<double>& age_bounds);

// ---------------------------------------------------------------------------
// 3. Rates per topic.

struct TopicRates {
  std::vector<TopicRate> topic_rates;  // per observed topic, by name
  // The next history's samples: per observed topic, this interval's sample
  // appended, those at or before now - rate window dropped.
  std::map<std::string, std::vector<RateSample>> samples;
  // Messages/s produced into the partitions not stalled, over all topics.
  double produce_rate = 0;
  bool produce_known = true;  // every observed topic has a rate
  int64_t produced = 0;       // offsets produced in this interval, saturating
};

// Produce and consume rates per topic over the window `rate_window`,
// from `previous` samples and this interval's `steps` (`lags`, indexed
// alike, gives each partition's topic and whether it is stalled; `interval`
// seconds since the last observation, 0 at the first). A partition not read
// at both ends of the interval adds nothing to it. A topic's rate stays
// unknown until its samples span time.
TopicRates MeasureRates(const std::vector<PartitionStep>& steps,
                        const std::vector<PartitionLag>& lags,
                        std::map<std::string, std::vector<RateSample>> previous, double interval,
                        Timestamp::duration rate_window, Timestamp now);

// ---------------------------------------------------------------------------
// 4. Settling and learning the per-replica rate.

// Whether the group settled since the last change Decide asked for: its
// members equal the replicas (each replica one member, or one per consumer
// thread) and, where known, its state is Stable; or, where the broker does
// not report members, rebalanceSettleSeconds passed. Members that never all
// join cannot hold scaling for longer than 4 x rebalanceSettleSeconds. A
// group at zero replicas, or one never changed, has nothing to settle.
bool Settled(const History& history, const Observation& observation, const Spec& spec,
             Timestamp now);

// `last_change` with `settled_at` set to now the first time the group is
// seen `settled` after it, and for a scale-down that took effect (`current`
// at its count) the lag grown since it as its rebalance backlog. Otherwise
// unchanged.
std::optional<ScaleChange> NoteSettled(std::optional<ScaleChange> last_change, bool settled,
                                       int32_t current, int64_t signal_lag, Timestamp now);

// The replicas that consumed throughout the interval since the last
// observation, unset when the group did not work at one size through it:
// * the replicas did not change and, where the broker reports members, all
//   had joined at both ends and the group is stable; elsewhere the last
//   change had settled (rebalanceSettleSeconds) before the interval began;
// * or replicas were added, but the broker reports the same members at both
//   ends, all of the earlier replicas at the start and a stable group at the
//   end: the new ones are still starting, so the earlier ones did the work.
std::optional<int32_t> WorkingReplicas(const History& history, const Observation& observation,
                                       const Spec& spec);

// What one interval says of the messages/s a working replica sustains.
struct RateEvidence {
  // Consumed per working replica: never more than they sustain, so a lower
  // bound. Partitions spread unevenly (12 over 5 replicas: 3, 3, 2, 2, 2)
  // let the replicas holding fewer keep up while the others are flat out,
  // so it can be well below the rate.
  double lower_bound = 0;
  // Every partition with traffic was busy: every replica worked at
  // capacity, and `rate` is what one sustains.
  bool saturated = false;
  double rate = 0;
  // Saturated, and every busy partition's backlog at the start covered
  // what was consumed from it: `rate` is a measurement; otherwise some were
  // only busy at the end, and `rate` is a lower bound.
  bool flat_out = false;
};

// The evidence of an interval of `interval` seconds at `working` replicas
// from its partitions' steps, the stalled ones (`stalled[i]`) left out: the
// working replicas count in proportion to the partitions not stalled. A
// partition with traffic was busy when its backlog at the start was at
// least what was consumed from it, or at the end, or grew to at least half
// of it; one that consumed nothing was not busy. Unset when some partition
// was not seen at both ends or nothing was consumed.
std::optional<RateEvidence> IntervalRate(const std::vector<PartitionStep>& steps,
                                         const std::vector<bool>& stalled, double interval,
                                         int32_t working);

// The per-replica rate as learned so far (History's fields of that name).
// `lower_bound` only caps the lag fallback's scale-ups (ByLag), never
// scales down: it can be well below what a replica sustains.
struct LearnedRate {
  std::optional<double> per_replica_rate;
  int64_t saturated_intervals = 0;
  std::optional<double> lower_bound;
  friend bool operator==(const LearnedRate&, const LearnedRate&) = default;
};

// `learned` after `evidence`: the lower bound rises to the evidence's; a
// saturated interval sets the rate when neither a learned rate nor `hint`
// is known, moves it towards its rate by `alpha` (interval / rate window,
// at most 1) when flat out, and otherwise only raises it; each saturated
// interval counts.
LearnedRate UpdateRate(LearnedRate learned, const RateEvidence& evidence,
                       std::optional<double> hint, double alpha);

// `learned` after this observation: unchanged unless every partition was
// read, the group did not stop, and it worked at one size through the
// interval (WorkingReplicas, at most the partition ceiling).
LearnedRate LearnRate(LearnedRate learned, const History& history, const Observation& observation,
                      const Spec& spec, const LagObservation& lags, double interval,
                      bool group_stopped);

// ---------------------------------------------------------------------------
// 5. The raw target.

// What the throughput policy must carry, messages/s: `produce_rate + (lag -
// rebalance_allowance) / drain_seconds`.
struct Demand {
  double produce_rate = 0;
  int64_t lag = 0;
  int64_t rebalance_allowance = 0;
  int64_t drain_seconds = 1;
  double PerSecond() const;
  // produce_rate + lag / drain_seconds: the whole lag, allowance or not.
  double WholePerSecond() const;
};

// Of `signal_lag`, the part a scale-up does not count at once: the backlog
// the last scale-down's rebalance left (measured when the group settled) is
// drained over `drain_seconds` from then, since the count was chosen to
// carry the produce rate with headroom; scaling up for it would pause the
// group once more and leave as much again. 0 without a settled change.
int64_t RebalanceAllowance(const std::optional<ScaleChange>& last_change, int64_t signal_lag,
                           int64_t drain_seconds, Timestamp now);

// The fewest replicas that carry `demand` messages/s spread evenly over
// `carrying` of `partitions` partitions at `per_replica_rate` each: the
// busiest replica, holding ceil(partitions / replicas), must give each its
// share. With k the most partitions one replica can carry,
// ceil(partitions / k); when one cannot carry even one partition,
// ceil(demand / per_replica_rate), beyond the partitions. 0 for no demand.
int32_t ReplicasForDemand(double demand, double per_replica_rate, int32_t partitions,
                          int32_t carrying);

// What the raw target is computed from.
struct TargetInputs {
  int32_t current = 0;
  int32_t partitions = 0;
  int32_t carrying = 0;  // partitions known and not stalled
  int32_t partition_cap = 0;
  LagSignal signal;
  Demand demand;
  bool produce_known = false;
  // Learned, else the hint; unset while unknown.
  std::optional<double> per_replica_rate;
  LearnedRate learned;
};

// The throughput policy's count: ReplicasForDemand at the per-replica rate;
// a count below `current` must carry the whole demand with 10% headroom
// (the HPA's tolerance), so noise around one count's capacity does not flap.
struct ThroughputTarget {
  int32_t for_demand = 0;  // ReplicasForDemand
  int32_t replicas = 0;    // after the headroom
  // The saturated intervals the rate was learned from; unset: the hint.
  std::optional<int64_t> learned_from;
};
ThroughputTarget ByThroughput(const TargetInputs& in);

enum class FallbackCause { kNone, kProduceRateUnknown, kPerReplicaRateUnknown };

// The lag policy's count, ceil(lag / lagThreshold); also the throughput
// policy's while it cannot decide from rates (`fallback` says why). A
// fallback scale-up is capped at the count that carries the demand at the
// rate's lower bound (replicas sustain at least that; scaling down still
// waits for what lag allows).
struct LagTarget {
  FallbackCause fallback = FallbackCause::kNone;
  int64_t for_lag = 0;
  int64_t replicas = 0;             // after the cap
  std::optional<double> capped_by;  // the lower bound, when it capped
};
LagTarget ByLag(const TargetInputs& in, const Spec& spec);

// With lagSecondsThreshold and lag: ceil(working x age / threshold), working
// the current replicas within [1, partition ceiling]: in proportion to how
// far the oldest message's age is over the target, as the HPA does with a
// Value metric.
struct AgeTarget {
  int64_t working = 0;
  int64_t replicas = 0;
};
std::optional<AgeTarget> ByAge(const TargetInputs& in, const Spec& spec);

struct RawTarget {
  std::optional<ThroughputTarget> throughput;  // exactly one of these two
  std::optional<LagTarget> lag;
  std::optional<AgeTarget> age;
  int32_t replicas = 0;  // the larger of them, clamped to int32
};

// The policy's count before any bound: by throughput when the spec asks for
// it and the per-replica rate and every produce rate are known, else by lag;
// with an age target, the larger of the two.
RawTarget ComputeRawTarget(const TargetInputs& in, const Spec& spec);

// ---------------------------------------------------------------------------
// 6. Ceiling and floor.

enum class CeilingBy { kIdleAllowed, kMaxReplicas, kPartitions };

struct Bounds {
  // min(maxReplicas, partition ceiling), or maxReplicas with idle consumers
  // allowed; the partitions counted are those with lag under
  // limitToPartitionsWithLag.
  int32_t named_ceiling = 0;
  CeilingBy ceiling_by = CeilingBy::kPartitions;
  int32_t ceiling_partitions = 0;  // the partitions the ceiling counted
  int32_t floor = 0;               // minReplicas, capped at the partition ceiling
  int32_t ceiling = 0;             // max(named_ceiling, floor)
  int32_t target = 0;              // the raw count within [floor, ceiling]
  bool min_above_partitions = false;
  bool at_ceiling = false;  // the raw count asks for the ceiling or more
  // More replicas, or members, than partitions can use.
  bool idle_members = false;
};

// The bounds of the replica count. Invariant: floor <= ceiling, and target
// within them.
Bounds CeilingAndFloor(const Spec& spec, int32_t partitions, int32_t partitions_with_lag,
                       int32_t raw, int32_t current, std::optional<int32_t> members);

// ---------------------------------------------------------------------------
// 7. Zero.

// Since when the group has been idle: lag at or below
// activationLagThreshold, no partition active and, deciding from rates
// (`by_rate`), nothing produced in the interval (the produce rate, an
// average, stays above zero for a window after the last message). Unset
// while it is not idle; kept while it stays idle.
std::optional<Timestamp> IdleSince(std::optional<Timestamp> since, const Spec& spec,
                                   int64_t total_lag, bool any_active, bool by_rate,
                                   int64_t produced, Timestamp now);

enum class ZeroState {
  kNone,                  // the floor is above zero, or nothing to say
  kActiveWithoutCommits,  // at zero, partitions active without commits
  kCooldownOver,          // idle for cooldownSeconds: to zero
  kCoolingDown,           // idle, waiting out cooldownSeconds at >= 1
};

struct ZeroStep {
  int32_t target = 0;
  ZeroState state = ZeroState::kNone;
  int64_t idle_seconds = 0;  // how long idle, for the cooldown states
  bool by_rate = false;
};

// `bounds.target`, with a floor of 0: at zero, 1 once activated (lag above
// activation, or a partition active), else 0; above zero, to 0 only after
// the group has been idle (`idle_since`) for cooldownSeconds, at least 1
// until then. Deciding from rates, an idle group goes to zero after the
// cooldown whatever the average asks. With a floor above 0, unchanged.
ZeroStep ScaleToZero(const Bounds& bounds, const Spec& spec, int32_t current, int64_t total_lag,
                     bool any_active, bool by_rate, std::optional<Timestamp> idle_since,
                     Timestamp now);

// ---------------------------------------------------------------------------
// 8. Alignment.

struct Aligned {
  int32_t from = 0;
  int32_t replicas = 0;
};

// Align(target) (only while every replica owns partitions), never below
// `floor` nor, unless `floor` is, above `ceiling`.
Aligned AlignTarget(int32_t target, int32_t partitions, Alignment alignment, int32_t ceiling,
                    int32_t floor);

// ---------------------------------------------------------------------------
// 9. Stabilization.

// Both directions' behavior with the HPA's defaults, except that deciding
// from rates the default scale-down window is rateWindowSeconds (at most
// 300 s): the produce rate is already an average over that window, so
// holding its recommendations for the HPA's 300 s would smooth twice.
struct Rules {
  ScalingRules up;
  ScalingRules down;
};
Rules ResolveRules(const Spec& spec, bool by_rate);

enum class Held { kNone, kScaleDown, kScaleUp };

struct Stabilized {
  int32_t replicas = 0;
  Held held = Held::kNone;
  int32_t window_seconds = 0;  // of the window that held
  int32_t bound = 0;           // its max (down) or min (up) recommendation
};

// As the HPA: `current` within [lowest recommendation of the up window,
// highest of the down window] (this one included), then within [floor,
// ceiling]. A recommendation of 0 above zero replicas (the cooldown is over)
// bypasses the windows: the cooldown was that window.
Stabilized Stabilize(int32_t recommendation, int32_t current, const Bounds& bounds,
                     const std::vector<Recommendation>& past, const Rules& rules, Timestamp now);

// `past` and `recommendation` (at now), pruned to the longer window.
std::vector<Recommendation> KeepRecommendations(std::vector<Recommendation> past,
                                                Recommendation recommendation, const Rules& rules,
                                                Timestamp now);

// ---------------------------------------------------------------------------
// 10. Behavior limits.

enum class Direction { kNone, kUp, kDown };

struct Limited {
  int32_t replicas = 0;
  Direction direction = Direction::kNone;  // of the step asked for
  bool disabled = false;                   // selectPolicy Disabled: held
  bool limited = false;                    // the policies cut the step
};

// The HPA's rate policies and selectPolicy on the step from `current` to
// `stabilized`, counting the `events` within each policy's period. Up, at
// least 1 (a percentage of nothing is nothing); a step to 0 is not limited
// (the cooldown governs it). With `up_in_one_step` (a count from the rates
// without user scale-up policies) a scale-up is not limited: it is what the
// group needs, and every intermediate step would cost one more rebalance.
Limited LimitStep(int32_t stabilized, int32_t current, const std::vector<ScaleEvent>& events,
                  const Rules& rules, bool up_in_one_step, Timestamp now);

// ---------------------------------------------------------------------------
// 11. Settle and hold.

struct SettleHold {
  int32_t replicas = 0;
  bool held = false;       // the group has not settled: held at current
  bool emergency = false;  // lag ran away: the scale-up goes ahead
  int64_t baseline = 0;    // max(lag at the change, lagThreshold)
};

// Every change costs the group a rebalance: after one, a change waits until
// the group `settled`, unless it is a scale-up with the lag past
// emergencyLagFactor x baseline, or the replicas stand above the ceiling (a
// bound the user set applies at once, as the HPA's maxReplicas does).
// `last_change` is set whenever `settled` is false.
SettleHold HoldWhileSettling(int32_t desired, int32_t current, int32_t ceiling, bool settled,
                             const std::optional<ScaleChange>& last_change, int64_t signal_lag,
                             const Spec& spec);

// A partial observation's lag is a lower bound: `desired` below `current`
// is held at `current`.
struct PartialHold {
  int32_t replicas = 0;
  bool held = false;
};
PartialHold HoldOnPartialLag(int32_t desired, int32_t current, bool partial);

// ---------------------------------------------------------------------------
// The reason and the message.

// Every stage's result of one Decide on a readable observation.
struct Pipeline {
  int32_t current = 0;
  std::optional<int32_t> members;
  int32_t partitions = 0;
  LagObservation lags;
  LagSignal signal;
  TopicRates rates;
  TargetInputs inputs;
  RawTarget raw;
  Bounds bounds;
  ZeroStep zero;
  Aligned aligned;
  Rules rules;
  Stabilized stabilized;
  Limited limited;
  SettleHold settle;
  PartialHold partial;
  std::optional<ScaleChange> last_change;  // the change a hold waits on
  Timestamp now;
};

// The replicas decided: the last stage's, or `current` when paused.
int32_t Desired(const Pipeline& p, bool paused);

// The reason for the outcome, the first that applies: paused; a change
// (from/to zero, limited, or plain); then why there is none: settling, the
// partial hold, disabled, limited, the down window, the cooldown, the up
// window; else steady.
Reason ChooseReason(const Pipeline& p, bool paused);

// One line with the numbers each stage decided by, in the stages' order,
// ending in "desired D (current C)" or "paused: holding C".
std::string DescribePipeline(const Pipeline& p, const Spec& spec);

}  // namespace groupscaler::policy::stages
