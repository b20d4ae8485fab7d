#include "controller/reconcile_report.h"

#include <algorithm>
#include <utility>

#include "controller/reconciler.h"

namespace groupscaler::controller {
namespace {

Condition Unknown(const char* type, std::string reason, std::string message) {
  return {type, ConditionStatus::kUnknown, std::move(reason), std::move(message)};
}

// The Warning for `check` when it holds and was not announced yet; updates
// `warned` either way.
std::optional<kube::Event> WarningOf(const WarningCheck& check, const ReconcileReport& report,
                                     const kube::ObjectReference& involved, Warned& warned) {
  const bool invalid_spec = check.reason == kReasonInvalidSpec;
  if (!check.message) {
    if (invalid_spec) warned.invalid_spec_generation.reset();
    warned.reasons.erase(check.reason);
    return std::nullopt;
  }
  if (invalid_spec) {
    if (warned.invalid_spec_generation == report.observed_generation) return std::nullopt;
    warned.invalid_spec_generation = report.observed_generation;
  } else if (!warned.reasons.insert(check.reason).second) {
    return std::nullopt;
  }
  return kube::Event{.involved = involved,
                     .type = kube::EventType::kWarning,
                     .reason = check.reason,
                     .message = *check.message};
}

// "ScaledUp 3→4: <why>" (or ScaledDown), a Normal Event.
kube::Event ScaledEvent(const ScaleWrite& write, const kube::ObjectReference& involved) {
  const bool up = write.to > write.from;
  return {
      .involved = involved,
      .type = kube::EventType::kNormal,
      .reason = up ? kReasonScaledUp : kReasonScaledDown,
      .message = std::to_string(write.from) + "→" + std::to_string(write.to) + ": " + write.why};
}

}  // namespace

void ReconcileReport::Set(Condition c) {
  for (Condition& old : conditions) {
    if (old.type == c.type) {
      old = std::move(c);
      return;
    }
  }
  conditions.push_back(std::move(c));
}

const Condition& ReconcileReport::Get(const std::string& type) const {
  return *std::find_if(conditions.begin(), conditions.end(),
                       [&](const Condition& c) { return c.type == type; });
}

std::vector<Condition> ReconcileReport::InitialConditions() {
  // Every condition carries a reason and a message, as the API conventions ask.
  return {
      Unknown(kConditionReady, "Pending", "the reconcile stopped before a decision"),
      Unknown(kConditionActive, "LagUnknown", "the group's lag is not known"),
      Unknown(kConditionAtPartitionCeiling, "LagUnknown", "the partition count is not known"),
      Unknown(kConditionKafkaReachable, "NotObserved", "Kafka was not asked"),
      Unknown(kConditionTargetFound, "NotRead", "the scale target was not read"),
      Unknown(kConditionSpecValid, "NotRead", "the spec was not read"),
      Unknown(kConditionStalled, "LagUnknown", "the group's lag is not known"),
      Unknown(kConditionPerInstanceGroupIds, "NotChecked",
              "the pod template and group list were not checked"),
      Unknown(kConditionConflictingHpa, "NotChecked", "HorizontalPodAutoscalers were not listed"),
  };
}

GroupFigures FiguresOf(const ReconcileReport& report) {
  GroupFigures figures{.current_replicas = report.current_replicas,
                       .desired_replicas = report.desired_replicas,
                       .members = report.members,
                       .rebalances_caused = report.rebalances_caused};
  // A failed observation's decision holds only its replicas and reason.
  if (!report.decision || !report.kafka_reachable.value_or(false)) return figures;
  const policy::Decision& d = *report.decision;
  figures.partitions = d.partitions;
  figures.ceiling = d.ceiling;
  if (d.lag_known) {
    figures.total_lag = d.total_lag;
    figures.max_time_lag_seconds = d.max_time_lag_seconds;
  }
  return figures;
}

StatusReport StatusOf(const ReconcileReport& report) {
  StatusReport status{.observed_generation = report.observed_generation,
                      .figures = FiguresOf(report),
                      .reason = report.reason,
                      .message = report.message,
                      .conditions = report.conditions};
  if (report.scaled) status.last_scale_time = report.now;
  if (report.decision && report.decision->lag_known) ReportDecision(*report.decision, &status);
  return status;
}

AutoscalerSample SampleOf(const ReconcileReport& report) {
  const bool observed = report.kafka_reachable.value_or(false);
  AutoscalerSample sample{.namespace_name = report.namespace_name,
                          .name = report.name,
                          .spec_valid = report.spec_valid,
                          .group = report.group,
                          .kafka_reachable = report.kafka_reachable,
                          .figures = FiguresOf(report)};
  // The status keeps the history's count through a hold; the counter takes
  // it from a decision only, so that a hold leaves its series as it is.
  sample.figures.rebalances_caused =
      report.decision ? std::optional(report.decision->rebalances_caused) : std::nullopt;
  if (observed) sample.observed_at = report.now;
  if (report.scaled) sample.scaled = report.scaled->to > report.scaled->from ? 1 : -1;
  if (report.decision && observed) AddDecision(*report.decision, sample);
  return sample;
}

Announcement Announce(const ReconcileReport& report, const kube::ObjectReference& involved,
                      Warned warned) {
  Announcement out;
  for (size_t i = 0; i < report.warnings.size(); ++i) {
    if (report.scaled && report.scaled->after_warnings == i) {
      out.events.push_back(ScaledEvent(*report.scaled, involved));
    }
    if (std::optional<kube::Event> e = WarningOf(report.warnings[i], report, involved, warned)) {
      out.events.push_back(std::move(*e));
    }
  }
  if (report.scaled && report.scaled->after_warnings >= report.warnings.size()) {
    out.events.push_back(ScaledEvent(*report.scaled, involved));
  }
  out.warned = std::move(warned);
  return out;
}

}  // namespace groupscaler::controller
