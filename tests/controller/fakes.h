#pragma once

// In-memory fakes of the interfaces the controller talks through, for unit
// tests. Each records what it was asked so tests can assert on writes.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/manual_clock.h"
#include "kafka/auth.h"
#include "kafka/lag_reader.h"
#include "kube/client.h"
#include "support/fake_lag_reader.h"

namespace groupscaler::controller::fakes {

class FakeAutoscalerClient final : public kube::AutoscalerClient {
 public:
  // Stores `object` (a whole CR as JSON); bumps generation when spec changed.
  void Put(nlohmann::json object) {
    std::lock_guard lock(mu_);
    const std::string ns = object["metadata"]["namespace"];
    const std::string name = object["metadata"]["name"];
    Entry& e = objects_[ns + "/" + name];
    if (e.object.is_null()) {
      e.generation = 1;
      e.uid = "uid-" + name + "-" + std::to_string(++uids_);
    } else if (e.object["spec"] != object["spec"]) {
      ++e.generation;
    }
    if (e.object.is_object() && e.object.contains("status") && !object.contains("status")) {
      object["status"] = e.object["status"];
    }
    e.object = std::move(object);
  }
  void Remove(const std::string& key) {
    std::lock_guard lock(mu_);
    objects_.erase(key);
  }
  nlohmann::json Status(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end() || !it->second.object.contains("status")) return nullptr;
    return it->second.object["status"];
  }
  // The stored condition of `type` under `key`'s status, or null.
  nlohmann::json Condition(const std::string& key, const std::string& type) {
    nlohmann::json status = Status(key);
    if (!status.is_object() || !status.contains("conditions")) return nullptr;
    for (const auto& c : status["conditions"]) {
      if (c["type"] == type) return c;
    }
    return nullptr;
  }
  void FailGets(std::optional<groupscaler::Status> error) {
    std::lock_guard lock(mu_);
    get_error_ = std::move(error);
  }
  void FailStatusPatches(std::optional<groupscaler::Status> error) {
    std::lock_guard lock(mu_);
    status_patch_error_ = std::move(error);
  }
  int status_patches() const { return status_patches_.load(); }

  StatusOr<kube::AutoscalerList> ListAutoscalers(const std::string& ns) override {
    std::lock_guard lock(mu_);
    kube::AutoscalerList list{.resource_version = "1"};
    for (const auto& [key, e] : objects_) {
      if (ns.empty() || key.starts_with(ns + "/")) list.items.push_back(ToAutoscaler(e));
    }
    return list;
  }
  StatusOr<kube::Autoscaler> GetAutoscaler(const std::string& ns,
                                           const std::string& name) override {
    std::lock_guard lock(mu_);
    ++gets_;
    if (get_error_) return *get_error_;
    auto it = objects_.find(ns + "/" + name);
    if (it == objects_.end()) return NotFoundError("consumergroupautoscalers " + name);
    return ToAutoscaler(it->second);
  }
  StatusOr<kube::Autoscaler> PatchAutoscalerStatus(const std::string& ns, const std::string& name,
                                                   const std::string& status_json,
                                                   const std::string&) override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(ns + "/" + name);
    if (it == objects_.end()) return NotFoundError("consumergroupautoscalers " + name);
    if (status_patch_error_) return *status_patch_error_;
    ++status_patches_;
    nlohmann::json patch = nlohmann::json::parse(status_json);
    nlohmann::json& status = it->second.object["status"];
    if (!status.is_object()) status = nlohmann::json::object();
    status.merge_patch(patch);
    return ToAutoscaler(it->second);
  }
  // Keeps the handlers for the test to call (see handlers()).
  std::unique_ptr<kube::WatchHandle> WatchAutoscalers(const std::string&,
                                                      kube::WatchHandlers handlers) override {
    std::lock_guard lock(mu_);
    handlers_ = std::move(handlers);
    return nullptr;
  }
  kube::WatchHandlers handlers() {
    std::lock_guard lock(mu_);
    return handlers_;
  }
  int gets() const { return gets_.load(); }

 private:
  struct Entry {
    nlohmann::json object;
    int64_t generation = 0;
    std::string uid;
  };
  static kube::Autoscaler ToAutoscaler(const Entry& e) { return ToAutoscalerAt(e, "1"); }
  static kube::Autoscaler ToAutoscalerAt(const Entry& e, const std::string& rv) {
    nlohmann::json object = e.object;
    object["metadata"]["generation"] = e.generation;
    object["metadata"]["uid"] = e.uid;
    return {.metadata = {.namespace_name = object["metadata"]["namespace"],
                         .name = object["metadata"]["name"],
                         .uid = e.uid,
                         .resource_version = rv,
                         .generation = e.generation},
            .json = object.dump(2)};
  }

  std::mutex mu_;
  std::map<std::string, Entry> objects_;
  std::optional<groupscaler::Status> get_error_;
  std::optional<groupscaler::Status> status_patch_error_;
  kube::WatchHandlers handlers_;
  std::atomic<int> gets_{0};
  int uids_ = 0;
  std::atomic<int> status_patches_{0};
};

