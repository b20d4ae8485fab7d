#include "kafka_real/lag_cli.h"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

namespace groupscaler::testing {

RunResult Lag(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {GROUPSCALER_PATH, "lag"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, std::chrono::milliseconds(30'000));
}

nlohmann::json LagJsonOf(const std::string& bootstrap, const std::string& group,
                         const std::vector<std::string>& topics,
                         const std::vector<std::string>& flags) {
  std::vector<std::string> args = {
      "--bootstrap-servers", bootstrap, "--group", group, "--output", "json"};
  for (const std::string& t : topics) args.insert(args.end(), {"--topic", t});
  args.insert(args.end(), flags.begin(), flags.end());
  const RunResult r = Lag(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

std::map<std::pair<std::string, int>, nlohmann::json> ByPartition(const nlohmann::json& lag) {
  std::map<std::pair<std::string, int>, nlohmann::json> out;
  for (const nlohmann::json& t : lag["topics"]) {
    for (const nlohmann::json& p : t["partitions"]) {
      out[{t["topic"], p["partition"].get<int>()}] = p;
    }
  }
  return out;
}

std::map<std::pair<std::string, int>, ToolRow> DescribeOffsets(const KafkaCluster& kafka,
                                                               const std::string& group) {
  const RunResult r = kafka.RunTool(kConsumerGroupCommand, {"--describe", "--group", group});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::pair<std::string, int>, ToolRow> rows;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string g, topic, partition;
    ToolRow row;
    if (!(fields >> g >> topic >> partition >> row.committed >> row.log_end >> row.lag)) continue;
    if (g != group) continue;  // the header
    rows[{topic, std::stoi(partition)}] = row;
  }
  EXPECT_FALSE(rows.empty()) << r.out << r.err;
  return rows;
}

}  // namespace groupscaler::testing
