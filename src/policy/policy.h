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

// Decides the replica count for one autoscaler.
//
// Takes: one `observation` of the group, the `history` the previous Decide
// returned (empty at first), a `spec` that passed ValidateSpec, and `now`.
// Returns: the Decision, whose `history` is the next call's; the same
// arguments always give the same Decision.
//
// Contract:
// * On a readable observation `desired` lies between `current` and a count
//   within [floor, ceiling]: `ceiling` is min(maxReplicas, the partition
//   ceiling) (maxReplicas with allowIdleConsumers), the floor minReplicas
//   capped at the partition ceiling (with minReplicas 0, zero is reached
//   only after cooldownSeconds idle). So a step up never goes above the ceiling, and replicas
//   above it come down as fast as behavior.scaleDown allows.
// * Never a scale-down on lag it does not know: a failed observation, or one
//   where no partition could be read, holds `current` (or, after
//   fallback.failureThreshold consecutive failures, goes to
//   fallback.replicas) with `lag_known` false; a partial one may scale up
//   but not down (reason PartialObservation); no partitions at all holds
//   (NoPartitions).
// * `paused` holds `current` (reason Paused) while history still advances.
// * After a change, no further change until the group settled, unless lag
//   passed emergencyLagFactor x max(lag at the change, lagThreshold) (a
//   scale-up only) or the replicas stand above the ceiling.
// * Everything in History stays bounded (offset points, rate samples,
//   recommendations and scale events pruned by count or window).
// * `reason` says why `desired` is what it is; `message` is one line with the
//   numbers of every stage that had something to say, ending in "desired D
//   (current C)" or "paused: holding C".
//
// The stages it runs, and the rule of each, are in policy/stages.h.
Decision Decide(const Observation& observation, History history, const Spec& spec, Timestamp now);

}  // namespace groupscaler::policy
