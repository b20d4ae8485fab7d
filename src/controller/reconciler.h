#pragma once

// The level-based reconcile of one ConsumerGroupAutoscaler. Every call reads
// the world afresh: the CR, its auth Secret, the group's lag from Kafka, the
// target's /scale and the namespace's HPAs; decides with policy::Decide; and
// writes only what changed (the /scale when desired != current, the status
// when a field or condition moved, an Event per scale and per new warning).
//
// What is kept in memory between calls, per autoscaler (keyed by
// namespace/name and reset when the uid changes):
// * the policy's History (stabilization windows, rate limits, failures);
// * the shared LagReader of its Kafka cluster, so that a cluster's client
//   lives exactly as long as some autoscaler uses it;
// * which warnings were already announced, so that an Event is sent when a
//   warning appears, not at every poll.
// A deleted CR drops all of it and never touches the workload again: its
// replicas stay as they are. Kept per Kafka cluster, for as long as its
// reader lives: its latest list of consumer groups, asked at most once per
// group_list_interval (anti_pattern.h).
//
// Holds (no /scale write): an invalid spec (SpecValid=False), a missing or
// invalid auth Secret, a missing target (TargetFound=False), an HPA on the
// same workload (two autoscalers would fight), and Kafka unreachable (the
// policy holds, KafkaReachable=False).
//
// Thread-safe for different keys; the work queue never hands one key to two
// workers at once, which per-key state relies on.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "controller/anti_pattern.h"
#include "controller/keys.h"
#include "controller/metrics_sink.h"
#include "controller/reconcile_report.h"
#include "controller/work_queue.h"
#include "kafka/lag_reader.h"
#include "kube/client.h"
#include "policy/types.h"
#include "spec/autoscaler_spec.h"

namespace groupscaler::controller {

// The interfaces a reconcile talks through; none is owned and all must
// outlive the Reconciler.
struct ReconcilerDeps {
  kube::AutoscalerClient* autoscalers = nullptr;
  kube::ScaleClient* scales = nullptr;
  kube::EventRecorder* events = nullptr;
  kube::SecretReader* secrets = nullptr;
  kube::HpaLister* hpas = nullptr;
  // Reads the target's pod template for the group-per-instance check
  // (anti_pattern.h); null: not checked.
  kube::WorkloadReader* workloads = nullptr;
  // Used by the Controller only: it lists and watches the scale targets and
  // answers `scales` and `workloads` reads from memory (TargetCache); null:
  // a GET per poll.
  kube::WorkloadWatcher* workload_watcher = nullptr;
  kafka::LagReaderPool* readers = nullptr;
  const Clock* clock = nullptr;
  MetricsSink* metrics = nullptr;  // null: no metrics
};

struct ReconcilerOptions {
  // Upper bound of one Kafka observation; kept under the 5 s shutdown budget.
  std::chrono::milliseconds observe_timeout{3000};
  // Requeue interval when the spec cannot be read (no pollIntervalSeconds).
  std::chrono::milliseconds default_poll_interval{std::chrono::seconds(10)};
  // A cluster's consumer groups are listed (for the group-per-instance
  // check, anti_pattern.h) at most this often, for all its autoscalers.
  std::chrono::milliseconds group_list_interval{std::chrono::minutes(5)};
};

// Event reasons (Warnings unless noted).
inline constexpr const char* kReasonScaledUp = "ScaledUp";      // Normal
inline constexpr const char* kReasonScaledDown = "ScaledDown";  // Normal
inline constexpr const char* kReasonInvalidSpec = "InvalidSpec";
inline constexpr const char* kReasonSecretNotFound = "SecretNotFound";
// The Secret could not be read for another reason (RBAC, the API server).
inline constexpr const char* kReasonSecretUnreadable = "SecretUnreadable";
// The target's scale subresource could not be read / written (not NotFound).
inline constexpr const char* kReasonScaleUnreadable = "ScaleUnreadable";
inline constexpr const char* kReasonScaleFailed = "ScaleFailed";
// HorizontalPodAutoscalers could not be listed: the conflict check is off.
inline constexpr const char* kReasonHpasUnreadable = "HPAsUnreadable";
inline constexpr const char* kReasonInvalidKafkaSettings = "InvalidKafkaSettings";
inline constexpr const char* kReasonTargetNotFound = "TargetNotFound";
inline constexpr const char* kReasonConflictingHpa = "ConflictingHPA";
inline constexpr const char* kReasonKafkaUnreachable = "KafkaUnreachable";
inline constexpr const char* kReasonIdleMembers = "IdleMembers";
inline constexpr const char* kReasonAtPartitionCeiling = "AtPartitionCeiling";
inline constexpr const char* kReasonPerInstanceGroupIds = "PerInstanceGroupIds";
// Also kReasonStalledPartitions and kReasonGroupStopped (status_patch.h).

class Reconciler {
 public:
  Reconciler(ReconcilerDeps deps, ReconcilerOptions options = {});

