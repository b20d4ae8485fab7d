#pragma once

// What one reconcile of a ConsumerGroupAutoscaler found, as one record. The
// Reconciler fills it step by step; what leaves the process is derived from
// it by one function each:
// * the status subresource: StatusOf (then StatusPatch, status_patch.h);
// * the Events: Announce, which also keeps the warnings' bookkeeping;
// * the metrics: SampleOf (metrics_sink.h).
// The figures both the status and the metrics show come from FiguresOf.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controller/group_figures.h"
#include "controller/metrics_sink.h"
#include "controller/status_patch.h"
#include "kube/client.h"
#include "policy/types.h"

namespace groupscaler::controller {

// The outcome of one check that can raise a Warning.
struct WarningCheck {
  std::string reason;
  // Set: the warning holds, with this message. Unset: the check ran and
  // found nothing, so the warning is over.
  std::optional<std::string> message;
};

// A write of the target's /scale that succeeded.
struct ScaleWrite {
  int32_t from = 0;
  int32_t to = 0;
  std::string why;     // the decision's message
  std::string target;  // the workload, for the log ("Deployment ns/name")
  // How many of ReconcileReport::warnings were checked before the write:
  // its Event goes between those and the rest, in the order things happened.
  size_t after_warnings = 0;
};

struct ReconcileReport {
  std::string namespace_name;
  std::string name;
  int64_t observed_generation = 0;
  Timestamp now;
  bool spec_valid = false;
  std::string group;  // the consumer group of a valid spec
  std::optional<int32_t> current_replicas;
  std::optional<int32_t> desired_replicas;
  std::optional<int32_t> members;
  // Unset while Kafka is not asked at all (invalid spec, auth Secret missing
  // or invalid); false when the observation failed.
  std::optional<bool> kafka_reachable;
  // Unset when the reconcile held before deciding or stopped earlier. With
  // kafka_reachable false it came from a failed observation: only its
  // replicas and reason mean something.
  std::optional<policy::Decision> decision;
  // From the policy's history, once the reconcile got as far as deciding.
  std::optional<int64_t> rebalances_caused;
  std::string reason;
  std::string message;
  // Every condition type, in the order written; Unknown until a step knows.
  std::vector<Condition> conditions = InitialConditions();
  std::optional<ScaleWrite> scaled;
  // In the order checked.
  std::vector<WarningCheck> warnings;

  // Replaces the condition of c.type.
  void Set(Condition c);
  // The condition of `type` (one of the kCondition* constants).
  const Condition& Get(const std::string& type) const;
  static std::vector<Condition> InitialConditions();
};

// The group's figures (group_figures.h), for both StatusOf and SampleOf.
GroupFigures FiguresOf(const ReconcileReport& report);

// The status to write.
StatusReport StatusOf(const ReconcileReport& report);

// The metrics sample.
AutoscalerSample SampleOf(const ReconcileReport& report);

// Which warnings were announced and still hold, per autoscaler.
struct Warned {
  std::set<std::string> reasons;
  // InvalidSpec is announced once per generation: the generation of the
  // last announced.
  std::optional<int64_t> invalid_spec_generation;
};

struct Announcement {
  std::vector<kube::Event> events;  // in the order to record them
  Warned warned;                    // after them
};

// The Events of `report` about `involved`: a Warning for each warning that
// holds and was not announced yet (InvalidSpec: not for this generation),
// and ScaledUp/ScaledDown for a /scale write. A warning whose check found
// nothing is forgotten, so that it is announced again when it returns.
Announcement Announce(const ReconcileReport& report, const kube::ObjectReference& involved,
                      Warned warned);

}  // namespace groupscaler::controller
