#pragma once

// A LagReader decorator that merges concurrent observations of one cluster
// into shared cycles. Every autoscaler's reconcile observes its own group,
// and the reader serialises cycles: with hundreds of autoscalers on one
// cluster, one cycle per reconcile would queue them for longer than a poll
// interval. Here, requests that arrive while a cycle runs wait for it to
// end and then all go out together in the next cycle, with duplicate
// (group, topics) queries asked once.
//
// Freshness: every request is answered from a cycle that began after the
// request arrived, so no answer is older than the request: a lag step is
// seen by the next reconcile, at the cost of waiting for at most one cycle
// already in flight.
//
// An error of a cycle (cluster unreachable) is every request's error.
// CommittedTopics, ListGroups and RequestCountsSnapshot go straight to the
// inner reader.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kafka/lag_reader.h"

namespace groupscaler::kafka {

class BatchingLagReader final : public LagReader {
 public:
  explicit BatchingLagReader(std::unique_ptr<LagReader> inner) : inner_(std::move(inner)) {}

  StatusOr<std::vector<GroupObservation>> Observe(const std::vector<GroupQuery>& groups,
                                                  std::chrono::milliseconds timeout) override;
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string& group,
                                                     std::chrono::milliseconds timeout) override {
    return inner_->CommittedTopics(group, timeout);
  }
  StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds timeout) override {
    return inner_->ListGroups(timeout);
  }
  StatusOr<RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds timeout) override {
    return inner_->RequestCountsSnapshot(timeout);
  }

  // Cycles run on the inner reader so far.
  int cycles() const;
  // Requests waiting for the next cycle.
  size_t pending() const;

 private:
  struct Request;
  void RunCycle(std::vector<std::shared_ptr<Request>> batch, std::chrono::milliseconds timeout);

  std::unique_ptr<LagReader> inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Request>> pending_;
  bool in_flight_ = false;
  int cycles_ = 0;
};

// `inner`'s readers, each behind a BatchingLagReader. The controller's
// factory is Batching(RdKafkaLagReaderFactory()).
LagReaderFactory Batching(LagReaderFactory inner);

}  // namespace groupscaler::kafka