  // Reconciles the autoscaler `key` ("namespace/name"). Failed() for
  // transient API errors (the queue backs off); RequeueAfter(poll interval)
  // otherwise, including for an invalid spec (no retry storm); Forget()
  // when the CR is gone. Reports the reconcile and the autoscaler's state
  // to deps.metrics when set (see metrics_sink.h).
  Outcome Reconcile(const std::string& key);

  // Autoscalers with state in memory.
  size_t tracked() const;

  // From now on, reconciles write nothing: one in flight stops before its
  // next write and returns Forget(). For shutdown, so that nothing is
  // written after the controller stopped (or the Lease was released) and
  // stopping waits for at most the call in progress.
  void Cancel() { cancelled_ = true; }

 private:
  struct State {
    std::string uid;
    policy::History history;
    std::shared_ptr<kafka::LagReader> reader;
    // The warnings announced and still true (reconcile_report.h).
    Warned warned;
    // Total lag at the previous known observation (AtPartitionCeiling
    // is announced when lag grows at the ceiling).
    std::optional<int64_t> previous_lag;
    // The target's resourceVersion whose pod template was last checked for
    // a group id per replica, and what the check found.
    std::string checked_template_version;
    std::optional<PerInstanceGroupId> per_instance_group_id;
    // The check of the cluster's listed groups, redone when a new listing
    // comes or the group or topics change.
    std::optional<GroupsPerInstance> groups_per_instance;
    // The spec as parsed from the CR text whose hash is parsed_text_hash:
    // the text changes only with a write, and parsing it was a third of a
    // reconcile's CPU.
    size_t parsed_text_hash = 0;
    std::optional<StatusOr<spec::AutoscalerSpec>> parsed_spec;
  };

  // How one reconcile ended, for Reconcile to return, count and log.
  struct Ended {
    Outcome outcome;
    ReconcileResult result = ReconcileResult::kSuccess;
    // What went wrong, with its cause, for Reconcile to log once; empty when
    // nothing did.
    std::string problem;
  };

  // The steps of one reconcile once the CR is read (reconciler.cc).
  class Pass;

  // Reads the CR, runs a Pass over it and publishes what it found; a
  // deleted CR is dropped (Forget).
  Ended ReconcileOnce(const std::string& key);
  // Records the Events of `report`, its metrics sample (not for a failed
  // reconcile) and its status; returns `ended` with what went wrong added.
  // Writes nothing once cancelled.
  Ended Publish(const kube::Autoscaler& cr, const kube::ObjectReference& ref, State& state,
                const ReconcileReport& report, Ended ended);
  std::string Record(const std::string& key, const kube::Event& event,
                     const ReconcileReport& report, bool failed);
  static void AddProblem(Ended& ended, const std::string& problem);
  std::shared_ptr<State> StateFor(const std::string& key, const std::string& uid);
  void Drop(const std::string& key);

  ReconcilerDeps deps_;
  ReconcilerOptions options_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<State>> states_;
  GroupListCache group_lists_;
};

}  // namespace groupscaler::controller
