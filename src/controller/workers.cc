#include "controller/workers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace groupscaler::controller {

Workers::Workers(WorkQueue* queue, int count, KeyHandler handler)
    : queue_(queue), handler_(std::move(handler)) {
  count = std::max(count, 1);
  threads_.reserve(count);
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { Loop(); });
}

Workers::~Workers() {
  queue_->ShutDown();
  threads_.clear();  // joins
}

void Workers::Loop() {
  while (std::optional<std::string> key = queue_->Get()) {
    queue_->Done(*key, Handle(*key));
  }
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
