#include "controller/reconciler.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "controller/status_patch.h"
#include "kafka/lag_reader.h"
#include "kube/rest_client.h"
#include "policy/policy.h"
#include "spec/autoscaler_spec.h"

namespace groupscaler::controller {
namespace {

Condition Cond(const char* type, ConditionStatus status, std::string reason,
               std::string message = "") {
  return {type, status, std::move(reason), std::move(message)};
}

// The conditions, Unknown until a step of the reconcile knows better. Every
// condition carries a reason and a message, as the API conventions ask.
struct Conditions {
  Condition ready = Cond(kConditionReady, ConditionStatus::kUnknown, "Pending",
                         "the reconcile stopped before a decision");
  Condition active = Cond(kConditionActive, ConditionStatus::kUnknown, "LagUnknown",
                          "the group's lag is not known");
  Condition at_ceiling = Cond(kConditionAtPartitionCeiling, ConditionStatus::kUnknown, "LagUnknown",
                              "the partition count is not known");
  Condition kafka = Cond(kConditionKafkaReachable, ConditionStatus::kUnknown, "NotObserved",
                         "Kafka was not asked");
  Condition target = Cond(kConditionTargetFound, ConditionStatus::kUnknown, "NotRead",
                          "the scale target was not read");
  Condition spec =
      Cond(kConditionSpecValid, ConditionStatus::kUnknown, "NotRead", "the spec was not read");
  Condition stalled = Cond(kConditionStalled, ConditionStatus::kUnknown, "LagUnknown",
                           "the group's lag is not known");
  Condition per_instance = Cond(kConditionPerInstanceGroupIds, ConditionStatus::kUnknown,
                                "NotChecked", "the pod template and group list were not checked");
  Condition hpa = Cond(kConditionConflictingHpa, ConditionStatus::kUnknown, "NotChecked",
                       "HorizontalPodAutoscalers were not listed");

  std::vector<Condition> Ordered() const {
    return {ready, active, at_ceiling, kafka, target, spec, stalled, per_instance, hpa};
  }
};

using kube::IsNotFound;

std::string WorkloadName(const spec::TargetRef& ref, const std::string& namespace_name) {
  return ref.kind + " " + namespace_name + "/" + ref.name;
}

}  // namespace

std::string MakeKey(const std::string& namespace_name, const std::string& name) {
  return namespace_name + "/" + name;
}

std::optional<std::pair<std::string, std::string>> SplitKey(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == key.size()) return std::nullopt;
  return std::make_pair(key.substr(0, slash), key.substr(slash + 1));
}

Reconciler::Reconciler(ReconcilerDeps deps, ReconcilerOptions options)
    : deps_(deps), options_(options), group_lists_(deps.clock, options.group_list_interval) {}

size_t Reconciler::tracked() const {
  std::lock_guard lock(mu_);
  return states_.size();
}

std::shared_ptr<Reconciler::State> Reconciler::StateFor(const std::string& key,
                                                        const std::string& uid) {
  std::lock_guard lock(mu_);
  std::shared_ptr<State>& state = states_[key];
  // A new uid is a new object under an old name: nothing of the old one's
  // history applies to it.
  if (!state || state->uid != uid) {
    state = std::make_shared<State>();
    state->uid = uid;
  }
  return state;
}

void Reconciler::Drop(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    states_.erase(key);
  }
  if (deps_.metrics == nullptr) return;
  if (std::optional<std::pair<std::string, std::string>> parts = SplitKey(key)) {
    deps_.metrics->ForgetAutoscaler(parts->first, parts->second);
  }
}

void Reconciler::Record(const kube::ObjectReference& ref, kube::EventType type,
                        const std::string& reason, const std::string& message) {
  if (cancelled_) return;
  const Status status = deps_.events->RecordEvent(
      {.involved = ref, .type = type, .reason = reason, .message = message});
  if (!status.ok()) {
    spdlog::warn("{}/{}: cannot record event {}: {}", ref.namespace_name, ref.name, reason,
                 status.ToString());
  }
}

void Reconciler::Warn(State& state, const kube::ObjectReference& ref, const std::string& reason,
                      const std::string& message) {
  if (state.warned.contains(reason)) return;
  spdlog::warn("{}/{}: {}: {}", ref.namespace_name, ref.name, reason, message);
  Record(ref, kube::EventType::kWarning, reason, message);
  state.warned.insert(reason);
}

