#pragma once

// A scripted LagReader for tests of code that consumes observations (the
// controller, the reconciler): no Kafka, answers exactly what it is told.

#include <mutex>
#include <vector>

#include "kafka/lag_reader.h"

namespace groupscaler::testing {

class FakeLagReader final : public kafka::LagReader {
 public:
  // The next Observe answers `result` for the groups asked (results are
  // matched by group id; a group without a scripted result gets a failed
  // observation). A non-OK status fails the whole cycle.
  void SetObservations(std::vector<kafka::GroupObservation> result) {
    std::lock_guard lock(mu_);
    observations_ = std::move(result);
    status_ = Status::Ok();
  }
  void FailCycles(Status status) {
    std::lock_guard lock(mu_);
    status_ = std::move(status);
  }
  int cycles() const {
    std::lock_guard lock(mu_);
    return cycles_;
  }

  StatusOr<std::vector<kafka::GroupObservation>> Observe(
      const std::vector<kafka::GroupQuery>& groups, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    ++cycles_;
    if (!status_.ok()) return status_;
    std::vector<kafka::GroupObservation> out;
    for (const kafka::GroupQuery& q : groups) {
      kafka::GroupObservation g;
      g.group_id = q.group_id;
      g.observation = kafka::FailedObservation(NotFoundError("no scripted observation"));
      for (const kafka::GroupObservation& scripted : observations_) {
        if (scripted.group_id == q.group_id) g = scripted;
      }
      out.push_back(std::move(g));
    }
    return out;
  }

  StatusOr<std::vector<std::string>> CommittedTopics(const std::string&,
                                                     std::chrono::milliseconds) override {
    return NotFoundError("the fake lists no committed topics");
  }

  StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds) override {
    return UnimplementedError("the fake lists no groups");
  }

  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds) override {
    return kafka::RequestCounts{};
  }

 private:
  mutable std::mutex mu_;
  std::vector<kafka::GroupObservation> observations_;
  Status status_;
  int cycles_ = 0;
};

// Forwards every call to `target` (not owned). Tests derive from it to
// count, gate or override one call of a scripted reader.
class ForwardingLagReader : public kafka::LagReader {
 public:
  explicit ForwardingLagReader(kafka::LagReader* target) : target_(target) {}

  StatusOr<std::vector<kafka::GroupObservation>> Observe(const std::vector<kafka::GroupQuery>& g,
                                                         std::chrono::milliseconds t) override {
    return target_->Observe(g, t);
  }
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string& g,
                                                     std::chrono::milliseconds t) override {
    return target_->CommittedTopics(g, t);
  }
  StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds t) override {
    return target_->ListGroups(t);
  }
  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds t) override {
    return target_->RequestCountsSnapshot(t);
  }

 private:
  kafka::LagReader* target_;
};

}  // namespace groupscaler::testing
