#pragma once

// librdkafka's handles owned as std::unique_ptr, each released by its own
// destroy function: the one set of deleters for every file that holds them.

#include <librdkafka/rdkafka.h>

#include <memory>

namespace groupscaler::kafka {

template <auto Destroy>
struct RdKafkaDeleter {
  template <typename T>
  void operator()(T* handle) const {
    Destroy(handle);
  }
};

template <typename T, auto Destroy>
using RdKafkaOwned = std::unique_ptr<T, RdKafkaDeleter<Destroy>>;

using RdKafkaPtr = RdKafkaOwned<rd_kafka_t, rd_kafka_destroy>;
using ConfPtr = RdKafkaOwned<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using PartitionListPtr =
    RdKafkaOwned<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>;
using QueuePtr = RdKafkaOwned<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using EventPtr = RdKafkaOwned<rd_kafka_event_t, rd_kafka_event_destroy>;
using MessagePtr = RdKafkaOwned<rd_kafka_message_t, rd_kafka_message_destroy>;
using MetadataPtr = RdKafkaOwned<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;
using AdminOptionsPtr = RdKafkaOwned<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using ListGroupOffsetsPtr =
    RdKafkaOwned<rd_kafka_ListConsumerGroupOffsets_t, rd_kafka_ListConsumerGroupOffsets_destroy>;

}  // namespace groupscaler::kafka
