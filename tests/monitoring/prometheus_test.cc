// Debian's real Prometheus (/usr/bin/prometheus, loopback, scrape every 1 s)
// scrapes a running `groupscaler controller` (against the test Kubernetes API
// server and librdkafka's mock cluster) and loads the alert rules; every
// dashboard query and every alert expression must evaluate without error
// through the HTTP API and, except the few whose series need conditions this
// test does not create (kEvaluateOnly), return series. The families the
// controller exports must be those of metric_names.txt.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "monitoring/monitoring_files.h"
#include "support/e2e.h"
#include "support/http_get.h"
#include "support/subprocess.h"

namespace groupscaler::monitoring {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using testing::FreePort;
using testing::Subprocess;
using testing::WaitFor;

// Queries whose series exist only under conditions this test does not create;
// they must still evaluate without error.
const std::set<std::string> kEvaluateOnly = {
    // No idle members: the controller keeps replicas at or below the ceiling.
    "alert GroupscalerIdleMembers",
    // No stalled partition: the members commit.
    "alert GroupscalerPartitionsStalled",
    // No failing reconciles, and this single process is the leader.
    "alert GroupscalerReconcileErrors",
    "alert GroupscalerNoLeader",
    // Group members are known only where the broker describes the group;
    // the mock cluster serves no DescribeGroups.
    "panel \"Partitions and group members\" target B",
    // Every request to the test API server succeeds.
    "panel \"Kubernetes API errors\" target A",
};

using groupscaler::testing::HttpGet;

// The dashboard's Grafana variables as Grafana would fill them in with "All".
std::string Substitute(std::string expr) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"$__rate_interval", "1m"}, {"$namespace", ".*"}, {"$autoscaler", ".*"}}) {
    for (size_t at; (at = expr.find(from)) != std::string::npos;) expr.replace(at, from.size(), to);
  }
  return expr;
}

class PrometheusTest : public testing::EndToEndTest {
 protected:
  void SetUp() override {
    EndToEndTest::SetUp();
    if (HasFatalFailure()) return;
    Topic("orders", 6, "app");
    // "app" reads the mock cluster and scales up to its ceiling of 6
    // partitions; "offline" points at a port nothing listens on.
    for (const auto& [name, bootstrap] : std::vector<std::pair<std::string, std::string>>{
             {"app", cluster_->bootstrap_servers()}, {"offline", "127.0.0.1:1"}}) {
      Put("deployments", testing::Deployment(name, 1));
      Put("consumergroupautoscalers", testing::Autoscaler(name, bootstrap, {{"maxReplicas", 12}}));
    }
  }

