#include "controller/reconciler.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "controller/reconcile_report.h"
#include "controller/status_patch.h"
#include "kafka/lag_reader.h"
#include "kube/rest_client.h"
#include "policy/policy.h"
#include "spec/autoscaler_spec.h"

namespace groupscaler::controller {
namespace {

using kube::IsNotFound;

Condition Cond(const char* type, ConditionStatus status, std::string reason,
               std::string message = "") {
  return {type, status, std::move(reason), std::move(message)};
}

// A warning that holds now, and one whose check found nothing.
WarningCheck Holds(std::string reason, std::string message) {
  return {std::move(reason), std::move(message)};
}
WarningCheck Clear(std::string reason) { return {std::move(reason), std::nullopt}; }

// What one step found for the status and the Events.
struct Found {
  std::vector<Condition> conditions;
  std::vector<WarningCheck> warnings;
};

// Adds what a step found to the report: its conditions replace those of
// their types, its warning checks follow the earlier ones.
void Note(ReconcileReport& report, Found found) {
  for (Condition& c : found.conditions) report.Set(std::move(c));
  for (WarningCheck& w : found.warnings) report.warnings.push_back(std::move(w));
}

// Why the reconcile does not scale at all.
struct Hold {
  std::string reason;
  std::string message;
};

// The scale target of a valid spec.
struct Target {
  spec::AutoscalerSpec spec;
  kube::WorkloadRef ref;
  std::string name;  // "Deployment ns/name", for messages
  std::chrono::milliseconds poll{0};
};

// What reading the target's /scale found.
struct TargetRead {
  std::optional<kube::Scale> scale;  // unset: not found
  Found found;
  std::optional<std::string> unreadable;  // set: why it could not be read
};

struct HpaCheck {
  Found found;
  std::optional<Hold> conflict;
};

struct TemplateCheck {
  bool checked = false;     // the pod template's finding in State is current
  bool unreadable = false;  // it could not be read
  Found found;
};

struct KafkaAccess {
  Found found;
  std::optional<Hold> hold;  // the auth Secret or the client settings failed
};

struct Observed {
  Found found;
  policy::Observation observation;
  bool ok = false;  // a reader, and an observation that did not fail
};

}  // namespace

// One reconcile of one autoscaler once its CR is read: the steps, each a
// function that returns what it found, and Run(), which puts their findings
// into one ReconcileReport. Touches nothing outside `state` but through the
// clients; writes only the /scale (Act). Lives for one call.
class Reconciler::Pass {
 public:
  Pass(Reconciler& owner, const kube::Autoscaler& cr, State& state,
       const kube::ObjectReference& ref)
      : owner_(owner),
        deps_(owner.deps_),
        cr_(cr),
        state_(state),
        key_(MakeKey(ref.namespace_name, ref.name)),
        ns_(ref.namespace_name),
        now_(deps_.clock->Now()) {}

  // Read, observe, decide, act: what was found, and how the reconcile ends
  // (RequeueAfter the poll interval, or FailedAtMost it with the cause).
  std::pair<ReconcileReport, Ended> Run();

 private:
  ReconcileReport NewReport() const;
  std::pair<ReconcileReport, Ended> InvalidSpec(ReconcileReport report, const std::string& message);
  std::pair<ReconcileReport, Ended> Failed(ReconcileReport report, const char* reason,
                                           const std::string& message, const Target& target);
  const StatusOr<spec::AutoscalerSpec>& ParsedSpec();
  StatusOr<Target> ReadSpec();
  TargetRead ReadTarget(const Target& target) const;
  HpaCheck CheckHpas(const Target& target, bool target_found) const;
  TemplateCheck CheckTemplate(const Target& target, const kube::Scale& scale);
  KafkaAccess ConnectKafka(const spec::AutoscalerSpec& spec);
  Observed Observe(const spec::AutoscalerSpec& spec) const;
  void RefreshGroupsPerInstance(const kafka::GroupQuery& query);
  Found PerInstanceFindings(const Target& target, const TemplateCheck& check,
                            const kube::Scale* scale) const;
  std::pair<ReconcileReport, Ended> DecideAndAct(ReconcileReport report, const Target& target,
                                                 const TargetRead& read, std::optional<Hold> hold,
                                                 Observed observed);
  StatusOr<ScaleWrite> Act(const policy::Decision& decision, const Target& target, int32_t current,
                           size_t after_warnings) const;
  Found LagFindings(const policy::Decision& d, const spec::AutoscalerSpec& spec) const;
  Found CeilingFindings(const policy::Decision& d, const spec::AutoscalerSpec& spec,
                        std::optional<int32_t> members) const;
  static void Conclude(ReconcileReport& report, const std::optional<Hold>& hold, bool observed);

