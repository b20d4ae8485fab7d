#include "kafka_real/kafka_environment.h"

#include <unistd.h>

#include "kafka_real/clients.h"

namespace groupscaler::testing {

void KafkaEnvironment::SetUp() {
  dir_ = std::filesystem::temp_directory_path() / (name_ + "_" + std::to_string(getpid()));
  const auto start = SteadyClock::now();
  auto cluster = KafkaCluster::Start(dir_, options_);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  owned_ = std::move(cluster).value();
  *cluster_ = owned_.get();
  ReportStart(std::to_string(options_.brokers) + "-broker cluster", SecondsSince(start), *owned_);
}

void KafkaEnvironment::TearDown() {
  *cluster_ = nullptr;
  owned_.reset();
  if (!::testing::UnitTest::GetInstance()->Failed()) std::filesystem::remove_all(dir_);
}

}  // namespace groupscaler::testing
