#pragma once

// The tests' Kafka: kafka::MockCluster (librdkafka's mock cluster on loopback
// TCP), plus the ground-truth writers the tests need: a real producer that writes
// known counts per partition and a real client that commits known offsets.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/mock_cluster.h"

namespace groupscaler::testing {

using kafka::MockCluster;
using kafka::NewClient;
using kafka::RdKafkaPtr;

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
