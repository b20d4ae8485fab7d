#pragma once

// librdkafka's mock cluster: real Kafka-protocol brokers on loopback TCP,
// inside this process. The demo's embedded Kafka and the tests' broker.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kafka/rdkafka_ptr.h"

namespace groupscaler::kafka {

// A client of `type` with `props` set, and a termination signal so that
// destroying it does not wait for its threads' poll timeouts. `configure`,
// when given, sets what properties cannot (callbacks, the opaque).
StatusOr<RdKafkaPtr> NewClient(rd_kafka_type_t type,
                               const std::vector<std::pair<const char*, std::string>>& props,
                               const std::function<void(rd_kafka_conf_t*)>& configure = nullptr);

class MockCluster {
 public:
  // Starts `brokers` brokers (ids 1..brokers) on 127.0.0.1, random ports.
  static StatusOr<std::unique_ptr<MockCluster>> Start(int brokers = 3);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..."
  const std::string& bootstrap_servers() const { return bootstrap_; }
  int brokers() const { return brokers_; }

  Status CreateTopic(const std::string& topic, int partitions);
  // Creates topic -> partition count, concurrently: the mock answers each
  // creation at its I/O thread's pace, up to a second.
  Status CreateTopics(const std::map<std::string, int>& topics);
  Status SetBrokerDown(int32_t broker_id);
  Status SetBrokerUp(int32_t broker_id);
  // The next `errors.size()` requests of `api_key` (cluster-wide) fail with
  // these errors, in order.
  void PushRequestErrors(int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  void ClearRequestErrors(int16_t api_key);

  rd_kafka_mock_cluster_t* raw() const { return mock_; }

 private:
  MockCluster() = default;
  RdKafkaPtr rk_;                            // hosts the mock's threads
  rd_kafka_mock_cluster_t* mock_ = nullptr;  // owned; destroyed before rk_
  std::string bootstrap_;
  int brokers_ = 0;
};

}  // namespace groupscaler::kafka
