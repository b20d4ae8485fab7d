#pragma once

// A read cache of the scale targets, Deployments and StatefulSets, filled by
// a list-and-watch of each kind (as controller-runtime's informers), so that
// a reconcile reads its target's replicas and pod template from memory
// instead of a GET per poll. Each object is kept trimmed (kube::Workload,
// with only the pod template's group-id settings: GroupIdSettings).
//
// Contract:
// * Start(ns) lists and watches both kinds in `ns` (empty: every
//   namespace); Stop() ends both watches. Destroy or Stop the cache before
//   the clients it was given.
// * GetScale and GetPodTemplate answer from the cache once the kind's first
//   list arrived (NotFound when absent: deleted, or not created yet); before
//   that, or while the kind cannot be listed (RBAC without list and watch),
//   they ask the API, as they did without a cache.
// * settled(): every kind's first list has either arrived or failed, so a
//   reconcile now reads what it will keep reading (the controller waits for
//   it rather than GET every target at start).
// * PatchScale goes to the API, and its answer refreshes the cached replicas
//   and resourceVersion, so that the next reconcile sees its own write
//   before the watch event arrives.
// A cached object may lag the API by the watch's delay; reconciles are
// level-based and the next poll corrects it.
//
// Thread-safe.

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "controller/anti_pattern.h"
#include "controller/object_store.h"
#include "kube/client.h"

namespace groupscaler::controller {

class TargetCache final : public kube::ScaleClient, public kube::WorkloadReader {
 public:
  // None is owned; all must outlive the cache's watches.
  TargetCache(kube::ScaleClient* scales, kube::WorkloadReader* workloads,
              kube::WorkloadWatcher* watcher)
      : scales_(scales), workloads_(workloads), watcher_(watcher) {}
  ~TargetCache() override { Stop(); }

  void Start(const std::string& namespace_name);
  void Stop();

  StatusOr<kube::Scale> GetScale(const kube::WorkloadRef& ref) override;
  StatusOr<kube::Scale> PatchScale(const kube::WorkloadRef& ref, int32_t replicas) override;
  StatusOr<kube::PodTemplate> GetPodTemplate(const kube::WorkloadRef& ref) override;

  bool synced(kube::WorkloadKind kind) const;
  bool settled() const;
  size_t size() const;

 private:
  struct Kind {
    bool synced = false;       // a list arrived
    bool list_failed = false;  // the last list failed
    // Of each pod template, only what the group-per-instance check reads.
    ObjectStore<kube::Workload> objects{[](const kube::Workload& w) {
      return kube::Workload{.metadata = w.metadata,
                            .scale = w.scale,
                            .pod_template = GroupIdSettings(w.pod_template)};
    }};
  };
  static constexpr std::array<kube::WorkloadKind, 2> kKinds = {kube::WorkloadKind::kDeployment,
                                                               kube::WorkloadKind::kStatefulSet};

  void OnList(kube::WorkloadKind kind, const kube::WorkloadList& list);
  void OnListError(kube::WorkloadKind kind, const Status& error);
  Kind& KindOf(kube::WorkloadKind kind) { return kinds_[static_cast<size_t>(kind)]; }
  const Kind& KindOf(kube::WorkloadKind kind) const { return kinds_[static_cast<size_t>(kind)]; }
  // `part` of the cached workload `ref` names, or NotFound; nullopt when
  // its kind is not synced (ask the API).
  template <typename Part>
  std::optional<StatusOr<Part>> Cached(const kube::WorkloadRef& ref,
                                       Part kube::Workload::*part) const;

  kube::ScaleClient* scales_;
  kube::WorkloadReader* workloads_;
  kube::WorkloadWatcher* watcher_;
  mutable std::mutex mu_;
  std::array<Kind, 2> kinds_;
  // Outside mu_: their handlers take it.
  std::array<std::unique_ptr<kube::WatchHandle>, 2> watches_;
};

}  // namespace groupscaler::controller
