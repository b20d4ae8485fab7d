#pragma once

// The monitoring files under test: the Grafana dashboard and the Prometheus
// alert rules (one copy each, in charts/groupscaler/files), and the list of
// metric names groupscaler exports (tests/monitoring/metric_names.txt).

#include <map>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace groupscaler::monitoring {

inline const std::string kSourceDir = GROUPSCALER_SOURCE_DIR;
inline const std::string kRulesFile =
    kSourceDir + "/charts/groupscaler/files/groupscaler-rules.yaml";
inline const std::string kDashboardFile =
    kSourceDir + "/charts/groupscaler/files/groupscaler-dashboard.json";
inline const std::string kMetricNamesFile = kSourceDir + "/tests/monitoring/metric_names.txt";

// A PromQL expression and where it comes from, e.g. `panel "Lag per group"
// target A`, `variable namespace`, `alert GroupscalerLagGrowing`.
struct Query {
  std::string where;
  std::string expr;
};

nlohmann::json LoadDashboard();
YAML::Node LoadRules();

// Every panel target's expression, and every query variable's series selector
// (the first argument of `label_values(selector, label)`), as written: Grafana
// variables such as $namespace and $__rate_interval are left in.
std::vector<Query> DashboardQueries(const nlohmann::json& dashboard);

// The `expr` of every alerting rule, `where` being the alert's name.
std::vector<Query> AlertQueries(const YAML::Node& rules);

// The groupscaler_* metric names an expression refers to.
std::set<std::string> MetricNames(const std::string& expr);

// metric_names.txt: name -> type (gauge, counter, histogram).
std::map<std::string, std::string> ContractMetrics();

}  // namespace groupscaler::monitoring
