// LagReader::ListGroups over the real protocol, against librdkafka 2.0.2's
// mock cluster. The mock does not serve ListGroups: what is shown here is
// that the reader says so (UNIMPLEMENTED) within the deadline, asks once and
// never again, keeps observing, and is destroyed at once; that a cluster
// that cannot be reached is an error within the deadline, not remembered;
// and that a slow listing does not hold up the cluster's cycles.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "kafka/rdkafka_lag_reader.h"
#include "support/mock_cluster.h"

// Named, so that its helpers do not clash with lag_reader_test.cc's in a unity build.
namespace groupscaler::kafka::list_groups_test {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// Groups named per instance (g-0, g-1) and the shared one (g), each with
// commits on "six": what a listing would show where the brokers list groups.
struct World {
  std::unique_ptr<testing::MockCluster> cluster;
  ClusterConfig config;
};

World StartWorld() {
  World w;
  auto cluster = testing::MockCluster::Start(3);
  EXPECT_TRUE(cluster.ok()) << cluster.status().ToString();
  w.cluster = std::move(cluster).value();
  EXPECT_TRUE(w.cluster->CreateTopics({{"six", 6}, {"one", 1}}).ok());
  const std::string bootstrap = w.cluster->bootstrap_servers();
  EXPECT_TRUE(testing::ProduceCounts(bootstrap, {{"six", {5, 5, 5, 5, 5, 5}}, {"one", {4}}}).ok());
  for (const char* group : {"g", "g-0", "g-1"}) {
    EXPECT_TRUE(testing::CommitOffsets(bootstrap, group, {{"six", 0, 3}, {"six", 4, 5}}).ok());
  }
  std::stringstream in(bootstrap);
  for (std::string s; std::getline(in, s, ',');) w.config.bootstrap_servers.push_back(s);
  return w;
}

std::unique_ptr<LagReader> NewReader(const World& w, ReaderOptions options = {}) {
  // Brokers come back within the tests' deadlines.
  options.extra_properties = {{"reconnect.backoff.max.ms", "200"}};
  auto reader = NewRdKafkaLagReader(w.config, options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return std::move(reader).value();
}

milliseconds Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
}

// Captures spdlog's lines while alive.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)));
    spdlog::set_level(spdlog::level::info);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  int Count(const std::string& text) {
    spdlog::default_logger()->flush();
    const std::string all = out_.str();
    int n = 0;
    for (size_t at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
    return n;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(ListGroups, MockSaysUnsupportedOnceWithinTheDeadlineThenObservesAndCloses) {
  World w = StartWorld();
  CapturedLog log;
  std::unique_ptr<LagReader> reader = NewReader(w);

  const milliseconds timeout(2000);
  auto start = SteadyClock::now();
  StatusOr<std::vector<std::string>> listed = reader->ListGroups(timeout);
  const milliseconds first = Since(start);
  ASSERT_FALSE(listed.ok()) << "the mock listed groups: time for an end-to-end test";
  EXPECT_EQ(listed.status().code(), StatusCode::kUnimplemented) << listed.status().ToString();
  EXPECT_THAT(listed.status().message(), HasSubstr("do not list consumer groups"));
  EXPECT_LT(first, timeout);
  EXPECT_EQ(reader->ListGroups(timeout).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(log.Count("brokers do not list groups"), 1);

  // Remembered: with every broker down, a question would wait for its
  // deadline; the answer comes at once.
  for (int32_t b = 1; b <= 3; ++b) ASSERT_TRUE(w.cluster->SetBrokerDown(b).ok());
  start = SteadyClock::now();
  EXPECT_EQ(reader->ListGroups(timeout).status().code(), StatusCode::kUnimplemented);
  EXPECT_LT(Since(start), milliseconds(100));
  for (int32_t b = 1; b <= 3; ++b) ASSERT_TRUE(w.cluster->SetBrokerUp(b).ok());

  // The handle that was asked still observes exactly.
  StatusOr<std::vector<GroupObservation>> observed = reader->Observe(
      {{.group_id = "g-0", .topics = {"six"}}, {.group_id = "g-1", .topics = {"six"}}},
      milliseconds(5000));
  ASSERT_TRUE(observed.ok()) << observed.status().ToString();
  for (const GroupObservation& g : *observed) {
    ASSERT_FALSE(g.observation.failed) << g.observation.error;
    ASSERT_EQ(g.observation.partitions.size(), 6u);
    EXPECT_EQ(g.observation.partitions[0].committed_offset, 3);
    EXPECT_EQ(g.observation.partitions[4].committed_offset, 5);
    EXPECT_FALSE(g.observation.partitions[1].committed_offset.has_value());
    EXPECT_EQ(g.observation.partitions[1].log_end_offset, 5);
  }

  // Destroyed promptly (DescribeConsumerGroups against the mock wedges a
  // handle's destroy; ListConsumerGroups does not), but for about a second:
  // librdkafka 2.8.0 takes one to destroy a handle whose ListConsumerGroups
  // was refused as unsupported (the same with the C API alone), as it does
  // the handle that counted the records after the commits, destroyed beside
  // it (one after the other took 2 s, and 2.01 s on a loaded machine).
  start = SteadyClock::now();
  reader.reset();
  EXPECT_LT(Since(start), milliseconds(2000));
}

TEST(ListGroups, UnreachableClusterFailsWithinTheDeadlineAndIsAskedAgain) {
  World w = StartWorld();
  std::unique_ptr<LagReader> reader = NewReader(w);
  for (int32_t b = 1; b <= 3; ++b) ASSERT_TRUE(w.cluster->SetBrokerDown(b).ok());

  const milliseconds timeout(1500);
  const auto start = SteadyClock::now();
  StatusOr<std::vector<std::string>> listed = reader->ListGroups(timeout);
  EXPECT_LT(Since(start), timeout + milliseconds(500));
  ASSERT_FALSE(listed.ok());
  EXPECT_THAT(listed.status().code(),
              AnyOf(StatusCode::kDeadlineExceeded, StatusCode::kUnavailable));

  // Not taken for "unsupported": asked again once the brokers are back.
  for (int32_t b = 1; b <= 3; ++b) ASSERT_TRUE(w.cluster->SetBrokerUp(b).ok());
  EXPECT_EQ(reader->ListGroups(milliseconds(5000)).status().code(), StatusCode::kUnimplemented);
}

// A listing that waits for a broker that is down (up to its deadline) runs
// beside the cluster's cycles, not in front of them.
TEST(ListGroups, SlowListingDoesNotHoldUpObserve) {
  World w = StartWorld();
  // Everything "one" and group "g" need lives on broker 1.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(w.cluster->raw(), "one", 0, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_coordinator_set(w.cluster->raw(), "group", "g", 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  // Down before the reader connects: set down later, a connection the
  // reader already had could carry the listing's request before the mock
  // closed it, and the listing failed at once instead of waiting.
  ASSERT_TRUE(w.cluster->SetBrokerDown(3).ok());
  std::unique_ptr<LagReader> reader = NewReader(w);
  ASSERT_TRUE(reader->Observe({{.group_id = "g", .topics = {"one"}}}, milliseconds(5000)).ok());

  const milliseconds list_timeout(2000);
  std::atomic<bool> listing{false};
  milliseconds list_took{0};
  std::thread lister([&] {
    const auto start = SteadyClock::now();
    listing = true;
    (void)reader->ListGroups(list_timeout);
    list_took = Since(start);
  });
  while (!listing) std::this_thread::yield();
  const auto start = SteadyClock::now();
  StatusOr<std::vector<GroupObservation>> observed =
      reader->Observe({{.group_id = "g", .topics = {"one"}}}, milliseconds(5000));
  const milliseconds observe_took = Since(start);
  lister.join();

  ASSERT_TRUE(observed.ok()) << observed.status().ToString();
  EXPECT_FALSE((*observed)[0].observation.failed) << (*observed)[0].observation.error;
  EXPECT_EQ((*observed)[0].observation.partitions[0].log_end_offset, 4);
  EXPECT_GT(list_took, milliseconds(1000)) << "the listing did not wait for broker 3";
  EXPECT_LT(list_took, list_timeout + milliseconds(500));
  EXPECT_LT(observe_took, milliseconds(1000));
}

}  // namespace
}  // namespace groupscaler::kafka::list_groups_test
