#pragma once

// One LagReader per Kafka cluster, shared by every autoscaler pointing at it.
// Get returns the live reader for an equal ClusterConfig or makes one with
// the factory; the registry holds only weak references, so a reader is
// closed as soon as the last autoscaler holding it lets go (is deleted or
// moves to another cluster).
//
// kafka::LagReaderPool does the same for librdkafka readers only; this one
// takes a factory so that the controller's tests can count and fake readers.

#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kafka/lag_reader.h"

namespace groupscaler::controller {

using LagReaderFactory =
    std::function<StatusOr<std::unique_ptr<kafka::LagReader>>(const kafka::ClusterConfig&)>;

class LagReaderRegistry {
 public:
  explicit LagReaderRegistry(LagReaderFactory factory) : factory_(std::move(factory)) {}

  // The shared reader for `cluster`; the factory's error when it refuses
  // the config (bad auth settings). Thread-safe.
  StatusOr<std::shared_ptr<kafka::LagReader>> Get(const kafka::ClusterConfig& cluster);
  // Readers alive now.
  size_t size();

 private:
  std::mutex mu_;
  LagReaderFactory factory_;
  // Few clusters per controller: a linear scan is enough, and it compares
  // configs without serialising their secrets anywhere.
  std::vector<std::pair<kafka::ClusterConfig, std::weak_ptr<kafka::LagReader>>> readers_;
};

}  // namespace groupscaler::controller
