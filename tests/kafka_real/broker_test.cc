// The real-Kafka fixture (support/kafka_broker.h) proven on a cluster of
// three brokers with every listener (one cluster for the whole binary,
// started by the first test): each listener and mechanism carries a
// librdkafka producer and group consumer, bad credentials and certificates
// are refused, Kafka's own kafka-consumer-groups reads a group, and the
// cluster survives a broker's SIGKILL and restart.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kafka_real/clients.h"
#include "support/kafka_broker.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler::testing {
namespace {

// The cluster of this binary: three brokers with every listener, started
// on first use, killed at exit; its files are removed when every test passed.
struct Shared {
  ~Shared() {
    if (!cluster) return;
    const std::filesystem::path dir = cluster->dir();
    cluster.reset();
    if (::testing::UnitTest::GetInstance()->Passed()) std::filesystem::remove_all(dir);
  }
  std::unique_ptr<KafkaCluster> cluster;
  std::string error;
};

KafkaCluster* SharedCluster() {
  static Shared shared;
  if (!shared.cluster && shared.error.empty()) {
    const auto start = SteadyClock::now();
    auto cluster = KafkaCluster::Start(
        std::filesystem::temp_directory_path() / ("kafka_real_" + std::to_string(getpid())),
        {.brokers = 3});
    if (cluster.ok()) {
      shared.cluster = std::move(cluster).value();
      ReportStart("3-broker cluster", SecondsSince(start), *shared.cluster);
    } else {
      shared.error = cluster.status().ToString();
    }
  }
  EXPECT_EQ(shared.error, "");
  return shared.cluster.get();
}

struct ListenerCase {
  const char* name;
  KafkaListener listener;
  const char* mechanism = "";
};

// Produces and consumes (in a group, committing) over `c`'s listener:
// everything arrives, and librdkafka reports no error at all.
void ExpectServes(KafkaCluster& kafka, const ListenerCase& c) {
  const std::string topic = Unique("topic");
  ASSERT_TRUE(kafka.CreateTopic(topic, 3, 3).ok());
  const KafkaClientConfig config = kafka.ClientConfig(c.listener, c.mechanism);
  const Produced produced = Produce(config, topic, Values(c.name, 30));
  EXPECT_EQ(produced.delivered, 30);
  EXPECT_EQ(produced.errors, "");
  const Consumed consumed = Consume(config, topic, Unique("group"), 30);
  EXPECT_EQ(consumed.values, AllValues({c.name}, 30));
  EXPECT_EQ(consumed.errors, "");
}

class ListenerTest : public ::testing::TestWithParam<ListenerCase> {};

// Each listener and mechanism carries a produce, and a group's consume and
// commit (the coordinator's address comes from the same listener), with
// hostname verification on for TLS.
TEST_P(ListenerTest, ProducesAndConsumes) {
  KafkaCluster* kafka = SharedCluster();
  ASSERT_NE(kafka, nullptr);
  ExpectServes(*kafka, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Kafka, ListenerTest,
    ::testing::Values(
        ListenerCase{.name = "Plaintext", .listener = KafkaListener::kPlaintext},
        ListenerCase{.name = "SaslPlaintextPlain",
                     .listener = KafkaListener::kSaslPlaintext,
                     .mechanism = "PLAIN"},
        ListenerCase{.name = "SslWithHostnameVerification", .listener = KafkaListener::kSsl},
        ListenerCase{.name = "MutualTls", .listener = KafkaListener::kMutualTls},
        ListenerCase{
            .name = "SaslSslPlain", .listener = KafkaListener::kSaslSsl, .mechanism = "PLAIN"}),
    [](const ::testing::TestParamInfo<ListenerCase>& info) { return info.param.name; });

class ScramTest : public ::testing::TestWithParam<ListenerCase> {};

// The fixture's SCRAM users are accepted by Kafka's own Java client and by
// librdkafka (2.6.1 or later: before, Kafka 4 refused its doubled nonce as
// invalid credentials, librdkafka PR #4895).
TEST_P(ScramTest, JavaClientAndLibrdkafkaAuthenticate) {
  KafkaCluster* kafka = SharedCluster();
  ASSERT_NE(kafka, nullptr);
  const ListenerCase& c = GetParam();
  StatusOr<std::filesystem::path> java_config =
      kafka->WriteJavaClientConfig(c.listener, c.mechanism);
  ASSERT_TRUE(java_config.ok()) << java_config.status().ToString();
  // kafka-topics --list over the SCRAM listener must name a topic made on
  // PLAINTEXT: a tool's exit code proves nothing here (kafka-consumer-groups
  // --list exits 0 after a failed authentication).
  const std::string topic = Unique("listed");
  ASSERT_TRUE(kafka->CreateTopic(topic, 1, 3).ok());
  const RunResult java =
      kafka->RunJava(kTopicCommand, {"--bootstrap-server", kafka->bootstrap(c.listener),
                                     "--command-config", java_config->string(), "--list"});
  EXPECT_EQ(java.exit_code, 0) << java.out << java.err;
  EXPECT_NE(java.out.find(topic), std::string::npos) << java.out << java.err;

  ExpectServes(*kafka, c);
}

INSTANTIATE_TEST_SUITE_P(Kafka, ScramTest,
                         ::testing::Values(ListenerCase{.name = "SaslPlaintextScramSha256",
                                                        .listener = KafkaListener::kSaslPlaintext,
                                                        .mechanism = "SCRAM-SHA-256"},
                                           ListenerCase{.name = "SaslPlaintextScramSha512",
                                                        .listener = KafkaListener::kSaslPlaintext,
                                                        .mechanism = "SCRAM-SHA-512"},
                                           ListenerCase{.name = "SaslSslScramSha256",
                                                        .listener = KafkaListener::kSaslSsl,
                                                        .mechanism = "SCRAM-SHA-256"},
                                           ListenerCase{.name = "SaslSslScramSha512",
                                                        .listener = KafkaListener::kSaslSsl,
                                                        .mechanism = "SCRAM-SHA-512"}),
                         [](const ::testing::TestParamInfo<ListenerCase>& info) {
                           return info.param.name;
                         });

// Replaces (or adds) one librdkafka setting.
KafkaClientConfig With(KafkaClientConfig config, const char* name, const std::string& value) {
  for (auto& [n, v] : config) {
    if (std::string(n) == name) {
      v = value;
      return config;
    }
  }
  config.push_back({name, value});
  return config;
}

KafkaClientConfig Without(KafkaClientConfig config, const std::string& name) {
  std::erase_if(config, [&](const auto& setting) { return name == setting.first; });
  return config;
}

struct RefusedCase {
  const char* name;
  // The client's settings, from the cluster's.
  KafkaClientConfig (*config)(const KafkaCluster&);
  // What the error callback must report (one of them).
  std::vector<rd_kafka_resp_err_t> errors;
};

class RefusedTest : public ::testing::TestWithParam<RefusedCase> {};

// A client with a wrong secret or certificate is told why, and gets no
// answer.
TEST_P(RefusedTest, NeverAnswered) {
  KafkaCluster* kafka = SharedCluster();
  ASSERT_NE(kafka, nullptr);
  auto client = NewRecordingClient(RD_KAFKA_PRODUCER, GetParam().config(*kafka));
  ASSERT_NE(client, nullptr);
  const bool reported = WaitFor(
      [&] {
        rd_kafka_poll(client->rk.get(), 0);
        for (rd_kafka_resp_err_t err : GetParam().errors) {
          if (client->HasError(err)) return true;
        }
        return false;
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(reported) << client->Reasons();
  EXPECT_NE(Metadata(*client, 300), RD_KAFKA_RESP_ERR_NO_ERROR);
}

// Another CA than the brokers', for the unknown-CA case.
std::filesystem::path OtherCa(const KafkaCluster& kafka) {
  const std::filesystem::path path = kafka.dir() / "other-ca.crt";
  if (!std::filesystem::exists(path)) {
    StatusOr<TestPki> other = MakeTestPki();
    EXPECT_TRUE(other.ok());
    if (other.ok()) std::ofstream(path) << other->ca_pem;
  }
  return path;
}

INSTANTIATE_TEST_SUITE_P(
    Kafka, RefusedTest,
    ::testing::Values(
        RefusedCase{.name = "WrongPasswordPlain",
                    .config =
                        [](const KafkaCluster& k) {
                          return With(k.ClientConfig(KafkaListener::kSaslPlaintext, "PLAIN"),
                                      "sasl.password", "wrong");
                        },
                    .errors = {RD_KAFKA_RESP_ERR__AUTHENTICATION}},
        RefusedCase{.name = "WrongPasswordPlainOverTls",
                    .config =
                        [](const KafkaCluster& k) {
                          return With(k.ClientConfig(KafkaListener::kSaslSsl, "PLAIN"),
                                      "sasl.password", "wrong");
                        },
                    .errors = {RD_KAFKA_RESP_ERR__AUTHENTICATION}},
        RefusedCase{.name = "UnknownUserScramSha512",
                    .config =
                        [](const KafkaCluster& k) {
                          return With(
                              k.ClientConfig(KafkaListener::kSaslPlaintext, "SCRAM-SHA-512"),
                              "sasl.username", "nobody");
                        },
                    .errors = {RD_KAFKA_RESP_ERR__AUTHENTICATION}},
        RefusedCase{.name = "UnknownCa",
                    .config =
                        [](const KafkaCluster& k) {
                          return With(k.ClientConfig(KafkaListener::kSsl), "ssl.ca.location",
                                      OtherCa(k).string());
                        },
                    .errors = {RD_KAFKA_RESP_ERR__SSL}},
        // TLS 1.3: the client finishes its handshake before the broker
        // checks the certificate, so it sees the broker's alert as a
        // failed receive.
        RefusedCase{.name = "MutualTlsWithoutClientCertificate",
                    .config =
                        [](const KafkaCluster& k) {
                          return Without(Without(k.ClientConfig(KafkaListener::kMutualTls),
                                                 "ssl.certificate.location"),
                                         "ssl.key.location");
                        },
                    .errors = {RD_KAFKA_RESP_ERR__SSL, RD_KAFKA_RESP_ERR__TRANSPORT}}),
    [](const ::testing::TestParamInfo<RefusedCase>& info) { return info.param.name; });

// Kafka's own kafka-consumer-groups --describe, run from the same jars,
// reads a group's committed offsets and lag.
TEST(ConsumerGroupCommand, DescribesAGroup) {
  KafkaCluster* kafka = SharedCluster();
  ASSERT_NE(kafka, nullptr);
  const std::string topic = Unique("topic"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 2, 3).ok());
  const std::string bootstrap = kafka->bootstrap(KafkaListener::kPlaintext);
  ASSERT_TRUE(ProduceCounts(bootstrap, topic, {5, 3}).ok());
  ASSERT_TRUE(CommitOffsets(bootstrap, group, {{topic, 0, 2}, {topic, 1, 3}}).ok());

  const RunResult r = kafka->RunTool(kConsumerGroupCommand, {"--describe", "--group", group});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
  std::map<int, std::vector<std::string>> rows;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
    if (f.size() >= 6 && f[0] == group && f[1] == topic) rows[std::stoi(f[2])] = f;
  }
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(std::vector<std::string>(rows[0].begin() + 3, rows[0].begin() + 6),
            (std::vector<std::string>{"2", "5", "3"}))
      << r.out;
  EXPECT_EQ(std::vector<std::string>(rows[1].begin() + 3, rows[1].begin() + 6),
            (std::vector<std::string>{"3", "3", "0"}))
      << r.out;
}

// One of three brokers killed with SIGKILL: its partition's leadership
// moves and producing goes on; restarted on its storage, it rejoins and
// catches up (back in the in-sync replicas), and nothing was lost.
TEST(ThreeBrokers, SurviveSigkillAndRestart) {
  KafkaCluster* kafka = SharedCluster();
  ASSERT_NE(kafka, nullptr);
  const std::string topic = Unique("listed");
  ASSERT_TRUE(kafka->CreateTopic(topic, 1, 3).ok());
  const KafkaClientConfig config = kafka->ClientConfig(KafkaListener::kPlaintext);
  EXPECT_EQ(Produce(config, topic, Values("before", 20)).delivered, 20);

  const int32_t victim = LeaderOf(*kafka, 0, topic);
  ASSERT_GE(victim, 0);
  const int survivor = (victim + 1) % 3;
  const auto killed = SteadyClock::now();
  kafka->Stop(victim);
  EXPECT_EQ(Produce(config, topic, Values("during", 20)).delivered, 20);
  EXPECT_TRUE(WaitFor(
      [&] {
        const int32_t leader = LeaderOf(*kafka, survivor, topic);
        return leader >= 0 && leader != victim;
      },
      std::chrono::seconds(30)));
  std::cout << "produced on a new leader within " << SecondsSince(killed) << " s of the SIGKILL"
            << std::endl;

  const auto restart = SteadyClock::now();
  Status restarted = kafka->Restart(victim);
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  std::cout << "broker " << victim << " restarted in " << SecondsSince(restart) << " s"
            << std::endl;
  EXPECT_TRUE(WaitFor(
      [&] {
        std::vector<int32_t> isr;
        LeaderOf(*kafka, victim, topic, &isr);
        return std::find(isr.begin(), isr.end(), victim) != isr.end();
      },
      std::chrono::seconds(30)))
      << "broker " << victim << " did not rejoin the in-sync replicas";

  EXPECT_EQ(Produce(config, topic, Values("after", 20)).delivered, 20);
  const std::multiset<std::string> expected = AllValues({"before", "during", "after"}, 20);
  EXPECT_EQ(Consume(config, topic, Unique("group"), expected.size()).values, expected);
}

}  // namespace
}  // namespace groupscaler::testing
