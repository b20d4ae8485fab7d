#pragma once

// The pure decision core. No I/O, no clock, no globals: everything a decision
// depends on comes in as an argument, so the same arguments always give the
// same Decision and a reconcile can be replayed exactly.

#include <cstdint>
#include <optional>
#include <vector>

#include "common/status.h"
#include "policy/types.h"

namespace groupscaler::policy {

// The HPA's defaults: up: 0 s window, max(+4 pods, +100%) per 15 s;
// down: 300 s window, 100% per 15 s. Both select Max.
ScalingRules DefaultScaleUp();
ScalingRules DefaultScaleDown();

// `rules` with every unset field taken from `defaults`.
ScalingRules Resolve(const ScalingRules& rules, const ScalingRules& defaults);

// Checks what the types cannot: min <= max, lagThreshold > 0, positive
// periods, ... The message names the field in the CR's spelling
// ("spec.minReplicas").
Status ValidateSpec(const Spec& spec);

// The lag of one partition, in messages:
// committed present: max(0, end - max(committed, logStart)), or the
// records_after_commit counted where the commit is within the log (markers
// and aborted records left out), a committed
// offset beyond the end clamped and flagged; committed absent: end - logStart
// under earliest, 0 under latest. `previous_end` is the partition's log-end
// offset at the last observation; a partition without a commit whose end moved
// since then is active. Integer math only: exact for offsets up to 2^63-1.
PartitionLag ComputePartitionLag(const PartitionObservation& p, OffsetResetPolicy reset,
                                 std::optional<int64_t> previous_end);

// ceil(partitions / consumers_per_replica): the most replicas a group can keep
// busy. consumers_per_replica must be > 0.
int32_t PartitionCeiling(int32_t partitions, int32_t consumers_per_replica);

// ceil(a / b) for a >= 0, b > 0, without overflow.
int64_t CeilDiv(int64_t a, int64_t b);

// The replica count after `alignment`, for `desired` replicas over
// `partitions` partitions (see Alignment). Never above `ceiling`; a
// divisor above the ceiling leaves `desired` as it is.
int32_t Align(int32_t desired, int32_t partitions, Alignment alignment, int32_t ceiling);

// Appends `point` (the log-end offset seen at a time, not before the last
// point's) to a partition's table, keeping it as PartitionTrack::end_points
// describes: at most kMaxOffsetPoints. A point whose offset or time is below
// the last one's starts the table afresh.
void AddOffsetPoint(std::vector<OffsetPoint>* points, OffsetPoint point);

// How long ago, in seconds at `now`, the message at `offset` was produced,
// interpolated between the two points of `end_points` that bracket it; 0
// when no point's offset is beyond it (not produced as far as the table
// knows); unset when the table does not reach back to it (never guessed).
std::optional<double> TimeLagSeconds(const std::vector<OffsetPoint>& end_points, int64_t offset,
                                     Timestamp now);

// Decides the replica count for one autoscaler. `history` is what the
// previous Decide returned (empty at first); the returned Decision carries the
// next one. `spec` must have passed ValidateSpec.
//
// The raw count is the policy's: lag: ceil(lag / lagThreshold); throughput: the
// fewest replicas whose busiest one, holding ceil(partitions / replicas)
// partitions, carries their share of produceRate + lag / targetDrainSeconds
// (spread evenly over the partitions not stalled) at perReplicaRate, and a
// count below the current one with 10% headroom (for a scale-up, the backlog
// the last scale-down's rebalance left, measured when the group settled, is
// drained over targetDrainSeconds from then instead of counted at once);
// falling back to the lag policy (flags.throughput_fallback, said in the
// message) while the per-replica rate or a topic's produce rate is unknown, a
// fallback scale-up capped at the count that carries that demand at the rate's
// lower bound (below). With lagSecondsThreshold, also ceil(replicas x timeLag /
// lagSecondsThreshold), the larger of the two counting. Lag and produce rate of
// stalled partitions are left out. Then the ceiling, floor, alignment,
// stabilization and behavior (while the throughput policy decides from rates,
// the default scale-down window is rateWindowSeconds and, without scaleUp
// policies, a scale-up is not limited: one step, one rebalance); then, after a
// change, further changes wait until the group settled (see Settled in
// policy.cc) unless the lag grew past emergencyLagFactor x max(lag at the
// change, lagThreshold), which lifts the hold for a scale-up.
//
// The per-replica rate used is the one learned from the intervals up to this
// observation (else the hint), the message saying which ("learned from N
// saturated intervals", "perReplicaRateHint"). An interval teaches when the
// group worked at one size through it: the replicas did not change, no change
// was settling, and all members had joined at both ends where the broker
// reports them; or replicas were added but are still starting (the same
// members at both ends, all of the earlier replicas, a stable group). Its
// rate is consumed / interval / working replicas (stalled partitions left
// out, the working replicas scaled by the fraction not stalled). It is
// saturated when every partition with traffic consumed and was busy: a
// backlog of at least what it consumed at the start (flat out: an
// exponential average over rateWindowSeconds), or at the end, or one that
// grew to at least half of it (a lower bound that can raise the rate but
// never lower it); the first saturated interval sets the rate. Any such
// interval, saturated or not, gives consumed / interval / working replicas
// as a lower bound of the rate (History::per_replica_rate_lower_bound):
// replicas holding fewer partitions than others may keep up while the rest
// are flat out, so it can be well below the rate, and it is used only to cap
// the fallback's scale-ups, never to scale down.
Decision Decide(const Observation& observation, History history, const Spec& spec, Timestamp now);

}  // namespace groupscaler::policy
