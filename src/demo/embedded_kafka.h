#pragma once

// The demo's Kafka: librdkafka's mock cluster, a real Kafka-protocol broker
// on loopback TCP inside this process, and a producer that writes to it at
// the rates of a load profile.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "sim/trace.h"

namespace groupscaler::demo {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

class EmbeddedKafka {
 public:
  // Starts `brokers` mock brokers on 127.0.0.1 (random ports) and creates
  // `topic` with `partitions` partitions, replication factor 1.
  static StatusOr<std::unique_ptr<EmbeddedKafka>> Start(int brokers, const std::string& topic,
                                                        int partitions);
  ~EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..."
  const std::string& bootstrap_servers() const { return bootstrap_; }

 private:
  EmbeddedKafka() = default;
  RdKafkaPtr rk_;                            // hosts the mock's threads
  rd_kafka_mock_cluster_t* mock_ = nullptr;  // owned; destroyed before rk_
  std::string bootstrap_;
};

// Produces to every partition of a topic (round robin, so each partition
// gets an equal share) at the rate `trace` gives for the time since Start,
// on its own thread, until Stop. Message keys are sequence numbers.
class LoadProducer {
 public:
  static StatusOr<std::unique_ptr<LoadProducer>> Start(const std::string& bootstrap,
                                                       const std::string& topic, int partitions,
                                                       sim::Trace trace);
  // Stops producing and waits (up to 5 s) for outstanding acknowledgements.
  ~LoadProducer();
  LoadProducer(const LoadProducer&) = delete;
  LoadProducer& operator=(const LoadProducer&) = delete;

  void Stop();
  // Messages the brokers acknowledged, and failed deliveries.
  int64_t acknowledged() const { return acknowledged_.load(); }
  int64_t failed() const { return failed_.load(); }
  // The profile's rate at `elapsed` since Start.
  int64_t RateAt(std::chrono::duration<double> elapsed) const;

 private:
  LoadProducer() = default;
  void Run();
  static void DeliveryThunk(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);

  RdKafkaPtr rk_;
  std::string topic_;
  int partitions_ = 1;
  sim::Trace trace_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acknowledged_{0};
  std::atomic<int64_t> failed_{0};
  std::thread thread_;
};

}  // namespace groupscaler::demo
