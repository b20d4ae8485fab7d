#include "demo/local_kube.h"

#include <utility>

namespace groupscaler::demo {

LocalAutoscalerClient::LocalAutoscalerClient(nlohmann::json object) : object_(std::move(object)) {
  object_["metadata"]["uid"] = "demo-" + object_["metadata"].value("name", std::string());
  object_["metadata"]["generation"] = 1;
}

kube::Autoscaler LocalAutoscalerClient::Current() const {
  const nlohmann::json& meta = object_["metadata"];
  return {.metadata = {.namespace_name = meta.value("namespace", std::string()),
                       .name = meta.value("name", std::string()),
                       .uid = meta.value("uid", std::string()),
                       .resource_version = std::to_string(resource_version_),
                       .generation = 1},
          .json = object_.dump()};
}

StatusOr<kube::AutoscalerList> LocalAutoscalerClient::ListAutoscalers(
    const std::string& namespace_name) {
  std::lock_guard lock(mu_);
  kube::AutoscalerList list{.resource_version = std::to_string(resource_version_)};
  kube::Autoscaler current = Current();
  if (namespace_name.empty() || namespace_name == current.metadata.namespace_name) {
    list.items.push_back(std::move(current));
  }
  return list;
}

StatusOr<kube::Autoscaler> LocalAutoscalerClient::GetAutoscaler(const std::string& namespace_name,
                                                                const std::string& name) {
  std::lock_guard lock(mu_);
  kube::Autoscaler current = Current();
  if (namespace_name != current.metadata.namespace_name || name != current.metadata.name) {
    return NotFoundError("consumergroupautoscalers " + namespace_name + "/" + name + " not found");
  }
  return current;
}

StatusOr<kube::Autoscaler> LocalAutoscalerClient::PatchAutoscalerStatus(
    const std::string& namespace_name, const std::string& name, const std::string& status_json,
    const std::string& resource_version) {
  std::lock_guard lock(mu_);
  const kube::ObjectMeta meta = Current().metadata;
  if (namespace_name != meta.namespace_name || name != meta.name) {
    return NotFoundError("consumergroupautoscalers " + namespace_name + "/" + name + " not found");
  }
  if (!resource_version.empty() && resource_version != meta.resource_version) {
    return Status(StatusCode::kAborted, "the object has been modified");
  }
  const nlohmann::json patch = nlohmann::json::parse(status_json, nullptr, false);
  if (patch.is_discarded() || !patch.is_object()) {
    return InvalidArgumentError("status patch is not a JSON object");
  }
  if (!object_.contains("status")) object_["status"] = nlohmann::json::object();
  object_["status"].merge_patch(patch);
  ++resource_version_;
  return Current();
}

std::unique_ptr<kube::WatchHandle> LocalAutoscalerClient::WatchAutoscalers(
    const std::string& namespace_name, kube::WatchHandlers handlers) {
  StatusOr<kube::AutoscalerList> list = ListAutoscalers(namespace_name);
  if (list.ok() && handlers.on_list) handlers.on_list(*list);
  return std::make_unique<kube::WatchHandle>();
}

nlohmann::json LocalAutoscalerClient::status() const {
  std::lock_guard lock(mu_);
  return object_.value("status", nlohmann::json::object());
}

ReplicaSetScaleClient::ReplicaSetScaleClient(std::string name, ReplicaSet* replicas)
    : name_(std::move(name)), replicas_(replicas) {}

StatusOr<kube::Scale> ReplicaSetScaleClient::Read(const kube::WorkloadRef& ref) const {
  if (ref.kind != kube::WorkloadKind::kDeployment || ref.name != name_) {
    return NotFoundError("deployments " + ref.namespace_name + "/" + ref.name + " not found");
  }
  return kube::Scale{.spec_replicas = replicas_->replicas(),
                     .status_replicas = replicas_->ready(),
                     .selector = "app=" + name_};
}

StatusOr<kube::Scale> ReplicaSetScaleClient::GetScale(const kube::WorkloadRef& ref) {
  return Read(ref);
}

StatusOr<kube::Scale> ReplicaSetScaleClient::PatchScale(const kube::WorkloadRef& ref,
                                                        int32_t replicas) {
  if (StatusOr<kube::Scale> found = Read(ref); !found.ok()) return found.status();
  if (Status s = replicas_->SetReplicas(replicas); !s.ok()) return s;
  return Read(ref);
}

StatusOr<kube::PodTemplate> ReplicaSetScaleClient::GetPodTemplate(const kube::WorkloadRef& ref) {
  if (StatusOr<kube::Scale> found = Read(ref); !found.ok()) return found.status();
  const ReplicaTemplate& t = replicas_->replica_template();
  const std::string group_id = t.group_per_replica ? t.group_id + "-$(POD_NAME)" : t.group_id;
  return kube::PodTemplate{
      .containers = {{.name = "consumer",
                      .command_and_args = {t.binary, "--bootstrap-servers", t.bootstrap_servers,
                                           "--topic", t.topic, "--group", "$(KAFKA_GROUP_ID)"},
                      .env = {{.name = "POD_NAME", .field_path = "metadata.name"},
                              {.name = "KAFKA_GROUP_ID", .value = group_id}}}}};
}

Status EventLog::RecordEvent(const kube::Event& event) {
  std::lock_guard lock(mu_);
  events_.push_back({clock_->Now(), event});
  return Status::Ok();
}

std::vector<LoggedEvent> EventLog::TakeNew() {
  std::lock_guard lock(mu_);
  std::vector<LoggedEvent> out(events_.begin() + static_cast<ptrdiff_t>(taken_), events_.end());
  taken_ = events_.size();
  return out;
}

std::vector<LoggedEvent> EventLog::All() const {
  std::lock_guard lock(mu_);
  return events_;
}

StatusOr<std::map<std::string, std::string>> LocalSecret::GetSecretData(
    const std::string& namespace_name, const std::string& name) {
  if (name == name_) return data_;
  return NotFoundError("secrets " + namespace_name + "/" + name + " not found");
}

StatusOr<std::vector<kube::HpaInfo>> NoHpas::ListHpas(const std::string&) {
  return std::vector<kube::HpaInfo>{};
}

void ObservationLog::Record(const kafka::GroupObservation& group) {
  if (group.observation.failed) return;
  std::lock_guard lock(mu_);
  last_[group.group_id] = group;
}

std::optional<kafka::GroupObservation> ObservationLog::Last(const std::string& group_id) const {
  std::lock_guard lock(mu_);
  auto it = last_.find(group_id);
  if (it == last_.end()) return std::nullopt;
  return it->second;
}

RecordingLagReader::RecordingLagReader(std::unique_ptr<kafka::LagReader> inner,
                                       std::shared_ptr<ObservationLog> log)
    : inner_(std::move(inner)), log_(std::move(log)) {}

StatusOr<std::vector<kafka::GroupObservation>> RecordingLagReader::Observe(
    const std::vector<kafka::GroupQuery>& groups, std::chrono::milliseconds timeout) {
  StatusOr<std::vector<kafka::GroupObservation>> result = inner_->Observe(groups, timeout);
  if (result.ok()) {
    for (const kafka::GroupObservation& g : *result) log_->Record(g);
  }
  return result;
}

StatusOr<std::vector<std::string>> RecordingLagReader::CommittedTopics(
    const std::string& group, std::chrono::milliseconds timeout) {
  return inner_->CommittedTopics(group, timeout);
}

StatusOr<kafka::RequestCounts> RecordingLagReader::RequestCountsSnapshot(
    std::chrono::milliseconds timeout) {
  return inner_->RequestCountsSnapshot(timeout);
}

}  // namespace groupscaler::demo
