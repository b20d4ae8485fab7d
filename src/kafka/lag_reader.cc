#include "kafka/lag_reader.h"

#include <algorithm>
#include <limits>

namespace groupscaler::kafka {

policy::Observation FailedObservation(const Status& why) {
  policy::Observation observation;
  observation.failed = true;
  observation.error = why.message();
  return observation;
}

int64_t RequestCounts::Total() const {
  int64_t total = 0;
  for (const auto& [api, count] : by_api) {
    if (__builtin_add_overflow(total, count, &total)) {
      total = count > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    }
  }
  return total;
}

RequestCounts RequestCounts::Since(const RequestCounts& earlier) const {
  RequestCounts delta;
  for (const auto& [api, count] : by_api) {
    auto it = earlier.by_api.find(api);
    const int64_t d = count - (it == earlier.by_api.end() ? 0 : it->second);
    if (d != 0) delta.by_api[api] = d;
  }
  return delta;
}

std::string RequestCounts::ToString() const {
  std::string out;
  for (const auto& [api, count] : by_api) {
    if (!out.empty()) out += ' ';
    out += api + "=" + std::to_string(count);
  }
  return out.empty() ? "none" : out;
}

namespace {

// The same cluster whatever order its bootstrap servers are listed in.
bool SameCluster(const ClusterConfig& a, const ClusterConfig& b) {
  if (a.auth != b.auth) return false;
  std::vector<std::string> x = a.bootstrap_servers;
  std::vector<std::string> y = b.bootstrap_servers;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return x == y;
}

}  // namespace

StatusOr<std::shared_ptr<LagReader>> LagReaderPool::Get(const ClusterConfig& cluster) {
  std::lock_guard lock(mu_);
  std::erase_if(readers_, [](const auto& entry) { return entry.second.expired(); });
  for (const auto& [config, weak] : readers_) {
    if (SameCluster(config, cluster)) {
      if (std::shared_ptr<LagReader> reader = weak.lock()) return reader;
    }
  }
  StatusOr<std::unique_ptr<LagReader>> made = factory_(cluster);
  if (!made.ok()) return made.status();
  std::shared_ptr<LagReader> reader = std::move(made).value();
  readers_.emplace_back(cluster, reader);
  return reader;
}

size_t LagReaderPool::size() {
  std::lock_guard lock(mu_);
  return std::count_if(readers_.begin(), readers_.end(),
                       [](const auto& entry) { return !entry.second.expired(); });
}

}  // namespace groupscaler::kafka
