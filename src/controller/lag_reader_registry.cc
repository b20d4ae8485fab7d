#include "controller/lag_reader_registry.h"

#include <algorithm>

namespace groupscaler::controller {

StatusOr<std::shared_ptr<kafka::LagReader>> LagReaderRegistry::Get(
    const kafka::ClusterConfig& cluster) {
  std::lock_guard lock(mu_);
  std::erase_if(readers_, [](const auto& entry) { return entry.second.expired(); });
  for (const auto& [config, weak] : readers_) {
    if (config == cluster) {
      if (std::shared_ptr<kafka::LagReader> reader = weak.lock()) return reader;
    }
  }
  StatusOr<std::unique_ptr<kafka::LagReader>> made = factory_(cluster);
  if (!made.ok()) return made.status();
  std::shared_ptr<kafka::LagReader> reader = std::move(made).value();
  readers_.emplace_back(cluster, reader);
  return reader;
}

size_t LagReaderRegistry::size() {
  std::lock_guard lock(mu_);
  return std::count_if(readers_.begin(), readers_.end(),
                       [](const auto& entry) { return !entry.second.expired(); });
}

}  // namespace groupscaler::controller
