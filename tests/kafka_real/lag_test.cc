// `groupscaler lag`, the real binary, against one real Kafka broker: its
// figures equal the truth the test wrote and what Kafka's own
// kafka-consumer-groups --describe says; several topics, a topic that does
// not exist, partitions added while watched, records deleted past the
// commit; and every way to authenticate through --auth-file, with one clear
// line when it fails.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka_real/clients.h"
#include "kafka_real/lag_cli.h"
#include "support/kafka_broker.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"
#include "support/timing.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

// One broker for the whole binary, with every listener.
KafkaCluster* kafka = nullptr;
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new KafkaClusterEnvironment("kafka_lag", {.brokers = 1}, &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }

// `groupscaler lag --output json` of `group` on the PLAINTEXT listener, with
// `flags`.
json LagJson(const std::string& group, const std::vector<std::string>& topics,
             const std::vector<std::string>& flags = {}) {
  return LagJsonOf(Plaintext(), group, topics, flags);
}

std::map<std::pair<std::string, int>, ToolRow> Describe(const std::string& group) {
  return DescribeOffsets(*kafka, group);
}

TEST(RealKafkaLag, EqualsTheTruthAndKafkasOwnToolOverSeveralTopics) {
  const std::string orders = Unique("orders"), audit = Unique("audit"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(orders, 3, 1).ok());
  ASSERT_TRUE(kafka->CreateTopic(audit, 2, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), {{orders, {10, 0, 7}}, {audit, {5, 3}}}).ok());
  ASSERT_TRUE(CommitOffsets(Plaintext(), group,
                            {{orders, 0, 4}, {orders, 2, 7}, {audit, 0, 5}, {audit, 1, 1}})
                  .ok());

  const json lag = LagJson(group, {orders, audit});
  // 10 - 4, nothing committed (latest: 0), 7 - 7, 5 - 5, 3 - 1.
  EXPECT_EQ(lag["totalLag"], 8) << lag.dump(1);
  EXPECT_EQ(lag["partitions"], 5);
  EXPECT_EQ(lag["ceiling"], 5);
  const auto ours = ByPartition(lag);
  EXPECT_EQ(ours.at({orders, 0})["lag"], 6);
  EXPECT_EQ(ours.at({orders, 1})["committedOffset"], nullptr);
  EXPECT_EQ(ours.at({audit, 1})["lag"], 2);

  // Kafka's own tool agrees on every committed partition: the same log end,
  // committed offset and lag.
  const auto tool = Describe(group);
  int64_t tool_total = 0;
  for (const auto& [key, row] : tool) {
    SCOPED_TRACE(key.first + "/" + std::to_string(key.second));
    ASSERT_TRUE(ours.contains(key));
    const json& p = ours.at(key);
    EXPECT_EQ(row.log_end, std::to_string(p["logEndOffset"].get<int64_t>()));
    if (row.committed == "-") {
      EXPECT_EQ(p["committedOffset"], nullptr);
      continue;
    }
    EXPECT_EQ(row.committed, std::to_string(p["committedOffset"].get<int64_t>()));
    EXPECT_EQ(row.lag, std::to_string(p["lag"].get<int64_t>()));
    tool_total += std::stoll(row.lag);
  }
  EXPECT_EQ(tool_total, 8);

  // Without --topic: the topics the group committed offsets for, from the
  // broker (OffsetFetch for every topic), with the same figures.
  const json found = LagJson(group, {});
  EXPECT_EQ(found["totalLag"], 8) << found.dump(1);
  std::set<std::string> topics;
  for (const json& t : found["topics"]) topics.insert(t["topic"]);
  EXPECT_EQ(topics, (std::set<std::string>{orders, audit}));
}

