#pragma once

// The real implementation of every interface in client.h, over RestClient.
// Thread-safe: calls may come from many workers at once. Watches started by
// WatchAutoscalers and WatchWorkloads use the client: destroy their handles first.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/rest_client.h"

namespace groupscaler::kube {

class KubeClient final : public AutoscalerClient,
                         public ScaleClient,
                         public EventRecorder,
                         public SecretReader,
                         public LeaseClient,
                         public HpaLister,
                         public WorkloadReader,
                         public WorkloadWatcher {
 public:
  // Builds the HTTP transport for `config`. `clock` must outlive the client
  // (and its watches); null means the real one.
  static StatusOr<std::unique_ptr<KubeClient>> Create(const RestConfig& config,
                                                      ClientOptions options = {},
                                                      const Clock* clock = nullptr);
  // Over any transport (tests).
  KubeClient(std::unique_ptr<Transport> transport, std::shared_ptr<TokenSource> token,
             ClientOptions options, const Clock* clock);

  StatusOr<AutoscalerList> ListAutoscalers(const std::string& namespace_name) override;
  StatusOr<Autoscaler> GetAutoscaler(const std::string& namespace_name,
                                     const std::string& name) override;
  StatusOr<Autoscaler> PatchAutoscalerStatus(const std::string& namespace_name,
                                             const std::string& name,
                                             const std::string& status_json,
                                             const std::string& resource_version = "") override;
  std::unique_ptr<WatchHandle> WatchAutoscalers(const std::string& namespace_name,
                                                WatchHandlers handlers) override;

  StatusOr<Scale> GetScale(const WorkloadRef& ref) override;
  StatusOr<Scale> PatchScale(const WorkloadRef& ref, int32_t replicas) override;

  Status RecordEvent(const Event& event) override;

  StatusOr<std::map<std::string, std::string>> GetSecretData(const std::string& namespace_name,
                                                             const std::string& name) override;

  StatusOr<Lease> GetLease(const std::string& namespace_name, const std::string& name) override;
  StatusOr<Lease> CreateLease(const Lease& lease) override;
  StatusOr<Lease> UpdateLease(const Lease& lease) override;

  StatusOr<std::vector<HpaInfo>> ListHpas(const std::string& namespace_name) override;

  StatusOr<PodTemplate> GetPodTemplate(const WorkloadRef& ref) override;

  std::unique_ptr<WatchHandle> WatchWorkloads(WorkloadKind kind, const std::string& namespace_name,
                                              ListWatchHandlers<Workload> handlers) override;

  RestClient& rest() { return rest_; }

 private:
  std::unique_ptr<Clock> owned_clock_;
  RestClient rest_;
  // One Event object per involved object, type, reason and message: a
  // repeat within kEventSeriesTtl raises its count (PATCH) instead of
  // creating another, as client-go's EventCorrelator does.
  struct EventSeries {
    std::string name;
    int32_t count = 0;
    Timestamp last;
  };
  static constexpr std::chrono::minutes kEventSeriesTtl{50};  // events live an hour
  static constexpr size_t kMaxEventSeries = 4096;

  // "/apis/autoscaling/VERSION", the newest version of autoscaling that the
  // server serves, found by discovery and kept; NotFound when none.
  StatusOr<std::string> HpaApiPath();
  Status CreateEvent(const Event& event, Timestamp now, const std::string& key);
  Status RaiseEventCount(const Event& event, Timestamp now, EventSeries series,
                         const std::string& key);

  // Makes Event names unique within one millisecond.
  std::atomic<uint64_t> event_sequence_{0};
  std::mutex mu_;
  std::string hpa_api_path_;                   // empty until discovered
  std::map<std::string, EventSeries> events_;  // by EventKey
};

}  // namespace groupscaler::kube