  // Starts Prometheus scraping 127.0.0.1:metrics_port every second, with
  // the alert rules loaded; returns its HTTP port once ready, 0 on failure.
  int StartPrometheus(int metrics_port) {
    const std::string config = (dir_ / "prometheus.yml").string();
    std::ofstream(config) << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                          << "rule_files: ['" << kRulesFile << "']\n"
                          << "scrape_configs:\n  - job_name: groupscaler\n"
                          << "    static_configs: [{targets: ['127.0.0.1:" << metrics_port
                          << "']}]\n";
    const int port = FreePort();
    prometheus_ =
        StartProcess({"/usr/bin/prometheus", "--config.file=" + config,
                      "--storage.tsdb.path=" + (dir_ / "data").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                     "prometheus.log");
    if (prometheus_ == nullptr) return 0;
    return WaitFor([&] { return HttpGet(port, "/-/ready").code == 200; }, seconds(20)) ? port : 0;
  }

  Subprocess* prometheus_ = nullptr;
};

TEST_F(PrometheusTest, EveryDashboardQueryAndAlertExpressionReturnsSeries) {
  Subprocess* controller =
      StartBinary("t", {"--metrics-bind-address", "127.0.0.1:0", "--metrics-partition-lag",
                        "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "json"});
  ASSERT_NE(controller, nullptr);
  const int metrics_port = testing::PortInLog(*controller, "serving /metrics", seconds(10));
  ASSERT_GT(metrics_port, 0) << controller->log();
  // The time lag is known once the controller has seen the log end pass the
  // oldest unconsumed message: "app" is observed before the first message
  // (the sanitizers can delay the first reconcile by seconds).
  ASSERT_TRUE(WaitFor(
      [&] {
        return HttpGet(metrics_port, "/metrics")
                   .body.find(R"(groupscaler_last_observation_timestamp_seconds{group="app")") !=
               std::string::npos;
      },
      seconds(30)))
      << controller->log();
  const int port = StartPrometheus(metrics_port);
  ASSERT_GT(port, 0) << (prometheus_ == nullptr ? "" : prometheus_->log());

  std::vector<Query> queries = DashboardQueries(LoadDashboard());
  const std::vector<Query> alerts = AlertQueries(LoadRules());
  queries.insert(queries.end(), alerts.begin(), alerts.end());
  for (const std::string& where : kEvaluateOnly) {
    EXPECT_TRUE(std::any_of(queries.begin(), queries.end(),
                            [&](const Query& q) { return q.where == where; }))
        << "kEvaluateOnly names no query: " << where;
  }

  // Poll: the first scrape comes seconds after start, rates and derivatives
  // need two samples, and the lag keeps growing so that the lag alerts'
  // expressions hold (the "offline" autoscaler keeps Kafka unreachable).
  std::map<std::string, std::string> waiting;  // where -> last answer
  for (const Query& q : queries) waiting[q.where] = "never queried";
  std::map<std::string, std::string> errors;
  std::set<std::string> evaluated;
  // One pass asks up to every query, each with its own timeout: the deadline
  // also ends a pass, so that a slow Prometheus fails this test with its
  // answers before ctest's timeout kills it without them.
  const seconds kSeriesWait(45);
  const auto deadline = std::chrono::steady_clock::now() + testing::Stretched(kSeriesWait);
  WaitFor(
      [&] {
        EXPECT_TRUE(testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                           {40, 40, 40, 40, 40, 40})
                        .ok());
        for (const Query& q : queries) {
          if (std::chrono::steady_clock::now() > deadline) break;
          if (!waiting.contains(q.where)) continue;
          const groupscaler::testing::HttpAnswer r = HttpGet(
              port, "/api/v1/query?query=" + groupscaler::testing::UrlEncode(Substitute(q.expr)));
          const json answer = json::parse(r.body, nullptr, false);
          if (r.code != 200 || answer.is_discarded() || answer.value("status", "") != "success") {
            errors[q.where] = std::to_string(r.code) + " " + r.body;
            waiting.erase(q.where);
            continue;
          }
          evaluated.insert(q.where);
          waiting[q.where] = answer["data"].dump();
          if (!answer["data"]["result"].empty() || kEvaluateOnly.contains(q.where)) {
            waiting.erase(q.where);
          }
        }
        return waiting.empty();
      },
      kSeriesWait);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(evaluated.size(), queries.size());
  for (const auto& [where, last] : waiting) {
    ADD_FAILURE() << where << " returned no series; last answer: " << last;
  }

  // The families on /metrics are the contract list (metric_names.txt), with
  // their types; group members are unknown against the mock cluster.
  std::map<std::string, std::string> exported;
  static const std::regex kType(R"(^# TYPE (groupscaler_\w+) (\w+)$)");
  std::istringstream scrape(HttpGet(metrics_port, "/metrics").body);
  for (std::string line; std::getline(scrape, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kType)) exported[m[1]] = m[2];
  }
  std::map<std::string, std::string> contract = ContractMetrics();
  contract.erase("groupscaler_group_members");
  EXPECT_EQ(exported, contract);

  if (HasFailure()) {
    ADD_FAILURE() << "controller log:\n"
                  << controller->log() << "\nprometheus log:\n"
                  << prometheus_->log() << "\n/metrics:\n"
                  << HttpGet(metrics_port, "/metrics").body;
  }
}

}  // namespace
}  // namespace groupscaler::monitoring
