// `groupscaler lag`, run as the real binary against librdkafka's mock cluster
// started in this process: output formats, exit codes, error lines.

#include <chrono>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;

class LagCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::MockCluster::Start(3);
    ASSERT_TRUE(cluster.ok());
    cluster_ = std::move(cluster).value();
    ASSERT_TRUE(cluster_->CreateTopics({{"orders", 3}, {"audit", 1}}).ok());
    ASSERT_TRUE(testing::ProduceCounts(cluster_->bootstrap_servers(),
                                       {{"orders", {10, 0, 7}}, {"audit", {4}}})
                    .ok());
    ASSERT_TRUE(testing::CommitOffsets(cluster_->bootstrap_servers(), "billing",
                                       {{"orders", 0, 4}, {"orders", 2, 9}, {"audit", 0, 1}})
                    .ok());
  }

  RunResult Lag(std::vector<std::string> args) {
    args.insert(args.begin(), {GROUPSCALER_PATH, "lag"});
    return testing::RunProcess(args, milliseconds(20'000));
  }

  std::vector<std::string> Base() {
    return {"--bootstrap-servers", cluster_->bootstrap_servers(), "--group", "billing"};
  }

  std::unique_ptr<testing::MockCluster> cluster_;
};

TEST_F(LagCommandTest, JsonHasExactlyTheDocumentedShapeAndValues) {
  auto args = Base();
  args.insert(args.end(), {"--topic", "orders", "--topic", "audit", "--output", "json"});
  RunResult r = Lag(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // committed 4 of 10; none of 0 (latest: 0); 9 beyond the end of 7 (0); audit 1 of 4.
  const auto expected = nlohmann::ordered_json::parse(R"({
    "group": "billing", "totalLag": 9, "partitions": 4, "ceiling": 4,
    "topics": [
      {"topic": "audit", "partitions": [
        {"partition": 0, "logStartOffset": 0, "logEndOffset": 4, "committedOffset": 1, "lag": 3}]},
      {"topic": "orders", "partitions": [
        {"partition": 0, "logStartOffset": 0, "logEndOffset": 10, "committedOffset": 4, "lag": 6},
        {"partition": 1, "logStartOffset": 0, "logEndOffset": 0, "committedOffset": null, "lag": 0},
        {"partition": 2, "logStartOffset": 0, "logEndOffset": 7, "committedOffset": 9, "lag": 0}]}
    ],
    "groupState": null, "members": null,
    "membersUnknown": "the broker does not describe groups"})");
  EXPECT_EQ(nlohmann::ordered_json::parse(r.out), expected) << r.out;
}

TEST_F(LagCommandTest, TableHasOneRowPerPartitionThenTotals) {
  auto args = Base();
  args.insert(args.end(), {"--topic", "orders"});
  RunResult r = Lag(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("TOPIC +PARTITION +LOG-START +LOG-END +COMMITTED +LAG"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("orders +0 +0 +10 +4 +6\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("orders +1 +0 +0 +- +0\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("orders +2 +0 +7 +9 +0\n"));
  EXPECT_THAT(r.out, HasSubstr("total lag: 6\n"));
  EXPECT_THAT(r.out, HasSubstr("partitions: 3\n"));
  EXPECT_THAT(r.out, HasSubstr("ceiling: 3 replicas"));
  EXPECT_THAT(r.out, HasSubstr("members unknown (the broker does not describe groups)"));
  EXPECT_THAT(r.out, HasSubstr("policy with default settings"));
}

TEST_F(LagCommandTest, MermaidDrawsTopicToPartitions) {
  auto args = Base();
  args.insert(args.end(), {"--topic", "orders", "--output", "mermaid"});
  RunResult r = Lag(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("flowchart LR\n"));
  EXPECT_THAT(r.out, HasSubstr("group --> t0\n"));
  EXPECT_THAT(r.out, HasSubstr("t0 --> t0p0[\"orders/0 lag 6\"]"));
  EXPECT_THAT(r.out, HasSubstr("t0 --> t0p2[\"orders/2 lag 0\"]"));
  EXPECT_THAT(r.out, HasSubstr("members unknown"));
}

struct ErrorCase {
  std::string name;
  std::vector<std::string> args;  // after "lag"; "{bootstrap}" is replaced
  int exit_code;
  std::string message;  // stderr must contain it
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class LagCommandErrorTest : public LagCommandTest,
                            public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(LagCommandErrorTest, OneLineOnStderrAndTheExitCode) {
  const ErrorCase& c = GetParam();
  std::vector<std::string> args = c.args;
  for (std::string& a : args) {
    if (a == "{bootstrap}") a = cluster_->bootstrap_servers();
    if (a == "{bad-auth}") {
      a = ::testing::TempDir() + "/bad-auth.properties";
      std::ofstream(a) << "sasl=plain\nusername=u\npasword=Hunter2-Secret\n";
    }
  }
  const auto start = std::chrono::steady_clock::now();
  RunResult r = Lag(args);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(10'000));
  EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
  EXPECT_THAT(r.err, HasSubstr(c.message));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("Hunter2-Secret")));
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Kafka, LagCommandErrorTest,
    ::testing::Values(
        ErrorCase{"missing_topic_names_it",
                  {"--bootstrap-servers", "{bootstrap}", "--group", "billing", "--topic", "orders",
                   "--topic", "nope"},
                  1,
                  "topic nope does not exist"},
        ErrorCase{"unreachable_names_the_broker",
                  {"--bootstrap-servers", "127.0.0.1:1", "--group", "billing", "--topic", "orders",
                   "--timeout-ms", "1500"},
                  1,
                  "127.0.0.1:1"},
        ErrorCase{"no_topic_where_the_broker_cannot_list",
                  {"--bootstrap-servers", "{bootstrap}", "--group", "billing"},
                  2,
                  "--topic"},
        ErrorCase{"missing_group", {"--bootstrap-servers", "{bootstrap}"}, 2, "--group"},
        ErrorCase{"bad_output",
                  {"--bootstrap-servers", "{bootstrap}", "--group", "g", "--output", "xml"},
                  2,
                  "--output"},
        ErrorCase{"unknown_auth_key_named_secret_hidden",
                  {"--bootstrap-servers", "{bootstrap}", "--group", "g", "--topic", "orders",
                   "--auth-file", "{bad-auth}"},
                  2,
                  "\"pasword\""}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace groupscaler
