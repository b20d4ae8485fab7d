#pragma once

// The demo's load: a producer that writes to the demo's Kafka (the embedded
// kafka::MockCluster, or an existing cluster) at the rates of a load profile.

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "kafka/auth.h"
#include "kafka/mock_cluster.h"
#include "sim/trace.h"

namespace groupscaler::demo {

// Produces to every partition of a topic (round robin, so each partition
// gets an equal share) at the rate `trace` gives for the time since Start,
// on its own thread, until Stop. Message keys are sequence numbers.
class LoadProducer {
 public:
  // `auth`: SASL and TLS settings (kafka/auth.h); empty for none.
  static StatusOr<std::unique_ptr<LoadProducer>> Start(const std::string& bootstrap,
                                                       const kafka::AuthSettings& auth,
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

  kafka::RdKafkaPtr rk_;
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
