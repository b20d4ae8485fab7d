#include "kafka/batching_lag_reader.h"

#include <map>
#include <optional>
#include <utility>

namespace groupscaler::kafka {

struct BatchingLagReader::Request {
  std::vector<GroupQuery> groups;
  std::optional<StatusOr<std::vector<GroupObservation>>> result;
};

StatusOr<std::vector<GroupObservation>> BatchingLagReader::Observe(
    const std::vector<GroupQuery>& groups, std::chrono::milliseconds timeout) {
  auto request = std::make_shared<Request>();
  request->groups = groups;
  std::unique_lock lock(mu_);
  pending_.push_back(request);
  while (!request->result) {
    if (in_flight_) {
      cv_.wait(lock);
      continue;
    }
    // No cycle runs: this caller runs one for everything pending,
    // its own request included.
    in_flight_ = true;
    std::vector<std::shared_ptr<Request>> batch = std::move(pending_);
    pending_.clear();
    ++cycles_;
    lock.unlock();
    RunCycle(std::move(batch), timeout);
    lock.lock();
    in_flight_ = false;
    cv_.notify_all();
  }
  return std::move(*request->result);
}

void BatchingLagReader::RunCycle(std::vector<std::shared_ptr<Request>> batch,
                                 std::chrono::milliseconds timeout) {
  std::vector<GroupQuery> queries;
  std::map<std::pair<std::string, std::vector<std::string>>, size_t> index;
  for (const auto& request : batch) {
    for (const GroupQuery& q : request->groups) {
      if (index.emplace(std::make_pair(q.group_id, q.topics), queries.size()).second) {
        queries.push_back(q);
      }
    }
  }
  StatusOr<std::vector<GroupObservation>> observed = inner_->Observe(queries, timeout);
  if (observed.ok() && observed->size() != queries.size()) {
    observed = InternalError("the reader answered " + std::to_string(observed->size()) +
                             " groups for " + std::to_string(queries.size()));
  }
  std::lock_guard lock(mu_);
  for (const auto& request : batch) {
    if (!observed.ok()) {
      request->result = observed.status();
      continue;
    }
    std::vector<GroupObservation> mine;
    mine.reserve(request->groups.size());
    for (const GroupQuery& q : request->groups) {
      mine.push_back((*observed)[index.at(std::make_pair(q.group_id, q.topics))]);
    }
    request->result = std::move(mine);
  }
}

LagReaderFactory Batching(LagReaderFactory inner) {
  return [inner = std::move(inner)](
             const ClusterConfig& cluster) -> StatusOr<std::unique_ptr<LagReader>> {
    StatusOr<std::unique_ptr<LagReader>> reader = inner(cluster);
    if (!reader.ok()) return reader.status();
    return std::unique_ptr<LagReader>(
        std::make_unique<BatchingLagReader>(std::move(reader).value()));
  };
}

size_t BatchingLagReader::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

int BatchingLagReader::cycles() const {
  std::lock_guard lock(mu_);
  return cycles_;
}

}  // namespace groupscaler::kafka
