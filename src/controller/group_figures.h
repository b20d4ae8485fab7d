#pragma once

// The figures of a consumer group that both outputs of a reconcile show: the
// status (StatusReport, status_patch.h) and the metrics (AutoscalerSample,
// metrics_sink.h). Header-only: src/metrics sees it through metrics_sink.h
// and links the groupscaler_metrics_sink library alone, never the controller.

#include <cstdint>
#include <optional>

namespace groupscaler::controller {

// One reconcile's figures of its group, as FiguresOf (reconcile_report.h)
// derives them for StatusOf and SampleOf. An unset figure is unknown: its
// status field is removed and its series is not exported, never shown as 0.
struct GroupFigures {
  // Of a decision on a successful observation: the partitions observed, and
  // min(maxReplicas, partition ceiling).
  std::optional<int32_t> partitions;
  std::optional<int32_t> ceiling;
  // The target's replicas as read, and as decided (or held).
  std::optional<int32_t> current_replicas;
  std::optional<int32_t> desired_replicas;
  // The group's members, where the broker reports them.
  std::optional<int32_t> members;
  // Of a decision on a successful observation whose lag is known: the lag in
  // messages, and the oldest unconsumed message's age over the partitions, in
  // seconds (unset while no partition's time lag is known).
  std::optional<int64_t> total_lag;
  std::optional<double> max_time_lag_seconds;
  // The scale changes Decide asked for since its history began, each a
  // rebalance of the group: from the policy's history once the reconcile got
  // as far as deciding (the metrics only where it decided: see SampleOf).
  std::optional<int64_t> rebalances_caused;
};

}  // namespace groupscaler::controller