TEST(RealKafkaLag, ATopicThatDoesNotExistIsOneLineNamingIt) {
  const std::string missing = Unique("missing");
  const RunResult r = Lag({"--bootstrap-servers", Plaintext(), "--group", Unique("group"),
                           "--topic", missing, "--timeout-ms", "5000"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr(missing));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(RealKafkaLag, PartitionsAddedWhileWatchedRaiseTheCeiling) {
  const std::string topic = Unique("growing"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 2, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {3, 3}).ok());
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, {{topic, 0, 1}, {topic, 1, 1}}).ok());
  json lag = LagJson(group, {topic});
  EXPECT_EQ(lag["partitions"], 2);
  EXPECT_EQ(lag["ceiling"], 2);

  const RunResult alter =
      kafka->RunTool(kTopicCommand, {"--alter", "--topic", topic, "--partitions", "5"});
  ASSERT_EQ(alter.exit_code, 0) << alter.out << alter.err;
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {0, 0, 2, 2, 2}).ok());
  lag = LagJson(group, {topic});
  EXPECT_EQ(lag["partitions"], 5) << lag.dump(1);
  EXPECT_EQ(lag["ceiling"], 5);
  // The new partitions have no commit: latest counts them as no backlog.
  EXPECT_EQ(lag["totalLag"], 4);
}

// Records deleted past the committed offset (retention, or
// kafka-delete-records): the consumer's next fetch is out of range and it
// resumes where auto.offset.reset says, so --offset-reset decides, as for a
// partition without a commit. Kafka's tool counts from the commit.
TEST(RealKafkaLag, RecordsDeletedPastTheCommitCountAsTheOffsetResetSays) {
  const std::string topic = Unique("deleted"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 1, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {10}).ok());
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, {{topic, 0, 2}}).ok());
  const std::filesystem::path offsets = kafka->dir() / (topic + ".json");
  std::ofstream(offsets) << json{{"version", 1},
                                 {"partitions",
                                  {{{"topic", topic}, {"partition", 0}, {"offset", 6}}}}}
                                .dump();
  const RunResult deleted =
      kafka->RunTool(kDeleteRecordsCommand, {"--offset-json-file", offsets.string()});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;

  const json latest = LagJson(group, {topic});
  const json p = ByPartition(latest).at({topic, 0});
  EXPECT_EQ(p["logStartOffset"], 6) << latest.dump(1);
  EXPECT_EQ(p["committedOffset"], 2);
  EXPECT_EQ(p["lag"], 0);
  const json earliest = LagJson(group, {topic}, {"--offset-reset", "earliest"});
  EXPECT_EQ(ByPartition(earliest).at({topic, 0})["lag"], 4) << earliest.dump(1);
  EXPECT_EQ(Describe(group).at({topic, 0}).lag, "8");
}

// ---------------------------------------------------------------------------
// Authentication through --auth-file.

struct AuthCase {
  std::string name;
  KafkaListener listener;
  std::string sasl;  // "" for none; else the auth file's value
  std::string mechanism;
  bool tls = false;
  bool client_certificate = false;
};

void PrintTo(const AuthCase& c, std::ostream* os) { *os << c.name; }

std::filesystem::path WriteAuthFile(const std::string& name, const std::string& text) {
  const std::filesystem::path path = kafka->dir() / (Unique(name) + ".auth");
  std::ofstream(path) << text;
  return path;
}

std::string AuthText(const AuthCase& c, const std::string& password) {
  std::string text;
  if (!c.sasl.empty()) {
    text += "sasl=" + c.sasl + "\nusername=" + kafka->SaslUserFor(c.mechanism).username +
            "\npassword=" + password + "\n";
  }
  if (c.tls) text += "tls=enable\ncaFile=" + kafka->ca_path().string() + "\n";
  if (c.client_certificate) {
    text += "certFile=" + kafka->client_cert_path().string() +
            "\nkeyFile=" + kafka->client_key_path().string() + "\n";
  }
  return text;
}

class AuthTest : public ::testing::TestWithParam<AuthCase> {};

