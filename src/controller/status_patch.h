#pragma once

// The status subresource of a ConsumerGroupAutoscaler as the controller
// writes it, and the merge patch that brings the stored status there.
//
// The patch is computed against the object as last read, so a reconcile that
// would change nothing writes nothing: the API server sees a status write
// only when a field or a condition really changed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "policy/types.h"

namespace groupscaler::controller {

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
  std::optional<int32_t> partitions;
  std::optional<int64_t> total_lag;
  std::optional<int32_t> current_replicas;
  std::optional<int32_t> desired_replicas;
  std::optional<int32_t> ceiling;
  std::optional<int32_t> members;
  std::string reason;
  std::string message;
  // Time lag: the oldest unconsumed message's age, seconds (max and sum
  // over partitions). Written to 0.1 s.
  std::optional<double> max_lag_seconds;
  std::optional<double> total_lag_seconds;
  // Messages/s over all topics, and what one replica sustains. Written to
  // 0.01/s, so that noise below that causes no status write.
  std::optional<double> produce_rate;
  std::optional<double> consume_rate;
  std::optional<double> per_replica_rate;
  std::optional<int64_t> rebalances_caused;
  // Unset: unknown; empty: none stalled.
  std::optional<std::vector<StalledPartition>> stalled_partitions;
  // Set when this reconcile scaled; otherwise the stored value is kept.
  std::optional<Timestamp> last_scale_time;
  std::vector<Condition> conditions;
};

// Fills `report`'s time lag, rates, per-replica rate and stalled
// partitions from a decision whose lag is known (for StatusOf).
void ReportDecision(const policy::Decision& decision, StatusReport* report);

// The Stalled condition of a decision on a successful observation: True
// with reason StalledPartitions when partitions are stalled, True with
// reason GroupStopped when replicas run but the group stopped committing,
// False otherwise.
Condition StalledCondition(const policy::Decision& decision, int64_t stall_seconds);

// The JSON object to merge-patch into `status` (kube::AutoscalerClient::
// PatchAutoscalerStatus), or nullopt when `object_json`'s status already
// holds all of `report`. A condition's lastTransitionTime is carried over
// from the stored condition of that type when its status is unchanged, and
// is `now` otherwise; each condition carries observedGeneration.
// `object_json` is the whole object as read (unparsable: treated as having
// no status).
std::optional<std::string> StatusPatch(const StatusReport& report, std::string_view object_json,
                                       Timestamp now);

}  // namespace groupscaler::controller
