#pragma once

// One real Kafka cluster for a whole test binary, as a gtest Environment:
// started before the first test and stopped after the last, so each binary
// pays for one start; its directory is kept when a test failed.

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "support/kafka_broker.h"

namespace groupscaler::testing {

class KafkaEnvironment : public ::testing::Environment {
 public:
  // Starts a cluster of `options` under TMPDIR/NAME_PID and points
  // `*cluster` at it while it runs (null before and after).
  KafkaEnvironment(std::string name, KafkaCluster::Options options, KafkaCluster** cluster)
      : name_(std::move(name)), options_(std::move(options)), cluster_(cluster) {}

  void SetUp() override;
  void TearDown() override;

 private:
  const std::string name_;
  const KafkaCluster::Options options_;
  KafkaCluster** const cluster_;
  std::filesystem::path dir_;
  std::unique_ptr<KafkaCluster> owned_;
};

}  // namespace groupscaler::testing
