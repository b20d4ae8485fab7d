#include "monitoring/monitoring_files.h"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace groupscaler::monitoring {

nlohmann::json LoadDashboard() {
  std::ifstream in(kDashboardFile);
  if (!in) throw std::runtime_error("cannot read " + kDashboardFile);
  return nlohmann::json::parse(in);
}

YAML::Node LoadRules() { return YAML::LoadFile(kRulesFile); }

std::vector<Query> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<Query> out;
  for (const auto& panel : dashboard.at("panels")) {
    if (!panel.contains("targets")) continue;
    for (const auto& target : panel.at("targets")) {
      out.push_back({"panel \"" + panel.at("title").get<std::string>() + "\" target " +
                         target.at("refId").get<std::string>(),
                     target.at("expr").get<std::string>()});
    }
  }
  static const std::regex kLabelValues(R"(^label_values\((.*),\s*\w+\)$)");
  for (const auto& variable : dashboard.at("templating").at("list")) {
    if (variable.at("type") != "query") continue;
    const std::string query = variable.at("query").at("query").get<std::string>();
    std::smatch m;
    out.push_back({"variable " + variable.at("name").get<std::string>(),
                   std::regex_match(query, m, kLabelValues) ? m[1].str() : query});
  }
  return out;
}

std::vector<Query> AlertQueries(const YAML::Node& rules) {
  std::vector<Query> out;
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      if (!rule["alert"]) continue;
      out.push_back({"alert " + rule["alert"].as<std::string>(), rule["expr"].as<std::string>()});
    }
  }
  return out;
}

std::set<std::string> MetricNames(const std::string& expr) {
  static const std::regex kName(R"(\bgroupscaler_[a-z0-9_]+)");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName);
       it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

std::map<std::string, std::string> ContractMetrics() {
  std::ifstream in(kMetricNamesFile);
  if (!in) throw std::runtime_error("cannot read " + kMetricNamesFile);
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, type;
    fields >> name >> type;
    out[name] = type;
  }
  return out;
}

}  // namespace groupscaler::monitoring
