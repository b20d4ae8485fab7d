// `groupscaler demo --bootstrap-servers`, the real binary with real
// example_consumer processes, against one real Kafka broker: the rules
// summary holds, the demo's own topic and group are gone at the end (kept
// with --keep-topic), the producer, consumers and controller log in through
// --auth-file on a SASL listener, and bad input or an unreachable Kafka is
// one line and an exit code.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka_real/clients.h"
#include "support/kafka_broker.h"
#include "support/subprocess.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// One broker for the whole binary: PLAINTEXT, and SASL_PLAINTEXT for --auth-file.
KafkaCluster* kafka = nullptr;

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new KafkaClusterEnvironment(
    "kafka_demo", {.brokers = 1, .listeners = {KafkaListener::kSaslPlaintext}}, &kafka));

std::filesystem::path WriteFile(const std::string& name, const std::string& text) {
  const std::filesystem::path path = kafka->dir() / Unique(name);
  std::ofstream(path) << text;
  return path;
}

struct Demo {
  RunResult run;
  json summary;  // null when none was written
};

// Runs `groupscaler demo` with `flags` and the load profile `profile_rows`
// to its --duration.
Demo RunDemo(const std::vector<std::string>& flags, const std::string& profile_rows) {
  const std::filesystem::path summary = kafka->dir() / Unique("summary.json");
  std::vector<std::string> argv = {
      GROUPSCALER_PATH,
      "demo",
      "--consumer-binary",
      EXAMPLE_CONSUMER_PATH,
      "--summary-json",
      summary.string(),
      "--profile",
      WriteFile("profile.csv", "time_seconds,produce_rate\n" + profile_rows).string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Demo demo{.run = RunProcess(argv, milliseconds(90'000))};
  std::ifstream file(summary);
  if (file) demo.summary = json::parse(file, nullptr, false);
  return demo;
}

// Kafka's own tools' lists: topics, consumer groups.
std::set<std::string> ToolList(const std::string& main_class) {
  const RunResult r = kafka->RunTool(main_class, {"--list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> names;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) names.insert(line);
  return names;
}

// Every rule held, every produced message was consumed, and by consumers
// that really ran: each partition had its owner.
void ExpectRulesHeldOnRealConsumption(const Demo& d, int partitions) {
  const json& s = d.summary;
  ASSERT_TRUE(s.is_object()) << d.run.out << d.run.err;
  for (const json& r : s["rules"]) EXPECT_TRUE(r["held"].get<bool>()) << r << "\n" << d.run.out;
  EXPECT_GT(s["produced"].get<int64_t>(), 0);
  EXPECT_EQ(s["consumed"], s["produced"]) << d.run.out;
  EXPECT_EQ(s["lost"], 0);
  std::set<int> owned;
  for (const auto& [replica, parts] : s["assignment"].items()) {
    for (int p : parts) owned.insert(p);
  }
  EXPECT_EQ(owned.size(), static_cast<size_t>(partitions)) << s["assignment"] << d.run.out;
}

bool HasEvent(const json& summary, const std::string& reason) {
  for (const json& e : summary["events"]) {
    if (e["reason"] == reason) return true;
  }
  return false;
}

TEST(RealKafkaDemo, RulesHoldAndItsTopicAndGroupAreGoneAtTheEnd) {
  const Demo d = RunDemo({"--bootstrap-servers", kafka->bootstrap(KafkaListener::kPlaintext),
                          "--duration", "22", "--partitions", "4", "--process-ms", "1",
                          "--initial-replicas", "1", "--min-replicas", "1", "--max-replicas", "4"},
                         "0,200\n2,1500\n6,0\n");
  ASSERT_EQ(d.run.exit_code, 0) << d.run.out << d.run.err;
  ExpectRulesHeldOnRealConsumption(d, 4);
  // The demo started once the broker served the new topic: the controller
  // observed it from its first poll.
  EXPECT_THAT(d.run.out, ::testing::Not(HasSubstr("ObservationFailed")));
  const json& s = d.summary;
  // The load asked for more than one replica and got them, up to the
  // partitions.
  EXPECT_TRUE(HasEvent(s, "ScaledUp")) << d.run.out;
  EXPECT_GT(s["maxReplicas"].get<int>(), 1);
  EXPECT_LE(s["maxReplicas"].get<int>(), 4);
  const std::string topic = s["topic"], group = s["groupId"];
  EXPECT_THAT(topic, MatchesRegex("groupscaler-demo-[0-9a-f]{8}"));
  EXPECT_EQ(group, topic + "-consumer");
  EXPECT_THAT(d.run.out, HasSubstr("removed topic " + topic + " and group(s) " + group));
  EXPECT_FALSE(ToolList(kTopicCommand).contains(topic));
  EXPECT_FALSE(ToolList(kConsumerGroupCommand).contains(group));
}

TEST(RealKafkaDemo, KeepTopicLeavesTopicAndGroupWithItsCommits) {
  const Demo d = RunDemo(
      {"--bootstrap-servers", kafka->bootstrap(KafkaListener::kPlaintext), "--duration", "10",
       "--partitions", "3", "--process-ms", "1", "--initial-replicas", "1", "--keep-topic"},
      "0,200\n4,0\n");
  ASSERT_EQ(d.run.exit_code, 0) << d.run.out << d.run.err;
  ExpectRulesHeldOnRealConsumption(d, 3);
  const std::string topic = d.summary["topic"], group = d.summary["groupId"];
  EXPECT_THAT(d.run.out, HasSubstr("kept topic " + topic));
  EXPECT_TRUE(ToolList(kTopicCommand).contains(topic));
  // The group's commits are there: everything consumed, lag 0 on each.
  const RunResult described =
      kafka->RunTool(kConsumerGroupCommand, {"--describe", "--group", group});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  std::istringstream lines(described.out);
  int partitions = 0;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string g, t, partition, committed, log_end, lag;
    if (!(fields >> g >> t >> partition >> committed >> log_end >> lag) || g != group) continue;
    EXPECT_EQ(t, topic);
    EXPECT_EQ(lag, "0") << line;
    ++partitions;
  }
  EXPECT_EQ(partitions, 3) << described.out;
}

TEST(RealKafkaDemo, ProducerConsumersAndControllerLogInThroughTheAuthFile) {
  const SaslUser& user = kafka->SaslUserFor("PLAIN");
  const std::filesystem::path auth = WriteFile(
      "plain.auth", "sasl=plain\nusername=" + user.username + "\npassword=" + user.password + "\n");
  const Demo d = RunDemo({"--bootstrap-servers", kafka->bootstrap(KafkaListener::kSaslPlaintext),
                          "--auth-file", auth.string(), "--duration", "10", "--partitions", "2",
                          "--process-ms", "1", "--initial-replicas", "1"},
                         "0,200\n4,0\n");
  ASSERT_EQ(d.run.exit_code, 0) << d.run.out << d.run.err;
  // Only logged-in clients reach this listener: the producer's messages,
  // the consumers' commits and the controller's lag readings.
  ExpectRulesHeldOnRealConsumption(d, 2);
  EXPECT_GT(d.summary["maxLag"].get<int64_t>(), 0) << d.run.out;
  EXPECT_THAT(d.run.out, HasSubstr("removed topic " + d.summary["topic"].get<std::string>()));
  EXPECT_THAT(d.run.out + d.run.err, ::testing::Not(HasSubstr(user.password)));
}

TEST(RealKafkaDemo, AWrongPasswordIsOneLineNamingTheBrokerWithinTheDeadline) {
  const std::filesystem::path auth =
      WriteFile("wrong.auth", "sasl=plain\nusername=" + kafka->SaslUserFor("PLAIN").username +
                                  "\npassword=not-the-password-4711\n");
  const auto start = SteadyClock::now();
  const Demo d = RunDemo({"--bootstrap-servers", kafka->bootstrap(KafkaListener::kSaslPlaintext),
                          "--auth-file", auth.string(), "--duration", "5"},
                         "0,10\n");
  EXPECT_LT(SecondsSince(start), 10 + 5);
  EXPECT_EQ(d.run.exit_code, 1);
  EXPECT_EQ(std::count(d.run.out.begin(), d.run.out.end(), '\n'), 1) << d.run.out;
  EXPECT_THAT(d.run.out, HasSubstr(kafka->address(0, KafkaListener::kSaslPlaintext)));
  EXPECT_THAT(d.run.out, HasSubstr("PLAIN"));
  EXPECT_THAT(d.run.out, ::testing::Not(HasSubstr("not-the-password-4711")));
}

TEST(RealKafkaDemo, AnUnreachableKafkaIsOneLineWithinTheDeadline) {
  const std::string nobody = "127.0.0.1:" + std::to_string(FreePort());
  const auto start = SteadyClock::now();
  const Demo d = RunDemo({"--bootstrap-servers", nobody, "--duration", "5"}, "0,10\n");
  EXPECT_LT(SecondsSince(start), 10 + 5);
  EXPECT_EQ(d.run.exit_code, 1);
  EXPECT_EQ(d.run.out, "groupscaler demo: cannot reach Kafka: kafka " + nobody +
                           ": metadata: _TRANSPORT (Local: Broker transport failure)\n");
}

struct UsageCase {
  std::string name;
  std::vector<std::string> flags;
  std::string message;
};

void PrintTo(const UsageCase& c, std::ostream* os) { *os << c.name; }

class DemoUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(DemoUsageTest, IsOneLineAndExitCode2) {
  const UsageCase& c = GetParam();
  std::vector<std::string> argv = {GROUPSCALER_PATH, "demo", "--consumer-binary",
                                   EXAMPLE_CONSUMER_PATH};
  argv.insert(argv.end(), c.flags.begin(), c.flags.end());
  const RunResult r = RunProcess(argv, milliseconds(10'000));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(r.err, "groupscaler demo: " + c.message + "\n");
}

INSTANTIATE_TEST_SUITE_P(
    Flags, DemoUsageTest,
    ::testing::Values(
        UsageCase{"KeepTopicAlone", {"--keep-topic"}, "--keep-topic needs --bootstrap-servers"},
        UsageCase{"AuthFileAlone",
                  {"--auth-file", "/etc/hostname"},
                  "--auth-file needs --bootstrap-servers"},
        UsageCase{"UnreadableAuthFile",
                  {"--bootstrap-servers", "127.0.0.1:9092", "--auth-file", "/nonexistent/auth"},
                  "auth file /nonexistent/auth: cannot read: No such file or directory"},
        UsageCase{"GroupOnAnExistingKafka",
                  {"--bootstrap-servers", "127.0.0.1:9092", "--group", "payments"},
                  "--group cannot be chosen with --bootstrap-servers: the demo makes its own "
                  "group and deletes it at the end"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace groupscaler::testing
