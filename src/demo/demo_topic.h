#pragma once

// The demo's own topic on an existing Kafka cluster (`groupscaler demo
// --bootstrap-servers`), so that a user can try groupscaler on their Kafka
// and leave nothing behind.
//
// Contract:
// * Create first reads the cluster's metadata through the controller's own
//   lag reader, so that an unreachable cluster or a refused login is its
//   one-line error (naming the brokers, and for a refusal the security
//   protocol and mechanism) within `timeout`, before anything is created;
//   then it creates the topic with the brokers' default replication factor,
//   and returns once the reader observes `group` on it whole (the brokers
//   list a new topic, and serve its partitions, seconds after creating it),
//   so that the consumers and the controller find it at once.
// * Remove deletes the groups (with their committed offsets), retrying while
//   the cluster still counts a member that is leaving, then the topic.
// * Nothing is removed unless Remove is called: --keep-topic keeps both.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/admin.h"
#include "kafka/lag_reader.h"

namespace groupscaler::demo {

class DemoTopic {
 public:
  static StatusOr<std::unique_ptr<DemoTopic>> Create(const kafka::ClusterConfig& cluster,
                                                     const std::string& topic, int partitions,
                                                     const std::string& group,
                                                     std::chrono::milliseconds timeout);

  Status Remove(const std::vector<std::string>& groups, std::chrono::milliseconds timeout);

 private:
  DemoTopic(std::unique_ptr<kafka::KafkaAdmin> admin, std::string topic)
      : admin_(std::move(admin)), topic_(std::move(topic)) {}

  std::unique_ptr<kafka::KafkaAdmin> admin_;
  const std::string topic_;
};

}  // namespace groupscaler::demo
