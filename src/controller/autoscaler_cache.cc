#include "controller/autoscaler_cache.h"

namespace groupscaler::controller {

StatusOr<kube::AutoscalerList> AutoscalerCache::ListAutoscalers(const std::string& ns) {
  return api_->ListAutoscalers(ns);
}

StatusOr<kube::Autoscaler> AutoscalerCache::GetAutoscaler(const std::string& ns,
                                                          const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (synced_) {
      const kube::Autoscaler* cached = objects_.Find(ns, name);
      if (cached == nullptr) {
        return NotFoundError("consumergroupautoscalers " + ns + "/" + name + " not in the cache");
      }
      return *cached;
    }
  }
  return api_->GetAutoscaler(ns, name);
}

StatusOr<kube::Autoscaler> AutoscalerCache::PatchAutoscalerStatus(
    const std::string& ns, const std::string& name, const std::string& status_json,
    const std::string& resource_version) {
  StatusOr<kube::Autoscaler> patched =
      api_->PatchAutoscalerStatus(ns, name, status_json, resource_version);
  if (patched.ok()) {
    std::lock_guard lock(mu_);
    if (kube::Autoscaler* cached =
            objects_.FindToRefresh(ns, name, patched->metadata.resource_version)) {
      *cached = *patched;
    }
  }
  return patched;
}

std::unique_ptr<kube::WatchHandle> AutoscalerCache::WatchAutoscalers(const std::string& ns,
                                                                     kube::WatchHandlers handlers) {
  kube::WatchHandlers wrapped;
  wrapped.on_list = [this, on_list = handlers.on_list](const kube::AutoscalerList& list) {
    {
      std::lock_guard lock(mu_);
      objects_.Replace(list);
      synced_ = true;
    }
    if (on_list) on_list(list);
  };
  wrapped.on_event = [this, on_event = handlers.on_event](const kube::AutoscalerEvent& event) {
    {
      std::lock_guard lock(mu_);
      objects_.Apply(event);
    }
    if (on_event) on_event(event);
  };
  return api_->WatchAutoscalers(ns, std::move(wrapped));
}

bool AutoscalerCache::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

size_t AutoscalerCache::size() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

}  // namespace groupscaler::controller