TEST_P(AuthTest, ConnectsAndReadsLag) {
  const AuthCase& c = GetParam();
  const std::string topic = Unique("auth"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 2, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {4, 6}).ok());
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, {{topic, 0, 1}, {topic, 1, 1}}).ok());
  const std::string password = c.sasl.empty() ? "" : kafka->SaslUserFor(c.mechanism).password;
  const RunResult r =
      Lag({"--bootstrap-servers", kafka->bootstrap(c.listener), "--group", group, "--topic", topic,
           "--auth-file", WriteAuthFile(c.name, AuthText(c, password)).string(), "--output", "json",
           "--timeout-ms", "8000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["totalLag"], 8);
}

INSTANTIATE_TEST_SUITE_P(
    Listeners, AuthTest,
    ::testing::Values(
        AuthCase{"PlainOverPlaintext", KafkaListener::kSaslPlaintext, "plain", "PLAIN"},
        AuthCase{"Scram256OverPlaintext", KafkaListener::kSaslPlaintext, "scram_sha256",
                 "SCRAM-SHA-256"},
        AuthCase{"Scram512OverPlaintext", KafkaListener::kSaslPlaintext, "scram_sha512",
                 "SCRAM-SHA-512"},
        AuthCase{"PlainOverTls", KafkaListener::kSaslSsl, "plain", "PLAIN", true},
        AuthCase{"Scram256OverTls", KafkaListener::kSaslSsl, "scram_sha256", "SCRAM-SHA-256", true},
        AuthCase{"Scram512OverTls", KafkaListener::kSaslSsl, "scram_sha512", "SCRAM-SHA-512", true},
        AuthCase{"TlsAlone", KafkaListener::kSsl, "", "", true},
        AuthCase{"MutualTls", KafkaListener::kMutualTls, "", "", true, true}),
    [](const auto& info) { return info.param.name; });

// A refused login ends within the deadline with one line naming the broker
// and the mechanism, and never the password.
TEST(RealKafkaAuth, WrongPasswordIsOneLineNamingBrokerAndMechanism) {
  const AuthCase c{"WrongPassword", KafkaListener::kSaslPlaintext, "plain", "PLAIN"};
  const std::string wrong = "not-the-password-4711";
  const auto start = SteadyClock::now();
  const RunResult r =
      Lag({"--bootstrap-servers", kafka->bootstrap(c.listener), "--group", Unique("group"),
           "--topic", "any", "--auth-file", WriteAuthFile(c.name, AuthText(c, wrong)).string(),
           "--timeout-ms", "5000"});
  EXPECT_LT(SecondsSince(start), 5 + 3 * groupscaler::testing::kSlowdown);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(kafka->address(0, c.listener)));
  EXPECT_THAT(r.err, HasSubstr("PLAIN"));
  EXPECT_THAT(r.err + r.out, Not(HasSubstr(wrong)));
}

// A broker whose certificate another CA signed is refused the same way.
TEST(RealKafkaAuth, UnknownCaIsOneLineNamingTheBroker) {
  auto other = MakeTestPki();
  ASSERT_TRUE(other.ok());
  const std::filesystem::path ca = kafka->dir() / (Unique("other") + "-ca.crt");
  std::ofstream(ca) << other->ca_pem;
  const auto start = SteadyClock::now();
  const RunResult r =
      Lag({"--bootstrap-servers", kafka->bootstrap(KafkaListener::kSsl), "--group", Unique("group"),
           "--topic", "any", "--auth-file",
           WriteAuthFile("other-ca", "tls=enable\ncaFile=" + ca.string() + "\n").string(),
           "--timeout-ms", "5000"});
  EXPECT_LT(SecondsSince(start), 5 + 3 * groupscaler::testing::kSlowdown);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(kafka->address(0, KafkaListener::kSsl)));
  EXPECT_THAT(r.err, HasSubstr("certificate"));
}

// A broker reached by an address its certificate does not name (127.0.0.2;
// the certificate names 127.0.0.1 and localhost): hostname verification
// refuses it the same way, naming the broker and the security protocol.
TEST(RealKafkaAuth, CertificateForAnotherHostIsOneLineNamingTheBroker) {
  const std::string address = kafka->address(0, KafkaListener::kSslOtherHost);
  const auto start = SteadyClock::now();
  const RunResult r = Lag(
      {"--bootstrap-servers", address, "--group", Unique("group"), "--topic", "any", "--auth-file",
       WriteAuthFile("other-host", "tls=enable\ncaFile=" + kafka->ca_path().string() + "\n")
           .string(),
       "--timeout-ms", "5000"});
  EXPECT_LT(SecondsSince(start), 5 + 3 * groupscaler::testing::kSlowdown);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(address));
  EXPECT_THAT(r.err, HasSubstr("SSL"));
  EXPECT_THAT(r.err, HasSubstr("certificate"));
}

}  // namespace
}  // namespace groupscaler::testing
