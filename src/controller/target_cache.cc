#include "controller/target_cache.h"

#include <spdlog/spdlog.h>

namespace groupscaler::controller {

void TargetCache::Start(const std::string& namespace_name) {
  for (kube::WorkloadKind kind : kKinds) {
    kube::ListWatchHandlers<kube::Workload> handlers{
        .on_list = [this, kind](const kube::WorkloadList& list) { OnList(kind, list); },
        .on_event =
            [this, kind](const kube::WorkloadEvent& event) {
              std::lock_guard lock(mu_);
              KindOf(kind).objects.Apply(event);
            },
        .on_list_error = [this, kind](const Status& error) { OnListError(kind, error); }};
    watches_[static_cast<size_t>(kind)] =
        watcher_->WatchWorkloads(kind, namespace_name, std::move(handlers));
  }
}

void TargetCache::OnList(kube::WorkloadKind kind, const kube::WorkloadList& list) {
  std::lock_guard lock(mu_);
  Kind& k = KindOf(kind);
  k.objects.Replace(list);
  k.synced = true;
  k.list_failed = false;
}

void TargetCache::OnListError(kube::WorkloadKind kind, const Status& error) {
  std::lock_guard lock(mu_);
  Kind& k = KindOf(kind);
  if (!k.synced && !k.list_failed) {
    spdlog::warn(
        "targets: cannot list {}s ({}): reading each target from the API every poll "
        "until a list succeeds",
        kube::WorkloadKindName(kind), error.message());
  }
  k.list_failed = true;
}

void TargetCache::Stop() {
  for (auto& watch : watches_) watch.reset();
}

template <typename Part>
std::optional<StatusOr<Part>> TargetCache::Cached(const kube::WorkloadRef& ref,
                                                  Part kube::Workload::*part) const {
  std::lock_guard lock(mu_);
  const Kind& kind = KindOf(ref.kind);
  if (!kind.synced) return std::nullopt;
  const kube::Workload* cached = kind.objects.Find(ref.namespace_name, ref.name);
  if (cached == nullptr) {
    return NotFoundError(ref.namespace_name + "/" + ref.name + " not in the cache");
  }
  return (*cached).*part;
}

StatusOr<kube::Scale> TargetCache::GetScale(const kube::WorkloadRef& ref) {
  if (auto cached = Cached(ref, &kube::Workload::scale)) return *std::move(cached);
  return scales_->GetScale(ref);
}

StatusOr<kube::Scale> TargetCache::PatchScale(const kube::WorkloadRef& ref, int32_t replicas) {
  StatusOr<kube::Scale> patched = scales_->PatchScale(ref, replicas);
  if (patched.ok()) {
    std::lock_guard lock(mu_);
    if (kube::Workload* cached = KindOf(ref.kind).objects.FindToRefresh(
            ref.namespace_name, ref.name, patched->resource_version)) {
      cached->scale.spec_replicas = patched->spec_replicas;
      cached->scale.resource_version = patched->resource_version;
      cached->metadata.resource_version = patched->resource_version;
    }
  }
  return patched;
}

StatusOr<kube::PodTemplate> TargetCache::GetPodTemplate(const kube::WorkloadRef& ref) {
  if (auto cached = Cached(ref, &kube::Workload::pod_template)) return *std::move(cached);
  return workloads_->GetPodTemplate(ref);
}

bool TargetCache::synced(kube::WorkloadKind kind) const {
  std::lock_guard lock(mu_);
  return KindOf(kind).synced;
}

bool TargetCache::settled() const {
  std::lock_guard lock(mu_);
  for (const Kind& k : kinds_) {
    if (!k.synced && !k.list_failed) return false;
  }
  return true;
}

size_t TargetCache::size() const {
  std::lock_guard lock(mu_);
  return kinds_[0].objects.size() + kinds_[1].objects.size();
}

}  // namespace groupscaler::controller