class FakeScaleClient final : public kube::ScaleClient {
 public:
  void Set(const std::string& ns, const std::string& name, int32_t replicas) {
    std::lock_guard lock(mu_);
    scales_[ns + "/" + name] = replicas;
  }
  std::optional<int32_t> Replicas(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = scales_.find(key);
    if (it == scales_.end()) return std::nullopt;
    return it->second;
  }
  void FailPatches(std::optional<groupscaler::Status> error) {
    std::lock_guard lock(mu_);
    patch_error_ = std::move(error);
  }
  void FailGets(std::optional<groupscaler::Status> error) {
    std::lock_guard lock(mu_);
    get_error_ = std::move(error);
  }
  int patches() const { return patches_.load(); }

  StatusOr<kube::Scale> GetScale(const kube::WorkloadRef& ref) override {
    std::lock_guard lock(mu_);
    if (get_error_) return *get_error_;
    auto it = scales_.find(ref.namespace_name + "/" + ref.name);
    if (it == scales_.end()) return NotFoundError("deployments " + ref.name);
    return kube::Scale{.spec_replicas = it->second, .status_replicas = it->second};
  }
  StatusOr<kube::Scale> PatchScale(const kube::WorkloadRef& ref, int32_t replicas) override {
    std::lock_guard lock(mu_);
    if (patch_error_) return *patch_error_;
    auto it = scales_.find(ref.namespace_name + "/" + ref.name);
    if (it == scales_.end()) return NotFoundError("deployments " + ref.name);
    ++patches_;
    it->second = replicas;
    return kube::Scale{.spec_replicas = replicas};
  }

 private:
  std::mutex mu_;
  std::map<std::string, int32_t> scales_;
  std::optional<groupscaler::Status> get_error_;
  std::optional<groupscaler::Status> patch_error_;
  std::atomic<int> patches_{0};
};

class FakeEventRecorder final : public kube::EventRecorder {
 public:
  Status RecordEvent(const kube::Event& event) override {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    return Status::Ok();
  }
  std::vector<kube::Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  // How many events with `reason` were recorded for the object `name`.
  int Count(const std::string& reason, const std::string& name = "") {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& e : events_) {
      if (e.reason == reason && (name.empty() || e.involved.name == name)) ++n;
    }
    return n;
  }
  void Clear() {
    std::lock_guard lock(mu_);
    events_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<kube::Event> events_;
};

class FakeSecretReader final : public kube::SecretReader {
 public:
  void Set(const std::string& ns, const std::string& name,
           std::map<std::string, std::string> data) {
    std::lock_guard lock(mu_);
    secrets_[ns + "/" + name] = std::move(data);
  }
  StatusOr<std::map<std::string, std::string>> GetSecretData(const std::string& ns,
                                                             const std::string& name) override {
    std::lock_guard lock(mu_);
    ++gets_;
    if (error_) return *error_;
    auto it = secrets_.find(ns + "/" + name);
    if (it == secrets_.end()) return NotFoundError("secrets " + name);
    return it->second;
  }
  void Fail(std::optional<groupscaler::Status> error) {
    std::lock_guard lock(mu_);
    error_ = std::move(error);
  }
  int gets() {
    std::lock_guard lock(mu_);
    return gets_;
  }

 private:
  std::mutex mu_;
  std::optional<groupscaler::Status> error_;
  std::map<std::string, std::map<std::string, std::string>> secrets_;
  int gets_ = 0;
};

class FakeHpaLister final : public kube::HpaLister {
 public:
  void Set(std::vector<kube::HpaInfo> hpas) {
    std::lock_guard lock(mu_);
    hpas_ = std::move(hpas);
  }
  void Fail(std::optional<groupscaler::Status> error) {
    std::lock_guard lock(mu_);
    error_ = std::move(error);
  }
  StatusOr<std::vector<kube::HpaInfo>> ListHpas(const std::string& ns) override {
    std::lock_guard lock(mu_);
    if (error_) return *error_;
    std::vector<kube::HpaInfo> out;
    for (const auto& h : hpas_) {
      if (h.namespace_name == ns) out.push_back(h);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<kube::HpaInfo> hpas_;
  std::optional<groupscaler::Status> error_;
};

// Per group: the lag of each partition (end offset = lag, committed 0).
// Unknown groups get an observation without partitions.
class FakeLagReader final : public kafka::LagReader {
 public:
  void SetLag(const std::string& group, const std::string& topic, std::vector<int64_t> lags) {
    std::lock_guard lock(mu_);
    lags_[group] = {topic, std::move(lags)};
  }
  void SetDown(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }
  int observes() const { return observes_.load(); }

  StatusOr<std::vector<kafka::GroupObservation>> Observe(
      const std::vector<kafka::GroupQuery>& groups, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    ++observes_;
    if (down_) return UnavailableError("all brokers are down");
    std::vector<kafka::GroupObservation> out;
    for (const auto& q : groups) {
      kafka::GroupObservation g{.group_id = q.group_id};
      auto it = lags_.find(q.group_id);
      if (it != lags_.end()) {
        for (size_t p = 0; p < it->second.second.size(); ++p) {
          g.observation.partitions.push_back({.topic = it->second.first,
                                              .partition = static_cast<int32_t>(p),
                                              .log_start_offset = 0,
                                              .log_end_offset = it->second.second[p],
                                              .committed_offset = 0});
        }
      }
      out.push_back(std::move(g));
    }
    return out;
  }
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string&,
                                                     std::chrono::milliseconds) override {
    return NotFoundError("not listed");
  }
  StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds) override {
    return UnimplementedError("the fake lists no groups");
  }
  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds) override {
    return kafka::RequestCounts{};
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::vector<int64_t>>> lags_;
  bool down_ = false;
  std::atomic<int> observes_{0};
};

