// The Grafana dashboard and the Prometheus alert rules: promtool lints the
// rules and runs each alert's unit test (tests/monitoring/alerts), the
// dashboard has its variables and filters, and both use only metrics that
// groupscaler exports (metric_names.txt).

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "monitoring/monitoring_files.h"
#include "support/subprocess.h"

namespace groupscaler::monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSubsetOf;

const std::string kPromtool = "/usr/bin/promtool";
const std::string kAlertTestsDir = kSourceDir + "/tests/monitoring/alerts";

testing::RunResult Promtool(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kPromtool};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunProcess(argv, std::chrono::seconds(60));
}

std::vector<std::string> AlertNames() {
  std::vector<std::string> out;
  for (const Query& q : AlertQueries(LoadRules())) out.push_back(q.where.substr(6));
  return out;
}

TEST(AlertRules, PromtoolChecksThem) {
  const testing::RunResult r = Promtool({"check", "rules", kRulesFile});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("SUCCESS: 7 rules found"));
}

TEST(AlertRules, CoverTheIssue) {
  EXPECT_EQ(AlertNames(), (std::vector<std::string>{
                              "GroupscalerLagGrowing", "GroupscalerAtPartitionCeilingLagGrowing",
                              "GroupscalerIdleMembers", "GroupscalerPartitionsStalled",
                              "GroupscalerKafkaUnreachable", "GroupscalerReconcileErrors",
                              "GroupscalerNoLeader"}));
  for (const auto& group : LoadRules()["groups"]) {
    for (const auto& rule : group["rules"]) {
      const std::string name = rule["alert"].as<std::string>();
      EXPECT_TRUE(rule["labels"]["severity"]) << name;
      EXPECT_TRUE(rule["annotations"]["summary"]) << name;
      EXPECT_TRUE(rule["annotations"]["description"]) << name;
      EXPECT_TRUE(rule["for"]) << name;
    }
  }
}

TEST(AlertRules, EveryUnitTestFileIsForAnAlert) {
  const std::vector<std::string> names = AlertNames();
  const std::set<std::string> alerts(names.begin(), names.end());
  for (const auto& entry : std::filesystem::directory_iterator(kAlertTestsDir)) {
    const std::string file = entry.path().filename().string();
    ASSERT_TRUE(file.ends_with("_test.yaml")) << file;
    EXPECT_TRUE(alerts.contains(file.substr(0, file.size() - 10))) << file << " tests no alert";
  }
}

class AlertUnitTest : public ::testing::TestWithParam<std::string> {};

