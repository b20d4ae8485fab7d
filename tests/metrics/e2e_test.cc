// `groupscaler controller --metrics-bind-address` as the real binary: a
// kubeconfig pointing at the test API server over HTTP, librdkafka's mock
// cluster with a group whose offsets are committed at known values, and
// /metrics scraped over real HTTP, then linted by Debian's promtool.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "scrape.h"
#include "support/e2e.h"
#include "support/http_get.h"
#include "support/subprocess.h"

namespace groupscaler::metrics {
namespace {

using groupscaler::testing::Autoscaler;
using groupscaler::testing::Deployment;
using groupscaler::testing::kNamespace;
using groupscaler::testing::WaitFor;
using std::chrono::seconds;
using testing::CountSeries;
using testing::Value;

std::string AppSeries(const std::string& name) {
  return name + R"({group="app",name="app",namespace="payments"})";
}

using MetricsE2E = groupscaler::testing::EndToEndTest;

TEST_F(MetricsE2E, LiveScrapeHasTheLagAndReplicasAndPassesPromtool) {
  Topic("orders", 6, "app", 5);
  // Lag per partition: end - committed 5 = 5, 15, ..., 55; total 180.
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {10, 20, 30, 40, 50, 60})
                  .ok());
  Put("deployments", Deployment("app", 1));
  Put("consumergroupautoscalers",
      Autoscaler("app", cluster_->bootstrap_servers(), {{"maxReplicas", 6}}));
  // Nobody listens on port 1: Kafka unreachable, replicas held.
  Put("deployments", Deployment("dead", 2));
  Put("consumergroupautoscalers", Autoscaler("dead", "127.0.0.1:1", {{"maxReplicas", 6}}));

  groupscaler::testing::Subprocess* child =
      StartBinary("t", {"--metrics-bind-address", "127.0.0.1:0", "--metrics-partition-lag",
                        "--health-probe-bind-address", "0", "--log-format", "text"});
  ASSERT_NE(child, nullptr);
  const int port = groupscaler::testing::PortInLog(*child, "serving /metrics", seconds(5));
  ASSERT_GT(port, 0) << child->log();
  // ceil(180 / 100) = 2 replicas; the series settle once the scale is seen.
  std::string text;
  const bool settled = WaitFor(
      [&] {
        text = testing::HttpGet(port, "/metrics").body;
        return Value(text, AppSeries("groupscaler_current_replicas")) == 2 &&
               Value(
                   text,
                   R"(groupscaler_kafka_reachable{group="dead",name="dead",namespace="payments"})") ==
                   0 &&
               Value(text, R"(groupscaler_kafka_requests_total{api="OffsetFetch"})") > 0 &&
               // Counted when the reconcile returns, after its autoscaler series.
               Value(text, R"(groupscaler_reconciles_total{result="hold"})") > 0;
      },
      seconds(30));
  ASSERT_TRUE(settled) << text << child->log();

