#pragma once

// The running controller: a list-and-watch of ConsumerGroupAutoscalers
// feeding the work queue, and workers reconciling from it.
//
// The watch only says which keys to look at; every reconcile reads the
// object afresh (level-based), from the cache the same watch keeps
// (AutoscalerCache) rather than by a GET per poll; its target's replicas
// and pod template likewise come from a watch of the Deployments and
// StatefulSets (TargetCache) when deps.workload_watcher is set; HPAs are
// listed once per namespace per 30 s, and each auth Secret read once a
// minute (ttl_caches.h). Status-only changes (our own status writes)
// are not enqueued: the poll interval already brings each key back, and
// reacting to our own writes would observe Kafka twice per change.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "controller/autoscaler_cache.h"
#include "controller/reconciler.h"
#include "controller/target_cache.h"
#include "controller/ttl_caches.h"
#include "controller/work_queue.h"
#include "controller/workers.h"
#include "kube/client.h"

namespace groupscaler::controller {

struct ControllerOptions {
  // Empty: every namespace.
  std::string namespace_name;
  // Concurrent reconciles: they start at `initial` and grow with the work.
  WorkerLimits workers;
  ReconcilerOptions reconciler;
  // While this returns false, workers do not reconcile (not the leader):
  // keys are put back for later. Null: always reconcile.
  std::function<bool()> may_reconcile;
};

class Controller {
 public:
  // `deps` as for the Reconciler; none is owned.
  Controller(ReconcilerDeps deps, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the watch and the workers. Idempotent.
  void Start();
  // Stops the watch, then the workers (waiting for reconciles in flight).
  // Nothing is written to the API server after it returns. Idempotent.
  void Stop();

  // The first list arrived and was queued: the controller has seen every
  // object (readiness).
  bool synced() const { return synced_.load(); }
  WorkQueue& queue() { return queue_; }
  Reconciler& reconciler() { return reconciler_; }

 private:
  // `deps` with the caches in front of the API; makes target_cache_.
  ReconcilerDeps CachedDeps(const ReconcilerDeps& deps);
  void OnList(const kube::AutoscalerList& list);
  void OnEvent(const kube::AutoscalerEvent& event);
  Outcome Handle(const std::string& key);

  ReconcilerDeps deps_;
  ControllerOptions options_;
  AutoscalerCache cache_;
  std::optional<HpaCache> hpa_cache_;        // when deps.hpas is set
  std::optional<SecretCache> secret_cache_;  // when deps.secrets is set
  std::optional<TargetCache> target_cache_;  // when deps.workload_watcher is set
  WorkQueue queue_;
  Reconciler reconciler_;
  std::mutex mu_;  // Start/Stop
  bool started_ = false;
  bool stopped_ = false;
  std::unique_ptr<Workers> workers_;
  std::unique_ptr<kube::WatchHandle> watch_;
  std::atomic<bool> synced_{false};
  // Watch-thread only: the generation last enqueued per key.
  std::map<std::string, int64_t> generations_;
};

}  // namespace groupscaler::controller