// Each alert has its own promtool unit test, with input series that make it
// fire and others that must not.
TEST_P(AlertUnitTest, FiresAndStaysQuiet) {
  const std::string alert = GetParam();
  const std::string file = kAlertTestsDir + "/" + alert + "_test.yaml";
  ASSERT_TRUE(std::filesystem::exists(file)) << "no unit test for " << alert;
  bool fires = false;
  bool quiet = false;
  for (const auto& test : YAML::LoadFile(file)["tests"]) {
    for (const auto& expectation : test["alert_rule_test"]) {
      if (expectation["alertname"].as<std::string>() != alert) continue;
      (expectation["exp_alerts"].size() > 0 ? fires : quiet) = true;
    }
  }
  EXPECT_TRUE(fires) << file << " never expects " << alert << " to fire";
  EXPECT_TRUE(quiet) << file << " never expects " << alert << " to stay quiet";

  const testing::RunResult r = Promtool({"test", "rules", file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("SUCCESS"));
}

INSTANTIATE_TEST_SUITE_P(Rules, AlertUnitTest, ::testing::ValuesIn(AlertNames()),
                         [](const auto& info) { return info.param; });

TEST(Dashboard, HasDatasourceNamespaceAndAutoscalerVariables) {
  const nlohmann::json dashboard = LoadDashboard();
  std::map<std::string, nlohmann::json> variables;
  for (const auto& v : dashboard.at("templating").at("list")) variables[v.at("name")] = v;
  ASSERT_TRUE(variables.contains("datasource"));
  EXPECT_EQ(variables["datasource"].at("type"), "datasource");
  EXPECT_EQ(variables["datasource"].at("query"), "prometheus");
  ASSERT_TRUE(variables.contains("namespace"));
  EXPECT_EQ(variables["namespace"].at("query").at("query"),
            "label_values(groupscaler_spec_valid, namespace)");
  ASSERT_TRUE(variables.contains("autoscaler"));
  EXPECT_EQ(variables["autoscaler"].at("query").at("query"),
            "label_values(groupscaler_spec_valid{namespace=~\"$namespace\"}, name)");
  for (const char* name : {"namespace", "autoscaler"}) {
    EXPECT_EQ(variables[name].at("datasource").at("uid"), "${datasource}") << name;
    EXPECT_TRUE(variables[name].at("includeAll").get<bool>()) << name;
  }
}

TEST(Dashboard, EveryPanelQueriesTheChosenDatasource) {
  const nlohmann::json dashboard = LoadDashboard();
  int panels = 0;
  for (const auto& panel : dashboard.at("panels")) {
    if (panel.at("type") == "row") continue;
    ++panels;
    const std::string title = panel.at("title");
    EXPECT_EQ(panel.at("datasource").at("uid"), "${datasource}") << title;
    ASSERT_FALSE(panel.at("targets").empty()) << title;
    for (const auto& target : panel.at("targets")) {
      EXPECT_EQ(target.at("datasource").at("uid"), "${datasource}") << title;
    }
  }
  EXPECT_GE(panels, 15);
}

// Every query on a per-autoscaler metric honours the namespace and
// autoscaler variables.
TEST(Dashboard, PerAutoscalerQueriesFilterByTheVariables) {
  const std::set<std::string> controller_wide = {
      "groupscaler_reconciles_total",
      "groupscaler_reconcile_duration_seconds_bucket",
      "groupscaler_workqueue_depth",
      "groupscaler_workqueue_queue_duration_seconds_bucket",
      "groupscaler_kafka_requests_total",
      "groupscaler_kafka_errors_total",
      "groupscaler_kube_api_requests_total",
      "groupscaler_leader",
      "groupscaler_build_info"};
  for (const Query& q : DashboardQueries(LoadDashboard())) {
    if (q.where.starts_with("variable")) continue;
    for (const std::string& metric : MetricNames(q.expr)) {
      if (controller_wide.contains(metric)) continue;
      EXPECT_THAT(q.expr, HasSubstr(metric + "{namespace=~\"$namespace\", name=~\"$autoscaler\""))
          << q.where;
    }
  }
}

// The issue's list: lag and lag rate per group, replicas vs desired vs
// ceiling, partitions, scale events, reconcile latency, Kafka and API errors.
TEST(Dashboard, ShowsWhatTheIssueAsks) {
  std::set<std::string> used;
  bool lag_rate = false;
  for (const Query& q : DashboardQueries(LoadDashboard())) {
    used.merge(MetricNames(q.expr));
    lag_rate |= q.expr.find("deriv(groupscaler_consumer_group_lag_messages") != std::string::npos;
  }
  EXPECT_TRUE(lag_rate);
  EXPECT_THAT(
      (std::set<std::string>{
          "groupscaler_consumer_group_lag_messages", "groupscaler_current_replicas",
          "groupscaler_desired_replicas", "groupscaler_replica_ceiling", "groupscaler_partitions",
          "groupscaler_scale_events_total", "groupscaler_reconcile_duration_seconds_bucket",
          "groupscaler_kafka_errors_total", "groupscaler_kube_api_requests_total"}),
      IsSubsetOf(used));
}

TEST(Readme, AlertsTableListsEveryAlert) {
  std::ifstream in(kSourceDir + "/README.md");
  std::vector<std::string> rows;
  bool in_section = false;
  static const std::regex kRow(R"(^\| `(Groupscaler\w+)` \|)");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("#")) in_section = line == "### Monitoring";
    std::smatch m;
    if (in_section && std::regex_search(line, m, kRow)) rows.push_back(m[1]);
  }
  EXPECT_EQ(rows, AlertNames());
}

// A histogram's series are name_bucket, name_sum and name_count.
std::set<std::string> ExportedSeriesNames() {
  std::set<std::string> out;
  for (const auto& [name, type] : ContractMetrics()) {
    if (type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) out.insert(name + suffix);
    } else {
      out.insert(name);
    }
  }
  return out;
}

TEST(Contract, DashboardAndAlertsUseOnlyExportedMetrics) {
  const std::set<std::string> exported = ExportedSeriesNames();
  ASSERT_EQ(ContractMetrics().size(), 29u);
  std::vector<Query> queries = DashboardQueries(LoadDashboard());
  const std::vector<Query> alerts = AlertQueries(LoadRules());
  queries.insert(queries.end(), alerts.begin(), alerts.end());
  for (const Query& q : queries) {
    const std::set<std::string> used = MetricNames(q.expr);
    EXPECT_FALSE(used.empty()) << q.where << ": " << q.expr;
    EXPECT_THAT(used, IsSubsetOf(exported)) << q.where;
  }
}

}  // namespace
}  // namespace groupscaler::monitoring
