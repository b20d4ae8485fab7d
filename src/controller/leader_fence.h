#pragma once

// The controller's writes to the API server (a status, a /scale, an Event),
// each refused unless this process leads at that moment. A reconcile checks
// leadership when it starts; one that was under way when leadership ended
// (the process paused past its lease, renewals that failed) must not write
// in the next leader's term, so every write checks again. Reads and watches
// pass through. Thread-safe when the wrapped clients and `leads` are.

#include <functional>
#include <memory>
#include <string>

#include "kube/client.h"

namespace groupscaler::controller {

class LeaderFence final : public kube::AutoscalerClient,
                          public kube::ScaleClient,
                          public kube::EventRecorder {
 public:
  // None is owned; each must outlive the fence.
  LeaderFence(kube::AutoscalerClient* autoscalers, kube::ScaleClient* scales,
              kube::EventRecorder* events, std::function<bool()> leads);

  StatusOr<kube::AutoscalerList> ListAutoscalers(const std::string& namespace_name) override;
  StatusOr<kube::Autoscaler> GetAutoscaler(const std::string& namespace_name,
                                           const std::string& name) override;
  StatusOr<kube::Autoscaler> PatchAutoscalerStatus(const std::string& namespace_name,
                                                   const std::string& name,
                                                   const std::string& status_json,
                                                   const std::string& resource_version) override;
  std::unique_ptr<kube::WatchHandle> WatchAutoscalers(const std::string& namespace_name,
                                                      kube::WatchHandlers handlers) override;

  StatusOr<kube::Scale> GetScale(const kube::WorkloadRef& ref) override;
  StatusOr<kube::Scale> PatchScale(const kube::WorkloadRef& ref, int32_t replicas) override;

  Status RecordEvent(const kube::Event& event) override;

 private:
  // OK while this process leads; FailedPrecondition naming `what` otherwise.
  Status Check(const std::string& what) const;

  kube::AutoscalerClient* const autoscalers_;
  kube::ScaleClient* const scales_;
  kube::EventRecorder* const events_;
  const std::function<bool()> leads_;
};

}  // namespace groupscaler::controller
