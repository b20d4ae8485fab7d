#pragma once

// Topics and groups created and deleted through librdkafka's Admin API: the
// demo's own topic on an existing cluster (`groupscaler demo
// --bootstrap-servers`) and the Kafka benchmark's set-up on a real broker.
// The controller never writes to Kafka and does not use it.
//
// Contract:
// * Each call sends its items in one request (CreateTopics, DeleteTopics,
//   DeleteGroups) and waits for the answer until `timeout`; the first item
//   the cluster refused is the error, naming the item and the cluster's
//   reason, never a secret.
// * Connecting is lazy, as for every librdkafka client: an unreachable
//   cluster shows as a timeout of the first call.
// * Not thread-safe: one thread calls.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/lag_reader.h"
#include "kafka/mock_cluster.h"
#include "kafka/oauth_token_refresh.h"

namespace groupscaler::kafka {

class KafkaAdmin {
 public:
  // Validates `cluster.auth` (see auth.h); INVALID_ARGUMENT names the bad key.
  static StatusOr<std::unique_ptr<KafkaAdmin>> Connect(const ClusterConfig& cluster);

  // Creates each topic with `partitions` partitions and
  // `replication_factor` replicas (-1: the brokers' default).
  Status CreateTopics(const std::vector<std::string>& topics, int partitions,
                      int replication_factor, std::chrono::milliseconds timeout);
  Status DeleteTopics(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  // A group is deleted with its committed offsets; the cluster refuses one
  // that still has members (GROUP_NOT_EMPTY). A group the cluster never knew
  // counts as deleted.
  Status DeleteGroups(const std::vector<std::string>& groups, std::chrono::milliseconds timeout);

 private:
  KafkaAdmin() = default;

  // The handle's opaque under sasl=aws_msk_iam or oauthbearer; outlives rk_.
  std::unique_ptr<TokenRefreshContext> token_refresh_;
  RdKafkaPtr rk_;
  std::vector<std::string> secrets_;  // redacted from every message
};

}  // namespace groupscaler::kafka
