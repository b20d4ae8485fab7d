// Faults on three real Kafka brokers, seen through groupscaler's own
// reader: the long-lived RdKafkaLagReader the controller keeps per cluster,
// driven through LagReader, and `groupscaler lag` as a subprocess. A group
// with real lag on a topic replicated three times; one broker killed with
// SIGKILL, then all of them, then all restarted. Whatever the brokers do,
// an observation is the exact lag, or an error, or flags what it could not
// read; never a smaller total passed off as the lag.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka/rdkafka_lag_reader.h"
#include "kafka_real/clients.h"
#include "policy/policy.h"
#include "support/kafka_broker.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler::testing {
namespace {

// The longest an answer may take with every broker down: the reader's 4 s
// deadline, and what it takes beyond (a handle's destroy, a process's start
// and exit), which stretches under the sanitizers.
const double kSlowestAnswer =
    4 + std::chrono::duration<double>(Stretched(std::chrono::seconds(3))).count();

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

KafkaCluster* kafka = nullptr;

// Three brokers, PLAINTEXT only.
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new KafkaClusterEnvironment("kafka_faults", {.brokers = 3, .listeners = {}}, &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }

constexpr milliseconds kCycle{4000};  // each observation's deadline

// What one observation cycle gave.
enum class Outcome { kExact, kHeld };

// Checks the invariant on one cycle's result and classifies it: an error,
// a failed observation or one with unreadable partitions holds (`why` says
// why, where given); anything else must be every partition at its exact
// lag.
Outcome Judge(const StatusOr<std::vector<kafka::GroupObservation>>& observed,
              const std::vector<int64_t>& truth, std::string* why = nullptr) {
  std::string ignored;
  if (why == nullptr) why = &ignored;
  if (!observed.ok()) {
    *why = observed.status().ToString();
    return Outcome::kHeld;
  }
  const policy::Observation& o = observed->front().observation;
  *why = o.error.empty() ? "partitions unread" : o.error;
  if (o.failed) return Outcome::kHeld;
  EXPECT_EQ(o.partitions.size(), truth.size()) << "a partition went missing unflagged";
  bool partial = false;
  for (const policy::PartitionObservation& p : o.partitions) {
    if (p.failed) {
      partial = true;
      continue;
    }
    const int64_t lag =
        policy::ComputePartitionLag(p, policy::OffsetResetPolicy::kLatest, std::nullopt).lag;
    EXPECT_EQ(lag, truth.at(static_cast<size_t>(p.partition))) << "partition " << p.partition;
  }
  return partial || o.partitions.size() != truth.size() ? Outcome::kHeld : Outcome::kExact;
}

// Observes with `reader` until a cycle is exact (each judged), up to
// `timeout`; how long that took, or -1 (and a failure saying why the last
// cycle held).
double UntilExact(kafka::LagReader& reader, const kafka::GroupQuery& query,
                  const std::vector<int64_t>& truth, milliseconds timeout) {
  const auto start = SteadyClock::now();
  std::string why;
  const bool exact = WaitFor(
      [&] { return Judge(reader.Observe({query}, kCycle), truth, &why) == Outcome::kExact; },
      timeout);
  EXPECT_TRUE(exact) << "no exact observation within " << timeout.count() << " ms: " << why;
  return exact ? SecondsSince(start) : -1;
}

RunResult Lag(const std::string& group, const std::string& topic, milliseconds timeout) {
  return RunProcess(
      {GROUPSCALER_PATH, "lag", "--bootstrap-servers", Plaintext(), "--group", group, "--topic",
       topic, "--output", "json", "--timeout-ms", std::to_string(timeout.count())},
      timeout + milliseconds(30'000));
}

// `groupscaler lag` either reads the exact total or fails in one line.
void ExpectExactOrOneLine(const RunResult& r, int64_t total) {
  if (r.exit_code == 0) {
    EXPECT_EQ(json::parse(r.out)["totalLag"], total) << r.out;
  } else {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(RealKafkaFaults, OneBrokerKilledAllDownAndBackTheSameReaderNeverReadsLowLag) {
  const std::string topic = Unique("faults"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 6, 3).ok());
  const std::vector<int64_t> produced = {10, 20, 30, 40, 50, 60};
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, produced).ok());
  std::vector<Commit> commits;
  std::vector<int64_t> truth;
  int64_t total = 0;
  for (int32_t p = 0; p < 6; ++p) {
    commits.push_back({topic, p, produced[p] / 2});
    truth.push_back(produced[p] - produced[p] / 2);
    total += truth.back();
  }
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, commits).ok());

  // The controller's reader: one per cluster, kept for its lifetime.
  auto reader = kafka::NewRdKafkaLagReader(
      {.bootstrap_servers = {kafka->address(0, KafkaListener::kPlaintext),
                             kafka->address(1, KafkaListener::kPlaintext),
                             kafka->address(2, KafkaListener::kPlaintext)}});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const kafka::GroupQuery query{group, {topic}};
  ASSERT_EQ(Judge((*reader)->Observe({query}, kCycle), truth), Outcome::kExact);

  {
    SCOPED_TRACE("one broker killed");
    kafka->Stop(0);
    ExpectExactOrOneLine(Lag(group, topic, kCycle), total);
    const double recovered = UntilExact(**reader, query, truth, milliseconds(60'000));
    std::printf("one broker down: exact again after %.1f s\n", recovered);
    const RunResult r = Lag(group, topic, kCycle);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["totalLag"], total);
  }
  {
    SCOPED_TRACE("all brokers down");
    kafka->Stop(1);
    kafka->Stop(2);
    auto start = SteadyClock::now();
    StatusOr<std::vector<kafka::GroupObservation>> observed = (*reader)->Observe({query}, kCycle);
    const double took = SecondsSince(start);
    EXPECT_LT(took, kSlowestAnswer);
    EXPECT_EQ(Judge(observed, truth), Outcome::kHeld);
    std::printf("all brokers down: the reader answered in %.1f s: %s\n", took,
                observed.ok() ? observed->front().observation.error.c_str()
                              : observed.status().ToString().c_str());
    start = SteadyClock::now();
    const RunResult r = Lag(group, topic, kCycle);
    EXPECT_LT(SecondsSince(start), kSlowestAnswer);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    std::printf("all brokers down: groupscaler lag: %s", r.err.c_str());
  }
  {
    SCOPED_TRACE("all brokers restarted");
    ASSERT_TRUE(kafka->Restart({0, 1, 2}).ok());
    const double recovered = UntilExact(**reader, query, truth, milliseconds(60'000));
    std::printf("brokers back: the same reader exact after %.1f s\n", recovered);
  }
}

}  // namespace
}  // namespace groupscaler::testing
