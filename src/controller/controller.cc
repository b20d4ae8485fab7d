#include "controller/controller.h"

#include <spdlog/spdlog.h>

namespace groupscaler::controller {

Controller::Controller(ReconcilerDeps deps, ControllerOptions options)
    : deps_(deps),
      options_(std::move(options)),
      cache_(deps.autoscalers),
      hpa_cache_(deps.hpas != nullptr ? std::make_optional<HpaCache>(deps.hpas, deps.clock)
                                      : std::nullopt),
      secret_cache_(deps.secrets != nullptr
                        ? std::make_optional<SecretCache>(deps.secrets, deps.clock)
                        : std::nullopt),
      queue_(deps.clock, {}, deps.metrics),
      reconciler_(CachedDeps(deps), options_.reconciler) {}

ReconcilerDeps Controller::CachedDeps(const ReconcilerDeps& deps) {
  ReconcilerDeps cached = deps;
  cached.autoscalers = &cache_;
  if (hpa_cache_) cached.hpas = &*hpa_cache_;
  if (secret_cache_) cached.secrets = &*secret_cache_;
  if (deps.workload_watcher != nullptr) {
    target_cache_.emplace(deps.scales, deps.workloads, deps.workload_watcher);
    cached.scales = &*target_cache_;
    if (deps.workloads != nullptr) cached.workloads = &*target_cache_;
  }
  return cached;
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopped_) return;
  started_ = true;
  workers_ = std::make_unique<Workers>(
      &queue_, options_.workers, [this](const std::string& key) { return Handle(key); },
      deps_.metrics);
  if (target_cache_) target_cache_->Start(options_.namespace_name);
  watch_ = cache_.WatchAutoscalers(
      options_.namespace_name,
      {.on_list = [this](const kube::AutoscalerList& list) { OnList(list); },
       .on_event = [this](const kube::AutoscalerEvent& event) { OnEvent(event); }});
  spdlog::info("controller started: namespace {}, {} workers growing to at most {}",
               options_.namespace_name.empty() ? "(all)" : options_.namespace_name,
               workers_->count(), options_.workers.most);
}

void Controller::Stop() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  watch_.reset();  // no more keys
  if (target_cache_) target_cache_->Stop();
  reconciler_.Cancel();
  workers_.reset();  // shuts the queue down, waits for reconciles in flight
  queue_.ShutDown();
  if (started_) spdlog::info("controller stopped");
}

void Controller::OnList(const kube::AutoscalerList& list) {
  std::map<std::string, int64_t> seen;
  for (const kube::Autoscaler& item : list.items) {
    const std::string key = MakeKey(item.metadata.namespace_name, item.metadata.name);
    seen[key] = item.metadata.generation;
    queue_.Add(key);
  }
  // Objects deleted while the watch was away: their reconcile finds them
  // gone and forgets them.
  for (const auto& [key, generation] : generations_) {
    if (!seen.contains(key)) queue_.Add(key);
  }
  generations_ = std::move(seen);
  if (!synced_.exchange(true)) spdlog::info("controller synced: {} autoscalers", list.items.size());
}

void Controller::OnEvent(const kube::AutoscalerEvent& event) {
  if (event.type == kube::WatchEventType::kBookmark) return;
  const kube::ObjectMeta& meta = event.object.metadata;
  const std::string key = MakeKey(meta.namespace_name, meta.name);
  switch (event.type) {
    case kube::WatchEventType::kDeleted:
      generations_.erase(key);
      queue_.Add(key);
      return;
    case kube::WatchEventType::kModified: {
      auto it = generations_.find(key);
      // Same generation: only status or metadata moved.
      if (it != generations_.end() && it->second == meta.generation) return;
      break;
    }
    default:
      break;
  }
  generations_[key] = meta.generation;
  queue_.Add(key);
}

Outcome Controller::Handle(const std::string& key) {
  if (options_.may_reconcile && !options_.may_reconcile()) {
    return Outcome::RequeueAfter(std::chrono::seconds(1));
  }
  // Until the targets are listed, a reconcile would GET each one instead.
  if (target_cache_ && !target_cache_->settled()) {
    return Outcome::RequeueAfter(std::chrono::milliseconds(200));
  }
  return reconciler_.Reconcile(key);
}

}  // namespace groupscaler::controller
