#pragma once

// librdkafka's mock cluster as a real Kafka-protocol broker on loopback TCP,
// plus the ground-truth writers the tests need: a real producer that writes
// known counts per partition and a real client that commits known offsets.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace groupscaler::testing {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

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

// Produces `counts[p]` messages of `value_bytes` bytes each to partition p of
// `topic` with a real producer, one message per batch when `one_per_batch`
// (so that the mock's size-based retention deletes whole messages), and
// waits until all are acknowledged.
Status ProduceCounts(const std::string& bootstrap, const std::string& topic,
                     const std::vector<int64_t>& counts, size_t value_bytes = 16,
                     bool one_per_batch = false);

// The same for several topics with one producer.
Status ProduceCounts(const std::string& bootstrap,
                     const std::map<std::string, std::vector<int64_t>>& topics,
                     size_t value_bytes = 16, bool one_per_batch = false);

struct Commit {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

// Commits `offsets` for `group` the way a consumer outside the group's
// membership does (OffsetCommit with no generation), synchronously.
Status CommitOffsets(const std::string& bootstrap, const std::string& group,
                     const std::vector<Commit>& offsets);

// Log start and end through rd_kafka_query_watermark_offsets: a second,
// independent way to read the truth (one request per partition; fine here).
struct Watermarks {
  int64_t low = 0;
  int64_t high = 0;
};
StatusOr<Watermarks> QueryWatermarks(const std::string& bootstrap, const std::string& topic,
                                     int32_t partition);

}  // namespace groupscaler::testing
