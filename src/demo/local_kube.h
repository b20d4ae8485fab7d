#pragma once

// The Kubernetes side of the demo, in memory: what controller::Reconciler
// talks to in place of an API server. The same reconcile code runs as in
// the controller; only these ends differ.
//  * LocalAutoscalerClient holds the demo's one ConsumerGroupAutoscaler and
//    merges the status the reconciler writes.
//  * ReplicaSetScaleClient is the /scale of the demo's "Deployment": a
//    ReplicaSet of consumer processes.
//  * EventLog keeps the Events for the live view.
//  * LocalSecret holds the Kafka auth settings of --auth-file as the one
//    Secret the autoscaler's authSecretRef names.
//  * NoHpas: nothing else scales the replicas.
//  * RecordingLagReader passes observations through and keeps the latest
//    per group, for the live view and the summary.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "demo/replica_set.h"
#include "kafka/lag_reader.h"
#include "kube/client.h"

namespace groupscaler::demo {

class LocalAutoscalerClient final : public kube::AutoscalerClient {
 public:
  // `object`: the whole ConsumerGroupAutoscaler (apiVersion, kind, metadata
  // with namespace and name, spec).
  explicit LocalAutoscalerClient(nlohmann::json object);

  StatusOr<kube::AutoscalerList> ListAutoscalers(const std::string& namespace_name) override;
  StatusOr<kube::Autoscaler> GetAutoscaler(const std::string& namespace_name,
                                           const std::string& name) override;
  StatusOr<kube::Autoscaler> PatchAutoscalerStatus(const std::string& namespace_name,
                                                   const std::string& name,
                                                   const std::string& status_json,
                                                   const std::string& resource_version) override;
  // The object never changes but for its status: on_list is called once,
  // at once, with it, and no event follows.
  std::unique_ptr<kube::WatchHandle> WatchAutoscalers(const std::string& namespace_name,
                                                      kube::WatchHandlers handlers) override;

  // The status as last written (an empty object before the first write).
  nlohmann::json status() const;

 private:
  kube::Autoscaler Current() const;  // under mu_

  mutable std::mutex mu_;
  nlohmann::json object_;
  int64_t resource_version_ = 1;
};

class ReplicaSetScaleClient final : public kube::ScaleClient, public kube::WorkloadReader {
 public:
  // Serves the /scale and the pod template of the Deployment `name`, backed
  // by `replicas`.
  ReplicaSetScaleClient(std::string name, ReplicaSet* replicas);
  StatusOr<kube::Scale> GetScale(const kube::WorkloadRef& ref) override;
  StatusOr<kube::Scale> PatchScale(const kube::WorkloadRef& ref, int32_t replicas) override;
  // The replicas' template as a Deployment would write it: the group id in
  // KAFKA_GROUP_ID, derived from $(POD_NAME) under the anti-pattern.
  StatusOr<kube::PodTemplate> GetPodTemplate(const kube::WorkloadRef& ref) override;

 private:
  StatusOr<kube::Scale> Read(const kube::WorkloadRef& ref) const;
  const std::string name_;
  ReplicaSet* const replicas_;
};

struct LoggedEvent {
  Timestamp time;
  kube::Event event;
};

class EventLog final : public kube::EventRecorder {
 public:
  explicit EventLog(const Clock* clock) : clock_(clock) {}
  Status RecordEvent(const kube::Event& event) override;
  // Events recorded since the last call.
  std::vector<LoggedEvent> TakeNew();
  std::vector<LoggedEvent> All() const;

 private:
  const Clock* clock_;
  mutable std::mutex mu_;
  std::vector<LoggedEvent> events_;
  size_t taken_ = 0;
};

class LocalSecret final : public kube::SecretReader {
 public:
  LocalSecret(std::string name, std::map<std::string, std::string> data)
      : name_(std::move(name)), data_(std::move(data)) {}
  // `data` for the Secret's name, NOT_FOUND for any other.
  StatusOr<std::map<std::string, std::string>> GetSecretData(const std::string& namespace_name,
                                                             const std::string& name) override;

 private:
  const std::string name_;
  const std::map<std::string, std::string> data_;
};

class NoHpas final : public kube::HpaLister {
 public:
  StatusOr<std::vector<kube::HpaInfo>> ListHpas(const std::string& namespace_name) override;
};

// The latest successful observation of each group, shared by the readers
// that record into it. Thread-safe.
class ObservationLog {
 public:
  void Record(const kafka::GroupObservation& group);
  std::optional<kafka::GroupObservation> Last(const std::string& group_id) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, kafka::GroupObservation> last_;
};

class RecordingLagReader final : public kafka::LagReader {
 public:
  RecordingLagReader(std::unique_ptr<kafka::LagReader> inner, std::shared_ptr<ObservationLog> log);
  StatusOr<std::vector<kafka::GroupObservation>> Observe(
      const std::vector<kafka::GroupQuery>& groups, std::chrono::milliseconds timeout) override;
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string& group,
                                                     std::chrono::milliseconds timeout) override;
  StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds timeout) override {
    return inner_->ListGroups(timeout);
  }
  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds timeout) override;

 private:
  std::unique_ptr<kafka::LagReader> inner_;
  std::shared_ptr<ObservationLog> log_;
};

}  // namespace groupscaler::demo
