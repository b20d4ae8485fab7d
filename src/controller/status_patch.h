#pragma once

// The status subresource of a ConsumerGroupAutoscaler as the controller
// writes it, and the merge patch that brings the stored status there.
//
// The patch is computed against the object as last read, and written only
// when something a user would act on changed. A reconcile runs every poll,
// and the lag, the rates and the messages that quote them move a little each
// time; writing them all would write the status at almost every poll. So:
//
//  * Decisive fields: any change writes. observedGeneration, partitions,
//    currentReplicas, desiredReplicas, ceiling, members, reason,
//    rebalancesCaused, stalledPartitions, lastScaleTime, and each
//    condition's type, status, reason, observedGeneration (and so its
//    lastTransitionTime). Every field not named below is decisive.
//  * Figures: totalLag, maxLagSeconds, totalLagSeconds, produceRate,
//    consumeRate, perReplicaRate. One writes when it moved by more than
//    kFigureTolerance of the larger of its old and new magnitude AND by more
//    than its floor (kLagFloor, kTimeLagFloorSeconds, kRateFloorPerSecond),
//    or when the stored figures are kFiguresMaxAge old. A figure that
//    becomes unknown, or known again, writes at once, as a decisive field.
//  * Messages, the status's and the conditions': never write by themselves,
//    but for one: while Ready is not True, its message is the cause a user
//    acts on (the broker refused the login, the token endpoint refused the
//    client); a new cause writes once the stored status is kCauseMinAge old,
//    so a cause that names changing details (librdkafka's "after 3ms") writes
//    at most once per kCauseMinAge.
//
// A write carries the whole status as it is now, messages and figures
// included, and sets observedTime to `now`: the time of the figures, whose
// age the next reconciles measure from it. A stored status without one
// (written by an older controller), or with one ahead of `now` (written on
// another replica's clock), counts as stale. So even when nothing moves, the
// status is written every kFiguresMaxAge, and observedTime says the
// controller still observes.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "controller/group_figures.h"
#include "policy/types.h"

namespace groupscaler::controller {

// The write rule above. A figure moved when |new - old| exceeds both
// kFigureTolerance * max(|old|, |new|) and its floor, so that neither the
// noise of a large figure nor small absolute steps near zero (lag 0 -> 40)
// cause a write; figures older than kFiguresMaxAge are written anyway.
inline constexpr double kFigureTolerance = 0.10;
inline constexpr double kLagFloor = 100;           // totalLag, messages
inline constexpr double kTimeLagFloorSeconds = 1;  // maxLagSeconds, totalLagSeconds
inline constexpr double kRateFloorPerSecond = 1;   // produce, consume, per-replica rate
inline constexpr std::chrono::minutes kFiguresMaxAge{5};
inline constexpr std::chrono::seconds kCauseMinAge{15};

// Condition types, in the order they are written.
inline constexpr const char* kConditionReady = "Ready";
inline constexpr const char* kConditionActive = "Active";
inline constexpr const char* kConditionAtPartitionCeiling = "AtPartitionCeiling";
inline constexpr const char* kConditionKafkaReachable = "KafkaReachable";
inline constexpr const char* kConditionTargetFound = "TargetFound";
inline constexpr const char* kConditionSpecValid = "SpecValid";
// Partitions with lag whose commits do not move (more replicas cannot help).
inline constexpr const char* kConditionStalled = "Stalled";
// The reasons of a True Stalled condition, and of the Warning Event sent when
// it turns True.
inline constexpr const char* kReasonStalledPartitions = "StalledPartitions";
inline constexpr const char* kReasonGroupStopped = "GroupStopped";
// A HorizontalPodAutoscaler also scales the target (True), none does
// (False), or they cannot be listed (Unknown, reason HPAsUnreadable).
inline constexpr const char* kConditionConflictingHpa = "ConflictingHPA";
// The target's pod template gives each replica its own group id.
inline constexpr const char* kConditionPerInstanceGroupIds = "PerInstanceGroupIds";

enum class ConditionStatus { kTrue, kFalse, kUnknown };

struct Condition {
  std::string type;
  ConditionStatus status = ConditionStatus::kUnknown;
  std::string reason;  // CamelCase
  std::string message;
};

struct StalledPartition {
  std::string topic;
  int32_t partition = 0;
};

// The status to write, as StatusOf (reconcile_report.h) derives it from
// what one reconcile found. Absent optionals are unknown: the field is
// removed from the stored status (so an unknown lag never reads as 0).
struct StatusReport {
  int64_t observed_generation = 0;
  // partitions, ceiling, currentReplicas, desiredReplicas, members,
  // totalLag, maxLagSeconds (written to 0.1 s), rebalancesCaused.
  GroupFigures figures;
  std::string reason;
  std::string message;
  // Time lag: the oldest unconsumed message's age summed over partitions,
  // seconds (the max is figures.max_time_lag_seconds). Written to 0.1 s.
  std::optional<double> total_lag_seconds;
  // Messages/s over all topics, and what one replica sustains. Written to
  // 0.01/s.
  std::optional<double> produce_rate;
  std::optional<double> consume_rate;
  std::optional<double> per_replica_rate;
  // Unset: unknown; empty: none stalled.
  std::optional<std::vector<StalledPartition>> stalled_partitions;
  // Set when this reconcile scaled; otherwise the stored value is kept.
  std::optional<Timestamp> last_scale_time;
  std::vector<Condition> conditions;
};

// Fills `report`'s total time lag, rates, per-replica rate and stalled
// partitions from a decision whose lag is known (for StatusOf).
void ReportDecision(const policy::Decision& decision, StatusReport* report);

// The Stalled condition of a decision on a successful observation: True
// with reason StalledPartitions when partitions are stalled, True with
// reason GroupStopped when replicas run but the group stopped committing,
// False otherwise.
Condition StalledCondition(const policy::Decision& decision, int64_t stall_seconds);

// The JSON object to merge-patch into `status` (kube::AutoscalerClient::
// PatchAutoscalerStatus): the whole of `report`, with observedTime `now`; or
// nullopt when the write rule above finds nothing in `object_json`'s status
// worth writing. A condition's lastTransitionTime is carried over from the
// stored condition of that type when its status is unchanged, and is `now`
// otherwise; each condition carries observedGeneration. `object_json` is the
// whole object as read (unparsable: treated as having no status).
std::optional<std::string> StatusPatch(const StatusReport& report, std::string_view object_json,
                                       Timestamp now);

}  // namespace groupscaler::controller
