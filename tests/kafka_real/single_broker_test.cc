// The shape most tests on real Kafka use: one broker with only PLAINTEXT
// (support/kafka_broker.h). It starts, serves a librdkafka producer and group
// consumer, and keeps its data over a SIGKILL and a restart on its storage
// (the controller restarts too: its own quorum of one); and one that cannot
// start says why.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>
#include <string>

#include "kafka_real/clients.h"
#include "support/kafka_broker.h"

namespace groupscaler::testing {
namespace {

TEST(SingleBroker, ServesAndRestartsOnItsStorage) {
  const auto start = SteadyClock::now();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kafka_single_" + std::to_string(getpid()));
  auto cluster = KafkaCluster::Start(dir, {.brokers = 1, .listeners = {}});
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  KafkaCluster& kafka = **cluster;
  ReportStart("1-broker cluster", SecondsSince(start), kafka);
  EXPECT_EQ(kafka.bootstrap(KafkaListener::kSsl), "");

  const std::string topic = Unique("topic");
  ASSERT_TRUE(kafka.CreateTopic(topic, 2, 1).ok());
  const KafkaClientConfig config = kafka.ClientConfig(KafkaListener::kPlaintext);
  EXPECT_EQ(Produce(config, topic, Values("before", 20)).delivered, 20);

  kafka.Stop(0);
  EXPECT_FALSE(kafka.running(0));
  const auto restart = SteadyClock::now();
  Status restarted = kafka.Restart(0);
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  std::cout << "1-broker restart: " << SecondsSince(restart) << " s" << std::endl;

  EXPECT_EQ(Produce(config, topic, Values("after", 5)).delivered, 5);
  std::multiset<std::string> all = AllValues({"before"}, 20);
  for (const std::string& v : Values("after", 5)) all.insert(v);
  EXPECT_EQ(Consume(config, topic, Unique("group"), all.size()).values, all);
  cluster->reset();
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// A broker that cannot start (here: a TLS key it cannot read, which
// kafka-storage format does not check) fails Start() at once, with the
// reason from its own log.
TEST(SingleBroker, FailedStartCarriesTheBrokersLog) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kafka_failed_" + std::to_string(getpid()));
  const auto start = SteadyClock::now();
  auto cluster =
      KafkaCluster::Start(dir, {.brokers = 1,
                                .listeners = {KafkaListener::kSsl},
                                .server_properties = {{"ssl.keystore.key", "not a key"}}});
  ASSERT_FALSE(cluster.ok());
  EXPECT_LT(SecondsSince(start), 60);
  const std::string& message = cluster.status().message();
  EXPECT_NE(message.find("Kafka broker 0 at 127.0.0.1:"), std::string::npos) << message;
  // It exits, or is caught at its fatal error first.
  EXPECT_TRUE(message.find("not ready: exited with") != std::string::npos ||
              message.find("not ready: fatal error") != std::string::npos)
      << message;
  // The cause, from the broker's first ERROR and the line after it.
  const size_t cause = message.find("first error: ");
  ASSERT_NE(cause, std::string::npos) << message;
  EXPECT_NE(message.find("PEM keystore", cause), std::string::npos) << message;
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace groupscaler::testing