  struct Want {
    std::string series;
    double value;
  };
  for (
      const Want& w : std::vector<Want>{
          {AppSeries("groupscaler_consumer_group_lag_messages"), 180},
          {R"(groupscaler_topic_lag_messages{group="app",name="app",namespace="payments",topic="orders"})",
           180},
          {R"(groupscaler_partition_lag_messages{group="app",name="app",namespace="payments",partition="0",topic="orders"})",
           5},
          {R"(groupscaler_partition_lag_messages{group="app",name="app",namespace="payments",partition="5",topic="orders"})",
           55},
          {AppSeries("groupscaler_partitions"), 6},
          {AppSeries("groupscaler_replica_ceiling"), 6},
          {AppSeries("groupscaler_desired_replicas"), 2},
          {AppSeries("groupscaler_at_partition_ceiling"), 0},
          {AppSeries("groupscaler_idle_members"), 0},
          {AppSeries("groupscaler_kafka_reachable"), 1},
          {R"(groupscaler_scale_events_total{direction="up",group="app",name="app",namespace="payments"})",
           1},
          {R"(groupscaler_scale_events_total{direction="down",group="app",name="app",namespace="payments"})",
           0},
          {R"(groupscaler_spec_valid{name="app",namespace="payments"})", 1},
          {R"(groupscaler_spec_valid{name="dead",namespace="payments"})", 1},
          {R"(groupscaler_current_replicas{group="dead",name="dead",namespace="payments"})", 2},
          {"groupscaler_leader", 1},
      }) {
    EXPECT_EQ(Value(text, w.series), w.value) << w.series << "\n" << text;
  }
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 6);
  // Unknown lag is absent, never 0.
  EXPECT_EQ(
      Value(
          text,
          R"(groupscaler_consumer_group_lag_messages{group="dead",name="dead",namespace="payments"})"),
      std::nullopt);
  EXPECT_GT(Value(text, R"(groupscaler_reconciles_total{result="success"})").value_or(0), 0);
  EXPECT_GT(Value(text, R"(groupscaler_reconciles_total{result="hold"})").value_or(0), 0);
  EXPECT_GT(Value(text, "groupscaler_reconcile_duration_seconds_count").value_or(0), 0);
  EXPECT_GT(Value(text, "groupscaler_workqueue_queue_duration_seconds_count").value_or(0), 0);
  EXPECT_TRUE(Value(text, "groupscaler_workqueue_depth").has_value());
  EXPECT_GE(Value(text, "groupscaler_workers").value_or(0), 2) << "the initial workers";
  const double unreachable =
      Value(text, R"(groupscaler_kafka_errors_total{kind="unreachable"})").value_or(0) +
      Value(text, R"(groupscaler_kafka_errors_total{kind="timeout"})").value_or(0);
  EXPECT_GT(unreachable, 0) << text;
  EXPECT_GT(Value(text, R"(groupscaler_kafka_requests_total{api="ListOffsets"})").value_or(0), 0);
  EXPECT_GT(
      Value(text, R"(groupscaler_kube_api_requests_total{code="200",verb="LIST"})").value_or(0), 0);
  const double patches =
      Value(text, R"(groupscaler_kube_api_requests_total{code="200",verb="PATCH"})").value_or(0);
  EXPECT_GT(patches, 0);
  EXPECT_LE(patches, server_->CountRequests("PATCH", "/")) << "counted by the server too";
  EXPECT_GT(Value(text, AppSeries("groupscaler_last_observation_timestamp_seconds")).value_or(0),
            1.7e9);

  // The version of --version.
  const groupscaler::testing::RunResult version =
      groupscaler::testing::RunProcess({GROUPSCALER_BINARY, "--version"}, seconds(10));
  ASSERT_EQ(version.exit_code, 0);
  std::string v = version.out.substr(version.out.find(' ') + 1);
  v.erase(v.find_last_not_of("\n") + 1);
  EXPECT_EQ(Value(text, R"(groupscaler_build_info{version=")" + v + "\"}"), 1) << text;

  // Debian's promtool lints the live scrape and finds nothing.
  const groupscaler::testing::RunResult lint =
      testing::PromtoolCheck(testing::HttpGet(port, "/metrics").body);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(lint.out + lint.err, "");

  // A deleted autoscaler's series go.
  ASSERT_TRUE(
      server_->Delete("groupscaler.io/v1alpha1", "consumergroupautoscalers", kNamespace, "app")
          .ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        text = testing::HttpGet(port, "/metrics").body;
        return text.find(R"(name="app")") == std::string::npos &&
               text.find(R"(name="dead")") != std::string::npos;
      },
      seconds(10)))
      << text;

  // Stopping the metrics server is part of the 5 s a pod gets to stop
  // (stretched under sanitizers: an ASan build took 5.1 s on a loaded machine).
  const auto term = std::chrono::steady_clock::now();
  child->Signal(SIGTERM);
  EXPECT_EQ(child->Wait(groupscaler::testing::Stretched(seconds(5))), 0) << child->log();
  EXPECT_LT(std::chrono::steady_clock::now() - term, groupscaler::testing::Stretched(seconds(5)));
}

TEST(MetricsCommand, BadMetricsAddressExitsTwoWithOneLine) {
  // A port in use.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  for (const std::string& address : {std::string("nonsense"), std::string(":99999"), busy}) {
    SCOPED_TRACE(address);
    const groupscaler::testing::RunResult r = groupscaler::testing::RunProcess(
        {GROUPSCALER_BINARY, "controller", "--metrics-bind-address", address}, seconds(10));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr(address));
  }
  ::close(fd);
}

}  // namespace
}  // namespace groupscaler::metrics
