#include "controller/leader_fence.h"

#include <spdlog/spdlog.h>

namespace groupscaler::controller {

LeaderFence::LeaderFence(kube::AutoscalerClient* autoscalers, kube::ScaleClient* scales,
                         kube::EventRecorder* events, std::function<bool()> leads)
    : autoscalers_(autoscalers), scales_(scales), events_(events), leads_(std::move(leads)) {}

Status LeaderFence::Check(const std::string& what) const {
  if (leads_()) return Status::Ok();
  spdlog::warn("not the leader any more: {} not written", what);
  return FailedPreconditionError("not the leader: " + what + " not written");
}

StatusOr<kube::AutoscalerList> LeaderFence::ListAutoscalers(const std::string& namespace_name) {
  return autoscalers_->ListAutoscalers(namespace_name);
}

StatusOr<kube::Autoscaler> LeaderFence::GetAutoscaler(const std::string& namespace_name,
                                                      const std::string& name) {
  return autoscalers_->GetAutoscaler(namespace_name, name);
}

StatusOr<kube::Autoscaler> LeaderFence::PatchAutoscalerStatus(const std::string& namespace_name,
                                                              const std::string& name,
                                                              const std::string& status_json,
                                                              const std::string& resource_version) {
  if (Status s = Check("the status of " + namespace_name + "/" + name); !s.ok()) return s;
  return autoscalers_->PatchAutoscalerStatus(namespace_name, name, status_json, resource_version);
}

std::unique_ptr<kube::WatchHandle> LeaderFence::WatchAutoscalers(const std::string& namespace_name,
                                                                 kube::WatchHandlers handlers) {
  return autoscalers_->WatchAutoscalers(namespace_name, std::move(handlers));
}

StatusOr<kube::Scale> LeaderFence::GetScale(const kube::WorkloadRef& ref) {
  return scales_->GetScale(ref);
}

StatusOr<kube::Scale> LeaderFence::PatchScale(const kube::WorkloadRef& ref, int32_t replicas) {
  if (Status s = Check("the scale of " + ref.namespace_name + "/" + ref.name); !s.ok()) return s;
  return scales_->PatchScale(ref, replicas);
}

Status LeaderFence::RecordEvent(const kube::Event& event) {
  if (Status s = Check("an Event (" + event.reason + ")"); !s.ok()) return s;
  return events_->RecordEvent(event);
}

}  // namespace groupscaler::controller