// Leases in memory with the API server's optimistic concurrency: every
// write bumps resourceVersion; an update with a stale one is a Conflict.
class FakeLeaseClient final : public kube::LeaseClient {
 public:
  StatusOr<kube::Lease> GetLease(const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mu_);
    if (fail_) return UnavailableError("API server down");
    auto it = leases_.find(ns + "/" + name);
    if (it == leases_.end()) return NotFoundError("leases " + name);
    return it->second;
  }
  StatusOr<kube::Lease> CreateLease(const kube::Lease& lease) override {
    std::lock_guard lock(mu_);
    if (fail_) return UnavailableError("API server down");
    const std::string key = lease.metadata.namespace_name + "/" + lease.metadata.name;
    if (leases_.contains(key)) {
      return Status(StatusCode::kAlreadyExists, "AlreadyExists: leases " + lease.metadata.name);
    }
    kube::Lease stored = lease;
    stored.metadata.resource_version = std::to_string(++version_);
    leases_[key] = stored;
    ++writes_;
    return stored;
  }
  StatusOr<kube::Lease> UpdateLease(const kube::Lease& lease) override {
    std::lock_guard lock(mu_);
    if (fail_) return UnavailableError("API server down");
    const std::string key = lease.metadata.namespace_name + "/" + lease.metadata.name;
    auto it = leases_.find(key);
    if (it == leases_.end()) return NotFoundError("leases " + lease.metadata.name);
    if (it->second.metadata.resource_version != lease.metadata.resource_version) {
      return Status(StatusCode::kAborted, "Conflict: leases " + lease.metadata.name);
    }
    kube::Lease stored = lease;
    stored.metadata.resource_version = std::to_string(++version_);
    it->second = stored;
    ++writes_;
    return stored;
  }
  std::optional<kube::Lease> Get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = leases_.find(key);
    if (it == leases_.end()) return std::nullopt;
    return it->second;
  }
  void SetFailing(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }

 private:
  std::mutex mu_;
  std::map<std::string, kube::Lease> leases_;
  int64_t version_ = 0;
  int writes_ = 0;
  bool fail_ = false;
};

// A valid CR in namespace "payments": target Deployment `name`, group `name`,
// topic "orders". `spec_overrides` is merged into the spec (JSON merge patch:
// null removes a field).
inline nlohmann::json Cr(const std::string& name,
                         const nlohmann::json& spec_overrides = nlohmann::json::object()) {
  nlohmann::json cr = {
      {"apiVersion", "groupscaler.io/v1alpha1"},
      {"kind", "ConsumerGroupAutoscaler"},
      {"metadata", {{"name", name}, {"namespace", "payments"}}},
      {"spec",
       {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", name}}},
        {"kafka", {{"bootstrapServers", {"b-1:9092"}}, {"groupId", name}, {"topics", {"orders"}}}},
        {"minReplicas", 1},
        {"maxReplicas", 24},
        {"lagThreshold", 1000},
        {"pollIntervalSeconds", 10}}}};
  cr["spec"].merge_patch(spec_overrides);
  return cr;
}

// What the registry's factory makes in tests: a reader that forwards to one
// shared FakeLagReader (the "world") and counts how many are alive. Like the
// real factory, it refuses bad auth settings.
class ProxyLagReader final : public groupscaler::testing::ForwardingLagReader {
 public:
  ProxyLagReader(FakeLagReader* world, std::atomic<int>* alive)
      : ForwardingLagReader(world), alive_(alive) {
    ++*alive_;
  }
  ~ProxyLagReader() override { --*alive_; }

 private:
  std::atomic<int>* alive_;
};

inline StatusOr<std::unique_ptr<kafka::LagReader>> MakeProxyReader(
    FakeLagReader* world, std::atomic<int>* alive, const kafka::ClusterConfig& cluster) {
  StatusOr<kafka::AuthConfig> auth = kafka::BuildAuthConfig(cluster.auth);
  if (!auth.ok()) return auth.status();
  return std::unique_ptr<kafka::LagReader>(std::make_unique<ProxyLagReader>(world, alive));
}

}  // namespace groupscaler::controller::fakes
