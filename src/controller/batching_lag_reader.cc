#include "controller/batching_lag_reader.h"

#include <map>
#include <optional>
#include <utility>

namespace groupscaler::controller {

struct BatchingLagReader::Request {
  std::vector<kafka::GroupQuery> groups;
  std::optional<StatusOr<std::vector<kafka::GroupObservation>>> result;
};

StatusOr<std::vector<kafka::GroupObservation>> BatchingLagReader::Observe(
    const std::vector<kafka::GroupQuery>& groups, std::chrono::milliseconds timeout) {
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
  std::vector<kafka::GroupQuery> queries;
  std::map<std::pair<std::string, std::vector<std::string>>, size_t> index;
  for (const auto& request : batch) {
    for (const kafka::GroupQuery& q : request->groups) {
      if (index.emplace(std::make_pair(q.group_id, q.topics), queries.size()).second) {
        queries.push_back(q);
      }
    }
  }
  StatusOr<std::vector<kafka::GroupObservation>> observed = inner_->Observe(queries, timeout);
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
    std::vector<kafka::GroupObservation> mine;
    mine.reserve(request->groups.size());
    for (const kafka::GroupQuery& q : request->groups) {
      mine.push_back((*observed)[index.at(std::make_pair(q.group_id, q.topics))]);
    }
    request->result = std::move(mine);
  }
}

kafka::LagReaderFactory Batching(kafka::LagReaderFactory inner) {
  return [inner = std::move(inner)](
             const kafka::ClusterConfig& cluster) -> StatusOr<std::unique_ptr<kafka::LagReader>> {
    StatusOr<std::unique_ptr<kafka::LagReader>> reader = inner(cluster);
    if (!reader.ok()) return reader.status();
    return std::unique_ptr<kafka::LagReader>(
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

}  // namespace groupscaler::controller