Outcome Reconciler::Reconcile(const std::string& key) {
  const Timestamp start = deps_.clock->Now();
  bool held = false;
  const Outcome outcome = ReconcileOnce(key, held);
  // A reconcile cut short by Cancel() is neither a success nor an error.
  if (deps_.metrics != nullptr && !cancelled_) {
    deps_.metrics->RecordReconcile(outcome.failed ? ReconcileResult::kError
                                   : held         ? ReconcileResult::kHold
                                                  : ReconcileResult::kSuccess,
                                   deps_.clock->Now() - start);
  }
  return outcome;
}

Outcome Reconciler::ReconcileOnce(const std::string& key, bool& held) {
  if (cancelled_) return Outcome::Forget();
  const std::optional<std::pair<std::string, std::string>> parts = SplitKey(key);
  if (!parts) {
    spdlog::error("ignoring malformed key '{}'", key);
    return Outcome::Forget();
  }
  const auto& [ns, name] = *parts;

  StatusOr<kube::Autoscaler> cr = deps_.autoscalers->GetAutoscaler(ns, name);
  if (!cr.ok()) {
    if (IsNotFound(cr.status())) {
      // Deleted: forget it and leave the workload's replicas as they are.
      Drop(key);
      spdlog::info("{}: deleted; no longer scaling", key);
      return Outcome::Forget();
    }
    spdlog::warn("{}: cannot read: {}", key, cr.status().ToString());
    return Outcome::FailedAtMost(options_.default_poll_interval);
  }
  const kube::ObjectMeta& meta = cr->metadata;
  std::shared_ptr<State> state = StateFor(key, meta.uid);
  const kube::ObjectReference ref{.api_version = "groupscaler.io/v1alpha1",
                                  .kind = "ConsumerGroupAutoscaler",
                                  .namespace_name = ns,
                                  .name = name,
                                  .uid = meta.uid};
  const Timestamp now = deps_.clock->Now();
  StatusReport report{.observed_generation = meta.generation};
  Conditions conds;
  AutoscalerSample sample{.namespace_name = ns, .name = name};

  // Writes the status, then returns `outcome`. A status write that fails is
  // logged (and counted by the request metrics) but does not fail the
  // reconcile: the scaling already happened, and a backoff would only delay
  // the next decision.
  auto finish = [&](Outcome outcome) -> Outcome {
    if (cancelled_) return Outcome::Forget();
    report.conditions = conds.Ordered();
    const std::optional<std::string> patch = StatusPatch(report, cr->json, now);
    if (patch) {
      StatusOr<kube::Autoscaler> patched =
          deps_.autoscalers->PatchAutoscalerStatus(ns, name, *patch);
      if (!patched.ok()) {
        if (IsNotFound(patched.status())) {
          Drop(key);
          return Outcome::Forget();
        }
        spdlog::warn("{}: cannot write status: {}", key, patched.status().ToString());
      }
    }
    return outcome;
  };

  // 1. The spec. An invalid one is the user's to fix: say so once per
  // generation and look again at the default interval, never in a backoff
  // loop that would flood the API server.
  StatusOr<spec::AutoscalerSpec> parsed =
      spec::ParseAutoscaler(cr->json, key, spec::Use::kController);
  StatusOr<kube::WorkloadKind> kind = parsed.ok()
                                          ? kube::ParseWorkloadKind(parsed->scale_target_ref.kind)
                                          : StatusOr<kube::WorkloadKind>(parsed.status());
  if (!kind.ok()) {
    const std::string message = kind.status().message();
    state->reader.reset();
    conds.spec = Cond(kConditionSpecValid, ConditionStatus::kFalse, kReasonInvalidSpec, message);
    conds.ready = Cond(kConditionReady, ConditionStatus::kFalse, kReasonInvalidSpec, message);
    report.reason = kReasonInvalidSpec;
    report.message = message;
    if (state->invalid_generation_warned != meta.generation) {
      spdlog::warn("{}: invalid spec: {}", key, message);
      Record(ref, kube::EventType::kWarning, kReasonInvalidSpec, message);
      state->invalid_generation_warned = meta.generation;
    }
    held = true;
    if (deps_.metrics != nullptr) deps_.metrics->RecordAutoscaler(sample);
    return finish(Outcome::RequeueAfter(options_.default_poll_interval));
  }
  state->invalid_generation_warned.reset();
  const spec::AutoscalerSpec& spec = *parsed;
  const std::chrono::milliseconds poll = std::chrono::seconds(spec.poll_interval_seconds);
  conds.spec = Cond(kConditionSpecValid, ConditionStatus::kTrue, "Valid", "the spec is valid");
  sample.spec_valid = true;
  sample.group = spec.kafka.group_id;

  // 2. The target's /scale.
  const kube::WorkloadRef target{
      .kind = *kind, .namespace_name = ns, .name = spec.scale_target_ref.name};
  const std::string target_name = WorkloadName(spec.scale_target_ref, ns);
  StatusOr<kube::Scale> scale = deps_.scales->GetScale(target);
  if (!scale.ok() && !IsNotFound(scale.status())) {
    const std::string message =
        "cannot read the scale of " + target_name + ": " + scale.status().message();
    conds.target =
        Cond(kConditionTargetFound, ConditionStatus::kUnknown, kReasonScaleUnreadable, message);
    conds.ready = Cond(kConditionReady, ConditionStatus::kFalse, kReasonScaleUnreadable, message);
    report.reason = kReasonScaleUnreadable;
    report.message = message;
    Warn(*state, ref, kReasonScaleUnreadable, message);
    return finish(Outcome::FailedAtMost(poll));
  }
  state->warned.erase(kReasonScaleUnreadable);
  const bool target_found = scale.ok();
  if (target_found) {
    conds.target = Cond(kConditionTargetFound, ConditionStatus::kTrue, "TargetFound", target_name);
    report.current_replicas = scale->spec_replicas;
    state->warned.erase(kReasonTargetNotFound);
  } else {
    const std::string message = target_name + " not found";
    conds.target =
        Cond(kConditionTargetFound, ConditionStatus::kFalse, kReasonTargetNotFound, message);
    Warn(*state, ref, kReasonTargetNotFound, message);
  }

  // 3. Another autoscaler on the same workload. Listing HPAs may be
  // forbidden by RBAC; that only loses the warning, never the scaling.
  std::vector<kube::HpaInfo> conflicting;
  if (deps_.hpas != nullptr && target_found) {
    StatusOr<std::vector<kube::HpaInfo>> hpas = deps_.hpas->ListHpas(ns);
    if (hpas.ok()) {
      conflicting = kube::HpasTargeting(*hpas, target);
      conds.hpa = Cond(kConditionConflictingHpa, ConditionStatus::kFalse, "NoConflictingHPA",
                       "no HorizontalPodAutoscaler in " + ns + " scales " + target_name);
      state->warned.erase(kReasonHpasUnreadable);
    } else {
      // The check is off: say so, rather than pass over it in silence.
      const std::string message = "cannot list HorizontalPodAutoscalers in " + ns + " (" +
                                  hpas.status().message() + "): a second autoscaler on " +
                                  target_name + " would go unseen";
      conds.hpa =
          Cond(kConditionConflictingHpa, ConditionStatus::kUnknown, kReasonHpasUnreadable, message);
      Warn(*state, ref, kReasonHpasUnreadable, message);
    }
  }
  std::string conflict_message;
  if (!conflicting.empty()) {
    conflict_message = "HorizontalPodAutoscaler " + ns + "/" + conflicting.front().name +
                       " also scales " + target_name + "; holding its replicas";
    conds.hpa = Cond(kConditionConflictingHpa, ConditionStatus::kTrue, kReasonConflictingHpa,
                     conflict_message);
    Warn(*state, ref, kReasonConflictingHpa, conflict_message);
  } else {
    state->warned.erase(kReasonConflictingHpa);
  }

  // 3b. A group id per replica in the pod template (anti_pattern.h), read
  // again only when the workload changed. Reading it may be forbidden; that
  // only loses the warning. The condition is set in 5b, with the check of
  // the listed groups.
  bool template_checked = false;
  bool template_unreadable = false;
  if (deps_.workloads != nullptr && target_found) {
    bool checked = !scale->resource_version.empty() &&
                   scale->resource_version == state->checked_template_version;
    if (!checked) {
      StatusOr<kube::PodTemplate> pod_template = deps_.workloads->GetPodTemplate(target);
      if (pod_template.ok()) {
        state->per_instance_group_id = FindPerInstanceGroupId(*pod_template);
        state->checked_template_version = scale->resource_version;
        checked = true;
      } else {
        spdlog::debug("{}: cannot read {}: {}", key, target_name, pod_template.status().ToString());
        state->checked_template_version.clear();
        template_unreadable = true;
        conds.per_instance = Cond(kConditionPerInstanceGroupIds, ConditionStatus::kUnknown,
                                  "PodTemplateUnreadable", pod_template.status().message());
      }
    }
    template_checked = checked;
  }

  // 4. The auth Secret and the cluster's shared reader.
  kafka::ClusterConfig cluster{.bootstrap_servers = spec.kafka.bootstrap_servers};
  std::string auth_reason;
  std::string auth_message;
  if (!spec.kafka.auth_secret_ref.empty()) {
    StatusOr<std::map<std::string, std::string>> data =
        deps_.secrets->GetSecretData(ns, spec.kafka.auth_secret_ref);
    if (data.ok()) {
      cluster.auth = std::move(data).value();
    } else if (IsNotFound(data.status())) {
      auth_reason = kReasonSecretNotFound;
      auth_message = "Secret " + ns + "/" + spec.kafka.auth_secret_ref + " not found";
    } else {
      auth_reason = kReasonSecretUnreadable;
      auth_message = "cannot read Secret " + ns + "/" + spec.kafka.auth_secret_ref + ": " +
                     data.status().message();
    }
  }
  if (auth_reason.empty()) {
    StatusOr<std::shared_ptr<kafka::LagReader>> reader = deps_.readers->Get(cluster);
    if (reader.ok()) {
      state->reader = std::move(reader).value();
    } else {
      auth_reason = kReasonInvalidKafkaSettings;
      // The registry's messages name keys, never secret values.
      auth_message = "Kafka client settings rejected: " + reader.status().message();
    }
  }
  for (const char* reason :
       {kReasonSecretNotFound, kReasonSecretUnreadable, kReasonInvalidKafkaSettings}) {
    if (auth_reason != reason) state->warned.erase(reason);
  }
  if (!auth_reason.empty()) {
    state->reader.reset();
    conds.kafka =
        Cond(kConditionKafkaReachable, ConditionStatus::kUnknown, auth_reason, auth_message);
    Warn(*state, ref, auth_reason, auth_message);
  }

  // 5. Observe the group.
  std::optional<kafka::GroupObservation> group;
  policy::Observation observation;
  if (state->reader) {
    StatusOr<std::vector<kafka::GroupObservation>> observed = state->reader->Observe(
        {{.group_id = spec.kafka.group_id, .topics = spec.kafka.topics}}, options_.observe_timeout);
    if (observed.ok() && observed->size() == 1) {
      group = std::move((*observed)[0]);
      observation = group->observation;
    } else {
      observation = kafka::FailedObservation(
          observed.ok() ? InternalError("the reader answered for another number of groups")
                        : observed.status());
    }
    if (observation.failed) {
      const std::string message = "group " + spec.kafka.group_id + ": " + observation.error;
      conds.kafka =
          Cond(kConditionKafkaReachable, ConditionStatus::kFalse, kReasonKafkaUnreachable, message);
      Warn(*state, ref, kReasonKafkaUnreachable, message);
    } else {
      conds.kafka = Cond(kConditionKafkaReachable, ConditionStatus::kTrue, "Observed",
                         "group " + spec.kafka.group_id);
      state->warned.erase(kReasonKafkaUnreachable);
    }
  }
  const bool kafka_ok = state->reader && !observation.failed;

  // 5b. Groups named like this one plus an instance suffix, from the
  // cluster's list of groups (listed at most once per group_list_interval
  // for all its autoscalers; never where the brokers do not list groups),
  // confirmed by their committed offsets on these topics. Only after a good
  // observation, so a struggling cluster is asked nothing more.
  const kafka::GroupQuery query{.group_id = spec.kafka.group_id, .topics = spec.kafka.topics};
  if (kafka_ok) {
    StatusOr<std::shared_ptr<const GroupListing>> listing =
        group_lists_.Get(state->reader, options_.observe_timeout);
    if (listing.ok() && (!state->groups_per_instance ||
                         state->groups_per_instance->listed_at != (*listing)->listed_at ||
                         state->groups_per_instance->query != query)) {
      StatusOr<GroupsPerInstance> check =
          CheckGroupsPerInstance(**listing, query, *state->reader, options_.observe_timeout);
      if (check.ok()) {
        state->groups_per_instance = std::move(check).value();
      } else {
        spdlog::debug("{}: cannot read the committed offsets of groups named like {}: {}", key,
                      spec.kafka.group_id, check.status().ToString());
      }
    } else if (!listing.ok()) {
      spdlog::debug("{}: cannot list groups: {}", key, listing.status().ToString());
    }
  }
  std::vector<std::string> per_instance_findings;
  std::vector<std::string> per_instance_checks;
  if (template_checked) {
    if (state->per_instance_group_id) {
      per_instance_findings.push_back(DescribePerInstanceGroupId(
          *state->per_instance_group_id, scale->spec_replicas, spec.kafka.group_id));
    } else {
      per_instance_checks.push_back("no group id derived from the pod's identity in " +
                                    target_name);
    }
  }
  if (state->groups_per_instance && state->groups_per_instance->query == query) {
    if (!state->groups_per_instance->groups.empty()) {
      per_instance_findings.push_back(DescribeGroupsPerInstance(*state->groups_per_instance));
    } else {
      per_instance_checks.push_back("no groups named like " + spec.kafka.group_id +
                                    " plus an instance suffix commit offsets on its topics");
    }
  }
  if (!per_instance_findings.empty()) {
    const std::string message = fmt::format("{}", fmt::join(per_instance_findings, "; "));
    conds.per_instance = Cond(kConditionPerInstanceGroupIds, ConditionStatus::kTrue,
                              kReasonPerInstanceGroupIds, message);
    Warn(*state, ref, kReasonPerInstanceGroupIds, message);
  } else if (!per_instance_checks.empty() && !template_unreadable) {
    conds.per_instance =
        Cond(kConditionPerInstanceGroupIds, ConditionStatus::kFalse, "SharedGroupId",
             fmt::format("{}", fmt::join(per_instance_checks, "; ")));
    state->warned.erase(kReasonPerInstanceGroupIds);
  }

  if (group && group->member_list) {
    observation.members = static_cast<int32_t>(group->member_list->size());
  }
  report.members = observation.members;

  // 6. Decide, unless something above says hold.
  std::string hold_reason;
  std::string hold_message;
  if (!auth_reason.empty()) {
    hold_reason = auth_reason;
    hold_message = auth_message;
  } else if (!target_found) {
    hold_reason = kReasonTargetNotFound;
    hold_message = conds.target.message;
  } else if (!conflicting.empty()) {
    hold_reason = kReasonConflictingHpa;
    hold_message = conflict_message;
  }
  std::optional<policy::Decision> decision;
  if (hold_reason.empty()) {
    observation.current_replicas = scale->spec_replicas;
    decision = policy::Decide(observation, state->history, spec.policy, now);
  }

  // 7. Act: /scale only when the count changes.
  if (cancelled_) return Outcome::Forget();
  if (decision && decision->desired != scale->spec_replicas) {
    StatusOr<kube::Scale> patched = deps_.scales->PatchScale(target, decision->desired);
    if (!patched.ok()) {
      // The history is not advanced: the retry decides again from the same
      // state, as if this attempt never happened.
      const std::string message = "cannot scale " + target_name + " to " +
                                  std::to_string(decision->desired) + ": " +
                                  patched.status().message();
      conds.ready = Cond(kConditionReady, ConditionStatus::kFalse, kReasonScaleFailed, message);
      report.reason = kReasonScaleFailed;
      report.message = message;
      report.desired_replicas = decision->desired;
      Warn(*state, ref, kReasonScaleFailed, message);
      return finish(Outcome::FailedAtMost(poll));
    }
    state->warned.erase(kReasonScaleFailed);
    const bool up = decision->desired > scale->spec_replicas;
    sample.scaled = up ? 1 : -1;
    const std::string message = std::to_string(scale->spec_replicas) + "→" +
                                std::to_string(decision->desired) + ": " + decision->message;
    spdlog::info("{}: {} {} {}", key, up ? "scaled up" : "scaled down", target_name, message);
    Record(ref, kube::EventType::kNormal, up ? kReasonScaledUp : kReasonScaledDown, message);
    report.last_scale_time = now;
  }
  if (decision) state->history = decision->history;

  // 8. Status and the warnings that come from the decision.
  report.rebalances_caused = state->history.rebalances_caused;
  if (decision) {
    const policy::Decision& d = *decision;
    report.desired_replicas = d.desired;
    report.reason = policy::ReasonName(d.reason);
    report.message = d.message;
    if (kafka_ok) {
      report.partitions = d.partitions;
      report.ceiling = d.ceiling;
    }
    if (d.lag_known) {
      report.total_lag = d.total_lag;
      const bool active = d.total_lag > spec.policy.activation_lag_threshold;
      conds.active = Cond(
          kConditionActive, active ? ConditionStatus::kTrue : ConditionStatus::kFalse,
          active ? "LagAboveActivation" : "LagAtOrBelowActivation",
          "lag " + std::to_string(d.total_lag) + (active ? " > " : " <= ") +
              "activationLagThreshold " + std::to_string(spec.policy.activation_lag_threshold));
      ReportDecision(d, &report);
      conds.stalled = StalledCondition(d, spec.policy.stall_seconds);
      for (const char* reason : {kReasonStalledPartitions, kReasonGroupStopped}) {
        if (conds.stalled.reason != reason) state->warned.erase(reason);
      }
      if (conds.stalled.status == ConditionStatus::kTrue) {
        Warn(*state, ref, conds.stalled.reason, conds.stalled.message);
      }
    }
    if (kafka_ok) {
      const std::string ceiling_message =
          "ceiling " + std::to_string(d.ceiling) + " (" + std::to_string(d.partitions) +
          " partitions, " + std::to_string(spec.policy.consumers_per_replica) +
          " consumers per replica, maxReplicas " + std::to_string(spec.policy.max_replicas) + ")";
      conds.at_ceiling =
          Cond(kConditionAtPartitionCeiling,
               d.flags.at_ceiling ? ConditionStatus::kTrue : ConditionStatus::kFalse,
               d.flags.at_ceiling ? "AtPartitionCeiling" : "BelowCeiling", ceiling_message);
      // Only the replicas running at the ceiling make more replicas useless:
      // below it, the demand reaching the ceiling is still being scaled to.
      const bool running_at_ceiling = d.flags.at_ceiling && d.current >= d.ceiling;
      if (!running_at_ceiling) {
        state->warned.erase(kReasonAtPartitionCeiling);
      } else if (d.lag_known && state->previous_lag && d.total_lag > *state->previous_lag) {
        // More replicas would not help: only more partitions (or faster
        // consumers) can drain this.
        Warn(*state, ref, kReasonAtPartitionCeiling,
             "lag " + std::to_string(d.total_lag) + " still growing at the " + ceiling_message);
      }
      if (d.flags.idle_members) {
        Warn(*state, ref, kReasonIdleMembers,
             std::to_string(scale->spec_replicas) + " replicas" +
                 (observation.members ? " (" + std::to_string(*observation.members) + " members)"
                                      : std::string()) +
                 " exceed the " + ceiling_message + ": the excess consumers stay idle");
      } else {
        state->warned.erase(kReasonIdleMembers);
      }
    }
    if (d.lag_known) state->previous_lag = d.total_lag;
  } else if (target_found) {
    report.desired_replicas = scale->spec_replicas;  // held where it is
  }

  if (!hold_reason.empty()) {
    conds.ready = Cond(kConditionReady, ConditionStatus::kFalse, hold_reason, hold_message);
    report.reason = hold_reason;
    report.message = hold_message;
  } else if (!kafka_ok) {
    conds.ready =
        Cond(kConditionReady, ConditionStatus::kFalse, conds.kafka.reason, conds.kafka.message);
  } else {
    conds.ready = Cond(kConditionReady, ConditionStatus::kTrue, "Reconciled",
                       report.message.empty() ? "observed and decided" : report.message);
  }
  held = !hold_reason.empty() || !kafka_ok;
  if (deps_.metrics != nullptr) {
    if (state->reader) sample.kafka_reachable = kafka_ok;
    if (kafka_ok) sample.observed_at = now;
    sample.current_replicas = report.current_replicas;
    sample.desired_replicas = report.desired_replicas;
    sample.members = report.members;
    if (decision) AddDecision(*decision, kafka_ok, sample);
    deps_.metrics->RecordAutoscaler(sample);
  }
  return finish(Outcome::RequeueAfter(poll));
}

}  // namespace groupscaler::controller
