#include "controller/workers.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

namespace groupscaler::controller {

Workers::Workers(WorkQueue* queue, WorkerLimits limits, KeyHandler handler, MetricsSink* metrics)
    : queue_(queue),
      most_(std::max(limits.most, 1)),
      handler_(std::move(handler)),
      metrics_(metrics) {
  std::lock_guard lock(mu_);
  threads_.reserve(static_cast<size_t>(most_));
  const int initial = std::clamp(limits.initial, 1, most_);
  for (int i = 0; i < initial; ++i) StartThreadLocked();
}

Workers::~Workers() {
  queue_->ShutDown();
  std::vector<std::jthread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  threads.clear();  // joins
}

int Workers::count() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size());
}

void Workers::StartThreadLocked() {
  threads_.emplace_back([this] { Loop(); });
  if (metrics_ != nullptr) metrics_->SetWorkers(threads_.size());
}

void Workers::Loop() {
  // Per thread on Linux; a thread this one starts (a Kafka cycle's) inherits it.
  errno = 0;
  if (::nice(kWorkerNice) == -1 && errno != 0) {
    spdlog::debug("workers: cannot lower their priority: {}", std::strerror(errno));
  }
  while (std::optional<std::string> key = queue_->Get()) {
    ++busy_;
    GrowIfSaturated();
    const Outcome outcome = Handle(*key);
    --busy_;
    queue_->Done(*key, outcome);
  }
}

void Workers::GrowIfSaturated() {
  if (!queue_->HasDue()) return;
  std::lock_guard lock(mu_);
  const int running = static_cast<int>(threads_.size());
  if (stopping_ || running >= most_ || busy_.load() < running) return;
  StartThreadLocked();
  spdlog::debug("workers: {} (a due autoscaler found every worker busy)", running + 1);
}

Outcome Workers::Handle(const std::string& key) {
  try {
    return handler_(key);
  } catch (const std::exception& e) {
    spdlog::error("{}: reconcile threw: {}", key, e.what());
  } catch (...) {
    spdlog::error("{}: reconcile threw a non-standard exception", key);
  }
  return Outcome::Failed();
}

}  // namespace groupscaler::controller
