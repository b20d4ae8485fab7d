#include "controller/autoscaler_cache.h"

#include <charconv>
#include <optional>

namespace groupscaler::controller {
namespace {

std::string Key(const kube::ObjectMeta& meta) { return meta.namespace_name + "/" + meta.name; }

// resourceVersions are opaque to clients, but every API server in use
// writes integers; where both are, an older one must not replace a newer
// one (a watch event overtaken by our own patch's answer).
std::optional<uint64_t> AsNumber(const std::string& rv) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), n);
  if (ec != std::errc() || end != rv.data() + rv.size()) return std::nullopt;
  return n;
}

bool Older(const std::string& candidate, const std::string& stored) {
  const std::optional<uint64_t> a = AsNumber(candidate);
  const std::optional<uint64_t> b = AsNumber(stored);
  return a && b && *a < *b;
}

}  // namespace

void AutoscalerCache::Store(const kube::Autoscaler& object) {
  auto [it, inserted] = objects_.try_emplace(Key(object.metadata), object);
  if (!inserted && !Older(object.metadata.resource_version, it->second.metadata.resource_version)) {
    it->second = object;
  }
}

StatusOr<kube::AutoscalerList> AutoscalerCache::ListAutoscalers(const std::string& ns) {
  return api_->ListAutoscalers(ns);
}

StatusOr<kube::Autoscaler> AutoscalerCache::GetAutoscaler(const std::string& ns,
                                                          const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (synced_) {
      auto it = objects_.find(ns + "/" + name);
      if (it == objects_.end()) {
        return NotFoundError("consumergroupautoscalers " + ns + "/" + name + " not in the cache");
      }
      return it->second;
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
    // Only refresh what is cached: a patch racing a delete must not revive it.
    auto it = objects_.find(ns + "/" + name);
    if (it != objects_.end() &&
        !Older(patched->metadata.resource_version, it->second.metadata.resource_version)) {
      it->second = *patched;
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
      objects_.clear();
      for (const kube::Autoscaler& item : list.items) objects_[Key(item.metadata)] = item;
      synced_ = true;
    }
    if (on_list) on_list(list);
  };
  wrapped.on_event = [this, on_event = handlers.on_event](const kube::AutoscalerEvent& event) {
    {
      std::lock_guard lock(mu_);
      switch (event.type) {
        case kube::WatchEventType::kAdded:
        case kube::WatchEventType::kModified:
          Store(event.object);
          break;
        case kube::WatchEventType::kDeleted:
          objects_.erase(Key(event.object.metadata));
          break;
        case kube::WatchEventType::kBookmark:
          break;
      }
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
