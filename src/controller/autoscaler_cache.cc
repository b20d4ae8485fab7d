#include "controller/autoscaler_cache.h"

#include <nlohmann/json.hpp>

namespace groupscaler::controller {
namespace {

using nlohmann::json;

void KeepOnly(json& object, std::initializer_list<const char*> names) {
  json kept = json::object();
  for (const char* name : names) {
    if (auto it = object.find(name); it != object.end()) kept[name] = std::move(*it);
  }
  object = std::move(kept);
}

void DropMessages(json& status) {
  status.erase("message");
  auto conditions = status.find("conditions");
  if (conditions == status.end() || !conditions->is_array()) return;
  for (json& condition : *conditions) {
    if (condition.is_object()) condition.erase("message");
  }
}

}  // namespace

kube::Autoscaler TrimForReconcile(const kube::Autoscaler& object) {
  json parsed = json::parse(object.json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return object;
  if (auto metadata = parsed.find("metadata"); metadata != parsed.end() && metadata->is_object()) {
    KeepOnly(*metadata, {"name", "namespace", "uid", "resourceVersion", "generation"});
  }
  if (auto status = parsed.find("status"); status != parsed.end() && status->is_object()) {
    DropMessages(*status);
  }
  return {.metadata = object.metadata,
          .json = parsed.dump(-1, ' ', false, json::error_handler_t::replace)};
}

AutoscalerCache::Packed AutoscalerCache::Pack(const kube::Autoscaler& object) {
  return {.metadata = object.metadata, .json = Deflate(TrimForReconcile(object).json)};
}

StatusOr<kube::AutoscalerList> AutoscalerCache::ListAutoscalers(const std::string& ns) {
  return api_->ListAutoscalers(ns);
}

StatusOr<kube::Autoscaler> AutoscalerCache::GetAutoscaler(const std::string& ns,
                                                          const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (synced_) {
      const Packed* cached = objects_.Find(ns, name);
      if (cached == nullptr) {
        return NotFoundError("consumergroupautoscalers " + ns + "/" + name + " not in the cache");
      }
      StatusOr<std::string> json = Inflate(cached->json);
      if (!json.ok()) return json.status();
      return kube::Autoscaler{.metadata = cached->metadata, .json = std::move(json).value()};
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
    if (Packed* cached = objects_.FindToRefresh(ns, name, patched->metadata.resource_version)) {
      *cached = Pack(*patched);
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

size_t AutoscalerCache::deflated_bytes() const {
  std::lock_guard lock(mu_);
  size_t bytes = 0;
  objects_.ForEach([&](const Packed& p) { bytes += p.json.bytes.size(); });
  return bytes;
}

size_t AutoscalerCache::inflated_bytes() const {
  std::lock_guard lock(mu_);
  size_t bytes = 0;
  objects_.ForEach([&](const Packed& p) { bytes += p.json.size; });
  return bytes;
}

}  // namespace groupscaler::controller