  Reconciler& owner_;
  const ReconcilerDeps& deps_;
  const kube::Autoscaler& cr_;
  State& state_;
  const std::string key_;
  const std::string ns_;
  const Timestamp now_;
};

std::pair<ReconcileReport, Reconciler::Ended> Reconciler::Pass::Run() {
  ReconcileReport report = NewReport();
  StatusOr<Target> target = ReadSpec();
  if (!target.ok()) return InvalidSpec(std::move(report), target.status().message());
  const spec::AutoscalerSpec& spec = target->spec;
  report.spec_valid = true;
  report.group = spec.kafka.group_id;
  Note(report, {{Cond(kConditionSpecValid, ConditionStatus::kTrue, "Valid", "the spec is valid")},
                {Clear(kReasonInvalidSpec)}});

  TargetRead read = ReadTarget(*target);
  Note(report, read.found);
  if (read.unreadable) {
    return Failed(std::move(report), kReasonScaleUnreadable, *read.unreadable, *target);
  }
  if (read.scale) report.current_replicas = read.scale->spec_replicas;
  HpaCheck hpas = CheckHpas(*target, read.scale.has_value());
  Note(report, hpas.found);
  TemplateCheck pod_template;
  if (read.scale) pod_template = CheckTemplate(*target, *read.scale);
  KafkaAccess access = ConnectKafka(spec);
  Note(report, access.found);
  Observed observed = Observe(spec);
  Note(report, observed.found);
  if (state_.reader) report.kafka_reachable = observed.ok;
  if (observed.ok) {
    RefreshGroupsPerInstance({.group_id = spec.kafka.group_id, .topics = spec.kafka.topics});
  }
  Note(report, PerInstanceFindings(*target, pod_template, read.scale ? &*read.scale : nullptr));
  report.members = observed.observation.members;

  // Holds, the first that applies: no Kafka client, no target, another
  // autoscaler on it.
  std::optional<Hold> hold = access.hold;
  if (!hold && !read.scale) hold = Hold{kReasonTargetNotFound, target->name + " not found"};
  if (!hold) hold = hpas.conflict;
  return DecideAndAct(std::move(report), *target, read, std::move(hold), std::move(observed));
}

// The report before any step: the object's identity and generation.
ReconcileReport Reconciler::Pass::NewReport() const {
  return {.namespace_name = ns_,
          .name = cr_.metadata.name,
          .observed_generation = cr_.metadata.generation,
          .now = now_};
}

// An invalid spec is the user's to fix: said once per generation (Announce),
// looked at again at the default interval, never in a backoff loop that
// would flood the API server. Kafka is not asked.
std::pair<ReconcileReport, Reconciler::Ended> Reconciler::Pass::InvalidSpec(
    ReconcileReport report, const std::string& message) {
  state_.reader.reset();
  Note(report, {{Cond(kConditionSpecValid, ConditionStatus::kFalse, kReasonInvalidSpec, message),
                 Cond(kConditionReady, ConditionStatus::kFalse, kReasonInvalidSpec, message)},
                {Holds(kReasonInvalidSpec, message)}});
  report.reason = kReasonInvalidSpec;
  report.message = message;
  return {std::move(report),
          {.outcome = Outcome::RequeueAfter(owner_.options_.default_poll_interval),
           .result = ReconcileResult::kHold}};
}

// A transient failure of the API server (`reason` is its Warning): said in
// Ready, returned with its cause, retried with backoff.
std::pair<ReconcileReport, Reconciler::Ended> Reconciler::Pass::Failed(ReconcileReport report,
                                                                       const char* reason,
                                                                       const std::string& message,
                                                                       const Target& target) {
  Note(report, {{Cond(kConditionReady, ConditionStatus::kFalse, reason, message)},
                {Holds(reason, message)}});
  report.reason = reason;
  report.message = message;
  return {std::move(report),
          {.outcome = Outcome::FailedAtMost(target.poll),
           .result = ReconcileResult::kError,
           .problem = message}};
}

// The CR's spec, parsed again only when the CR's text changed.
const StatusOr<spec::AutoscalerSpec>& Reconciler::Pass::ParsedSpec() {
  const size_t hash = std::hash<std::string_view>{}(cr_.json);
  if (!state_.parsed_spec || state_.parsed_text_hash != hash) {
    state_.parsed_spec = spec::ParseAutoscaler(cr_.json, key_, spec::Use::kController);
    state_.parsed_text_hash = hash;
  }
  return *state_.parsed_spec;
}

// The spec parsed and validated, with its target's kind understood.
StatusOr<Target> Reconciler::Pass::ReadSpec() {
  const StatusOr<spec::AutoscalerSpec>& parsed = ParsedSpec();
  if (!parsed.ok()) return parsed.status();
  StatusOr<kube::WorkloadKind> kind = kube::ParseWorkloadKind(parsed->scale_target_ref.kind);
  if (!kind.ok()) return kind.status();
  const spec::TargetRef& ref = parsed->scale_target_ref;
  Target target{.ref = {.kind = *kind, .namespace_name = ns_, .name = ref.name},
                .name = ref.kind + " " + ns_ + "/" + ref.name,
                .poll = std::chrono::seconds(parsed->poll_interval_seconds)};
  target.spec = *parsed;
  return target;
}

// The target's /scale: found, missing (a hold), or unreadable (a failure;
// never read as missing).
TargetRead Reconciler::Pass::ReadTarget(const Target& target) const {
  StatusOr<kube::Scale> scale = deps_.scales->GetScale(target.ref);
  TargetRead read;
  if (!scale.ok() && !IsNotFound(scale.status())) {
    const std::string message =
        "cannot read the scale of " + target.name + ": " + scale.status().message();
    read.unreadable = message;
    read.found.conditions = {
        Cond(kConditionTargetFound, ConditionStatus::kUnknown, kReasonScaleUnreadable, message)};
    return read;
  }
  read.found.warnings = {Clear(kReasonScaleUnreadable)};
  if (scale.ok()) {
    read.scale = std::move(scale).value();
    read.found.conditions = {
        Cond(kConditionTargetFound, ConditionStatus::kTrue, "TargetFound", target.name)};
    read.found.warnings.push_back(Clear(kReasonTargetNotFound));
  } else {
    const std::string message = target.name + " not found";
    read.found.conditions = {
        Cond(kConditionTargetFound, ConditionStatus::kFalse, kReasonTargetNotFound, message)};
    read.found.warnings.push_back(Holds(kReasonTargetNotFound, message));
  }
  return read;
}

// Another autoscaler on the same workload: a hold. Listing HPAs may be
// forbidden by RBAC; that turns the check off (said), never the scaling.
HpaCheck Reconciler::Pass::CheckHpas(const Target& target, bool target_found) const {
  HpaCheck check;
  std::vector<kube::HpaInfo> conflicting;
  if (deps_.hpas != nullptr && target_found) {
    StatusOr<std::vector<kube::HpaInfo>> hpas = deps_.hpas->ListHpas(ns_);
    if (hpas.ok()) {
      conflicting = kube::HpasTargeting(*hpas, target.ref);
      check.found.conditions = {
          Cond(kConditionConflictingHpa, ConditionStatus::kFalse, "NoConflictingHPA",
               "no HorizontalPodAutoscaler in " + ns_ + " scales " + target.name)};
      check.found.warnings = {Clear(kReasonHpasUnreadable)};
    } else {
      const std::string message = "cannot list HorizontalPodAutoscalers in " + ns_ + " (" +
                                  hpas.status().message() + "): a second autoscaler on " +
                                  target.name + " would go unseen";
      check.found.conditions = {Cond(kConditionConflictingHpa, ConditionStatus::kUnknown,
                                     kReasonHpasUnreadable, message)};
      check.found.warnings = {Holds(kReasonHpasUnreadable, message)};
    }
  }
  if (conflicting.empty()) {
    check.found.warnings.push_back(Clear(kReasonConflictingHpa));
    return check;
  }
  const std::string message = "HorizontalPodAutoscaler " + ns_ + "/" + conflicting.front().name +
                              " also scales " + target.name + "; holding its replicas";
  check.found.conditions = {
      Cond(kConditionConflictingHpa, ConditionStatus::kTrue, kReasonConflictingHpa, message)};
  check.found.warnings.push_back(Holds(kReasonConflictingHpa, message));
  check.conflict = Hold{kReasonConflictingHpa, message};
  return check;
}

// A group id per replica in the pod template (anti_pattern.h), read again
// only when the workload changed; the finding is kept in State. Reading it
// may be forbidden; that only loses the warning.
TemplateCheck Reconciler::Pass::CheckTemplate(const Target& target, const kube::Scale& scale) {
  TemplateCheck check;
  if (deps_.workloads == nullptr) return check;
  check.checked =
      !scale.resource_version.empty() && scale.resource_version == state_.checked_template_version;
  if (check.checked) return check;
  StatusOr<kube::PodTemplate> pod_template = deps_.workloads->GetPodTemplate(target.ref);
  if (pod_template.ok()) {
    state_.per_instance_group_id = FindPerInstanceGroupId(*pod_template);
    state_.checked_template_version = scale.resource_version;
    check.checked = true;
    return check;
  }
  spdlog::debug("{}: cannot read {}: {}", key_, target.name, pod_template.status().ToString());
  state_.checked_template_version.clear();
  check.unreadable = true;
  check.found.conditions = {Cond(kConditionPerInstanceGroupIds, ConditionStatus::kUnknown,
                                 "PodTemplateUnreadable", pod_template.status().message())};
  return check;
}

// The auth Secret and the cluster's shared reader, kept in State; without
// them Kafka is not asked and the reconcile holds.
KafkaAccess Reconciler::Pass::ConnectKafka(const spec::AutoscalerSpec& spec) {
  kafka::ClusterConfig cluster{.bootstrap_servers = spec.kafka.bootstrap_servers};
  std::optional<Hold> hold;
  const std::string secret = ns_ + "/" + spec.kafka.auth_secret_ref;
  if (!spec.kafka.auth_secret_ref.empty()) {
    StatusOr<std::map<std::string, std::string>> data =
        deps_.secrets->GetSecretData(ns_, spec.kafka.auth_secret_ref);
    if (data.ok()) {
      cluster.auth = std::move(data).value();
    } else if (IsNotFound(data.status())) {
      hold = Hold{kReasonSecretNotFound, "Secret " + secret + " not found"};
    } else {
      hold = Hold{kReasonSecretUnreadable,
                  "cannot read Secret " + secret + ": " + data.status().message()};
    }
  }
  if (!hold) {
    StatusOr<std::shared_ptr<kafka::LagReader>> reader = deps_.readers->Get(cluster);
    if (reader.ok()) {
      state_.reader = std::move(reader).value();
    } else {
      // The registry's messages name keys, never secret values.
      hold = Hold{kReasonInvalidKafkaSettings,
                  "Kafka client settings rejected: " + reader.status().message()};
    }
  }
  KafkaAccess access{.hold = hold};
  for (const char* reason :
       {kReasonSecretNotFound, kReasonSecretUnreadable, kReasonInvalidKafkaSettings}) {
    if (!hold || hold->reason != reason) access.found.warnings.push_back(Clear(reason));
  }
  if (hold) {
    state_.reader.reset();
    access.found.conditions = {
        Cond(kConditionKafkaReachable, ConditionStatus::kUnknown, hold->reason, hold->message)};
    access.found.warnings.push_back(Holds(hold->reason, hold->message));
  }
  return access;
}

// The group's offsets and members, through the cluster's reader (none: not
// asked). A failed observation is a value the policy holds on.
Observed Reconciler::Pass::Observe(const spec::AutoscalerSpec& spec) const {
  Observed out;
  if (!state_.reader) return out;
  StatusOr<std::vector<kafka::GroupObservation>> observed =
      state_.reader->Observe({{.group_id = spec.kafka.group_id, .topics = spec.kafka.topics}},
                             owner_.options_.observe_timeout);
  if (observed.ok() && observed->size() == 1) {
    kafka::GroupObservation& group = (*observed)[0];
    out.observation = std::move(group.observation);
    if (group.member_list) {
      out.observation.members = static_cast<int32_t>(group.member_list->size());
    }
  } else {
    out.observation = kafka::FailedObservation(
        observed.ok() ? InternalError("the reader answered for another number of groups")
                      : observed.status());
  }
  out.ok = !out.observation.failed;
  const std::string group = "group " + spec.kafka.group_id;
  if (out.ok) {
    out.found = Found{{Cond(kConditionKafkaReachable, ConditionStatus::kTrue, "Observed", group)},
                      {Clear(kReasonKafkaUnreachable)}};
  } else {
    const std::string message = group + ": " + out.observation.error;
    out.found = Found{
        {Cond(kConditionKafkaReachable, ConditionStatus::kFalse, kReasonKafkaUnreachable, message)},
        {Holds(kReasonKafkaUnreachable, message)}};
  }
  return out;
}

// Groups named like this one plus an instance suffix, from the cluster's
// list of groups (listed at most once per group_list_interval for all its
// autoscalers; never where the brokers do not list groups), confirmed by
// their committed offsets on these topics; kept in State. Called only after
// a good observation, so a struggling cluster is asked nothing more.
void Reconciler::Pass::RefreshGroupsPerInstance(const kafka::GroupQuery& query) {
  const std::chrono::milliseconds timeout = owner_.options_.observe_timeout;
  StatusOr<std::shared_ptr<const GroupListing>> listing =
      owner_.group_lists_.Get(state_.reader, timeout);
  if (!listing.ok()) {
    spdlog::debug("{}: cannot list groups: {}", key_, listing.status().ToString());
    return;
  }
  const std::optional<GroupsPerInstance>& known = state_.groups_per_instance;
  if (known && known->listed_at == (*listing)->listed_at && known->query == query) return;
  StatusOr<GroupsPerInstance> check =
      CheckGroupsPerInstance(**listing, query, *state_.reader, timeout);
  if (check.ok()) {
    state_.groups_per_instance = std::move(check).value();
  } else {
    spdlog::debug("{}: cannot read the committed offsets of groups named like {}: {}", key_,
                  query.group_id, check.status().ToString());
  }
}

// The PerInstanceGroupIds condition and warning from both checks: the pod
// template's and the listed groups'.
Found Reconciler::Pass::PerInstanceFindings(const Target& target, const TemplateCheck& check,
                                            const kube::Scale* scale) const {
  const std::string& group = target.spec.kafka.group_id;
  std::vector<std::string> findings;
  std::vector<std::string> clean;
  if (check.checked && scale != nullptr) {
    if (state_.per_instance_group_id) {
      findings.push_back(
          DescribePerInstanceGroupId(*state_.per_instance_group_id, scale->spec_replicas, group));
    } else {
      clean.push_back("no group id derived from the pod's identity in " + target.name);
    }
  }
  const kafka::GroupQuery query{.group_id = group, .topics = target.spec.kafka.topics};
  const std::optional<GroupsPerInstance>& groups = state_.groups_per_instance;
  if (groups && groups->query == query) {
    if (!groups->groups.empty()) {
      findings.push_back(DescribeGroupsPerInstance(*groups));
    } else {
      clean.push_back("no groups named like " + group +
                      " plus an instance suffix commit offsets on its topics");
    }
  }
  Found found = check.found;
  if (!findings.empty()) {
    const std::string message = fmt::format("{}", fmt::join(findings, "; "));
    found.conditions = {Cond(kConditionPerInstanceGroupIds, ConditionStatus::kTrue,
                             kReasonPerInstanceGroupIds, message)};
    found.warnings = {Holds(kReasonPerInstanceGroupIds, message)};
  } else if (!clean.empty() && !check.unreadable) {
    found.conditions = {Cond(kConditionPerInstanceGroupIds, ConditionStatus::kFalse,
                             "SharedGroupId", fmt::format("{}", fmt::join(clean, "; ")))};
    found.warnings = {Clear(kReasonPerInstanceGroupIds)};
  }
  return found;
}

// Decides unless held, writes the /scale when the count changes, and adds
// what the decision says to the report. A failed write leaves the history
// as it was: the retry decides again from the same state.
std::pair<ReconcileReport, Reconciler::Ended> Reconciler::Pass::DecideAndAct(
    ReconcileReport report, const Target& target, const TargetRead& read, std::optional<Hold> hold,
    Observed observed) {
  std::optional<policy::Decision> decision;
  // The history as it was, for a write that fails. Decide takes the state's
  // own, whose partition tracks it advances in place: the long-lived part of
  // the state is not allocated anew at every reconcile.
  std::optional<policy::History> before;
  if (!hold) {
    observed.observation.current_replicas = read.scale->spec_replicas;
    before = state_.history;
    decision =
        policy::Decide(observed.observation, std::move(state_.history), target.spec.policy, now_);
    state_.history = std::move(decision->history);
  }
  if (owner_.cancelled_) return {std::move(report), {.outcome = Outcome::Forget()}};
  if (decision && decision->desired != read.scale->spec_replicas) {
    StatusOr<ScaleWrite> written =
        Act(*decision, target, read.scale->spec_replicas, report.warnings.size());
    if (!written.ok()) {
      state_.history = std::move(*before);
      report.desired_replicas = decision->desired;
      return Failed(std::move(report), kReasonScaleFailed, written.status().message(), target);
    }
    report.scaled = std::move(written).value();
    report.warnings.push_back(Clear(kReasonScaleFailed));
  }
  report.rebalances_caused = state_.history.rebalances_caused;
  if (decision) {
    report.desired_replicas = decision->desired;
    report.reason = policy::ReasonName(decision->reason);
    report.message = decision->message;
    if (decision->lag_known) Note(report, LagFindings(*decision, target.spec));
    if (observed.ok) Note(report, CeilingFindings(*decision, target.spec, report.members));
    if (decision->lag_known) state_.previous_lag = decision->total_lag;
    report.decision = std::move(decision);
  } else if (read.scale) {
    report.desired_replicas = read.scale->spec_replicas;  // held where it is
  }
  Conclude(report, hold, observed.ok);
  const ReconcileResult result =
      hold || !observed.ok ? ReconcileResult::kHold : ReconcileResult::kSuccess;
  return {std::move(report), {.outcome = Outcome::RequeueAfter(target.poll), .result = result}};
}

// Writes the decided count to the target's /scale.
StatusOr<ScaleWrite> Reconciler::Pass::Act(const policy::Decision& decision, const Target& target,
                                           int32_t current, size_t after_warnings) const {
  StatusOr<kube::Scale> patched = deps_.scales->PatchScale(target.ref, decision.desired);
  if (!patched.ok()) {
    return Status(patched.status().code(), "cannot scale " + target.name + " to " +
                                               std::to_string(decision.desired) + ": " +
                                               patched.status().message());
  }
  return ScaleWrite{.from = current,
                    .to = decision.desired,
                    .why = decision.message,
                    .target = target.name,
                    .after_warnings = after_warnings};
}

// Active and Stalled, from a decision whose lag is known.
Found Reconciler::Pass::LagFindings(const policy::Decision& d,
                                    const spec::AutoscalerSpec& spec) const {
  const int64_t activation = spec.policy.activation_lag_threshold;
  const bool active = d.total_lag > activation;
  Found found{{Cond(kConditionActive, active ? ConditionStatus::kTrue : ConditionStatus::kFalse,
                    active ? "LagAboveActivation" : "LagAtOrBelowActivation",
                    "lag " + std::to_string(d.total_lag) + (active ? " > " : " <= ") +
                        "activationLagThreshold " + std::to_string(activation))}};
  const Condition stalled = StalledCondition(d, spec.policy.stall_seconds);
  for (const char* reason : {kReasonStalledPartitions, kReasonGroupStopped}) {
    if (stalled.reason != reason) found.warnings.push_back(Clear(reason));
  }
  if (stalled.status == ConditionStatus::kTrue) {
    found.warnings.push_back(Holds(stalled.reason, stalled.message));
  }
  found.conditions.push_back(stalled);
  return found;
}

// AtPartitionCeiling and IdleMembers, from a decision on a good observation.
// The warning that more replicas cannot help needs the running replicas at
// the ceiling (below it, the demand reaching the ceiling is still being
// scaled to) and lag grown since the last observation.
Found Reconciler::Pass::CeilingFindings(const policy::Decision& d, const spec::AutoscalerSpec& spec,
                                        std::optional<int32_t> members) const {
  const std::string ceiling =
      "ceiling " + std::to_string(d.ceiling) + " (" + std::to_string(d.partitions) +
      " partitions, " + std::to_string(spec.policy.consumers_per_replica) +
      " consumers per replica, maxReplicas " + std::to_string(spec.policy.max_replicas) + ")";
  Found found{{Cond(kConditionAtPartitionCeiling,
                    d.flags.at_ceiling ? ConditionStatus::kTrue : ConditionStatus::kFalse,
                    d.flags.at_ceiling ? "AtPartitionCeiling" : "BelowCeiling", ceiling)}};
  const bool running_at_ceiling = d.flags.at_ceiling && d.current >= d.ceiling;
  if (!running_at_ceiling) {
    found.warnings.push_back(Clear(kReasonAtPartitionCeiling));
  } else if (d.lag_known && state_.previous_lag && d.total_lag > *state_.previous_lag) {
    found.warnings.push_back(
        Holds(kReasonAtPartitionCeiling,
              "lag " + std::to_string(d.total_lag) + " still growing at the " + ceiling));
  }
  if (!d.flags.idle_members) {
    found.warnings.push_back(Clear(kReasonIdleMembers));
    return found;
  }
  found.warnings.push_back(
      Holds(kReasonIdleMembers,
            std::to_string(d.current) + " replicas" +
                (members ? " (" + std::to_string(*members) + " members)" : std::string()) +
                " exceed the " + ceiling + ": the excess consumers stay idle"));
  return found;
}

// Ready, and the reason and message of the status: a hold's, Kafka's when
// it could not be observed, the decision's otherwise.
void Reconciler::Pass::Conclude(ReconcileReport& report, const std::optional<Hold>& hold,
                                bool observed) {
  if (hold) {
    report.Set(Cond(kConditionReady, ConditionStatus::kFalse, hold->reason, hold->message));
    report.reason = hold->reason;
    report.message = hold->message;
  } else if (!observed) {
    const Condition& kafka = report.Get(kConditionKafkaReachable);
    report.Set(Cond(kConditionReady, ConditionStatus::kFalse, kafka.reason, kafka.message));
  } else {
    report.Set(Cond(kConditionReady, ConditionStatus::kTrue, "Reconciled",
                    report.message.empty() ? "observed and decided" : report.message));
  }
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

Outcome Reconciler::Reconcile(const std::string& key) {
  const Timestamp start = deps_.clock->Now();
  const Ended ended = ReconcileOnce(key);
  if (!ended.problem.empty()) spdlog::warn("{}: {}", key, ended.problem);
  // A reconcile cut short by Cancel() is neither a success nor an error.
  if (deps_.metrics != nullptr && !cancelled_) {
    deps_.metrics->RecordReconcile(ended.result, deps_.clock->Now() - start);
  }
  return ended.outcome;
}

Reconciler::Ended Reconciler::ReconcileOnce(const std::string& key) {
  if (cancelled_) return {.outcome = Outcome::Forget()};
  const std::optional<std::pair<std::string, std::string>> parts = SplitKey(key);
  if (!parts) return {.outcome = Outcome::Forget(), .problem = "malformed key, ignored"};
  const auto& [ns, name] = *parts;
  StatusOr<kube::Autoscaler> cr = deps_.autoscalers->GetAutoscaler(ns, name);
  if (!cr.ok() && IsNotFound(cr.status())) {
    // Deleted: forget it and leave the workload's replicas as they are.
    Drop(key);
    spdlog::info("{}: deleted; no longer scaling", key);
    return {.outcome = Outcome::Forget()};
  }
  if (!cr.ok()) {
    return {.outcome = Outcome::FailedAtMost(options_.default_poll_interval),
            .result = ReconcileResult::kError,
            .problem = "cannot read: " + cr.status().ToString()};
  }
  std::shared_ptr<State> state = StateFor(key, cr->metadata.uid);
  const kube::ObjectReference ref{.api_version = "groupscaler.io/v1alpha1",
                                  .kind = "ConsumerGroupAutoscaler",
                                  .namespace_name = ns,
                                  .name = name,
                                  .uid = cr->metadata.uid};
  auto [report, ended] = Pass(*this, *cr, *state, ref).Run();
  return Publish(*cr, ref, *state, report, std::move(ended));
}

// Announces the report's Events, records its metrics sample (not for a
// failed reconcile: its series stay until the retry) and writes its status.
// A status write that fails does not fail the reconcile: the scaling already
// happened, and a backoff would only delay the next decision.
Reconciler::Ended Reconciler::Publish(const kube::Autoscaler& cr, const kube::ObjectReference& ref,
                                      State& state, const ReconcileReport& report, Ended ended) {
  if (cancelled_) return {.outcome = Outcome::Forget()};
  const std::string key = MakeKey(ref.namespace_name, ref.name);
  Announcement announced = Announce(report, ref, std::move(state.warned));
  state.warned = std::move(announced.warned);
  for (const kube::Event& event : announced.events) {
    AddProblem(ended, Record(key, event, report, ended.outcome.failed));
  }
  if (deps_.metrics != nullptr && !ended.outcome.failed) {
    deps_.metrics->RecordAutoscaler(SampleOf(report));
  }
  if (cancelled_) return {.outcome = Outcome::Forget()};
  const std::optional<std::string> patch = StatusPatch(StatusOf(report), cr.json, report.now);
  if (!patch) return ended;
  StatusOr<kube::Autoscaler> patched =
      deps_.autoscalers->PatchAutoscalerStatus(ref.namespace_name, ref.name, *patch);
  if (patched.ok()) return ended;
  if (IsNotFound(patched.status())) {
    Drop(key);
    return {.outcome = Outcome::Forget()};
  }
  AddProblem(ended, "cannot write status: " + patched.status().ToString());
  return ended;
}

// Records `event`, and logs it: a scale as it happens, a Warning when it
// appears, except the one that stands for the reconcile's failure (`failed`:
// the report's reason), which Reconcile logs. Returns what went wrong, or "".
std::string Reconciler::Record(const std::string& key, const kube::Event& event,
                               const ReconcileReport& report, bool failed) {
  if (cancelled_) return "";
  if (event.type == kube::EventType::kNormal && report.scaled) {
    spdlog::info("{}: {} {} {}", key, event.reason == kReasonScaledUp ? "scaled up" : "scaled down",
                 report.scaled->target, event.message);
  } else if (!failed || event.reason != report.reason) {
    spdlog::warn("{}: {}: {}", key, event.reason, event.message);
  }
  const Status status = deps_.events->RecordEvent(event);
  if (status.ok()) return "";
  return "cannot record event " + event.reason + ": " + status.ToString();
}

// Appends `problem` (if any) to what Reconcile will log.
void Reconciler::AddProblem(Ended& ended, const std::string& problem) {
  if (problem.empty()) return;
  ended.problem += (ended.problem.empty() ? "" : "; ") + problem;
}

}  // namespace groupscaler::controller
