// Runs the real, built `groupscaler` binary (GROUPSCALER_BINARY) as a user
// would, and checks its exit code, stdout and stderr.

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "support/subprocess.h"

namespace groupscaler::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using Output = groupscaler::testing::RunResult;

// Input files for the bad-input cases. ctest runs each case in its own
// process, in parallel: every process writes its own copies (the pid in the
// name) and removes them when it exits.
class TempFiles {
 public:
  ~TempFiles() {
    for (const std::string& path : paths_) std::filesystem::remove(path);
  }
  std::string Write(const std::string& name, const std::string& content) {
    std::string path =
        ::testing::TempDir() + "/cli_test_" + std::to_string(::getpid()) + "_" + name;
    std::ofstream(path, std::ios::binary) << content;
    paths_.push_back(path);
    return path;
  }

 private:
  std::vector<std::string> paths_;
};

TempFiles temp_files;

std::string WriteTemp(const std::string& name, const std::string& content) {
  return temp_files.Write(name, content);
}

// Runs the binary with `args` as a user would, stdin from /dev/null.
Output RunBinary(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {GROUPSCALER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return groupscaler::testing::RunProcess(argv, std::chrono::seconds(60));
}

std::string Source(const std::string& relative) {
  return std::string(GROUPSCALER_SOURCE_DIR) + "/" + relative;
}

const std::string kDailyWave = Source("bench/traces/daily-wave.csv");
const std::string kBurst = Source("bench/traces/burst.csv");
const std::string kExampleSpec = Source("manifests/examples/consumergroupautoscaler.yaml");

size_t Lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

const char* const kSummaryKeys[] = {"replicaSeconds",
                                    "maxLag",
                                    "lagSecondsAboveTarget",
                                    "directionChanges",
                                    "secondsAtCeiling",
                                    "messagesProduced",
                                    "messagesConsumed",
                                    "durationSeconds",
                                    "maxReplicas",
                                    "scaleUps",
                                    "scaleDowns",
                                    "polls",
                                    "maxLagSeconds",
                                    "secondsAboveTarget",
                                    "rebalances",
                                    "lagSecondsTarget",
                                    "rebalancePauseSeconds"};
const char* const kTimelineKeys[] = {"time",     "produceRate", "lag",     "timeLagSeconds",
                                     "replicas", "members",     "desired", "ceiling",
                                     "reason",   "message"};

// Checks `json` is one run: {"summary": {...}, "timeline": [...]}.
void CheckRunJson(nlohmann::json& json) {
  EXPECT_EQ(json.size(), 2u);
  EXPECT_TRUE(json["summary"].is_object());
  EXPECT_TRUE(json["timeline"].is_array());
  for (const char* key : kSummaryKeys) {
    EXPECT_TRUE(json["summary"].contains(key)) << key;
    EXPECT_TRUE(json["summary"][key].is_number_integer()) << key;
  }
  EXPECT_FALSE(json["timeline"].empty());
  for (const auto& entry : json["timeline"]) {
    for (const char* key : kTimelineKeys) EXPECT_TRUE(entry.contains(key)) << key;
  }
  const auto& s = json["summary"];
  if (s.contains("messagesProduced") && s.contains("messagesConsumed") && s.contains("finalLag")) {
    EXPECT_EQ(s["messagesProduced"].get<int64_t>(),
              s["messagesConsumed"].get<int64_t>() + s["finalLag"].get<int64_t>());
  }
}

// Checks `out` is exactly one JSON object with the documented shape of one
// run and returns it.
nlohmann::json ParseSimulateJson(const std::string& out) {
  nlohmann::json json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(json.is_object()) << out.substr(0, 200);
  if (json.is_object()) CheckRunJson(json);
  return json;
}

// Several policies: {"runs": [run, ...]}; returns the runs' policy names.
std::vector<std::string> ParseRunsJson(const std::string& out, nlohmann::json* json) {
  *json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> policies;
  EXPECT_TRUE(json->is_object() && json->size() == 1 && (*json)["runs"].is_array())
      << out.substr(0, 200);
  if (!json->is_object() || !(*json)["runs"].is_array()) return policies;
  for (auto& run : (*json)["runs"]) {
    CheckRunJson(run);
    policies.push_back(run["summary"]["policy"].get<std::string>());
  }
  return policies;
}

const std::string kThroughputSpec =
    WriteTemp("throughput.yaml",
              "apiVersion: groupscaler.io/v1alpha1\nkind: ConsumerGroupAutoscaler\nspec:\n"
              "  maxReplicas: 12\n  lagSecondsThreshold: 30\n  policy: {type: throughput}\n");

const std::string kPlotPath =
    ::testing::TempDir() + "/cli_test_" + std::to_string(::getpid()) + "_plot.svg";

// Runs xmllint (a strict XML parser) on the plot: one line, the answer of
// `xpath`, or the parser's complaint.
std::string XPath(const std::string& xpath) {
  Output output = groupscaler::testing::RunProcess(
      {"/usr/bin/xmllint", "--xpath", xpath, kPlotPath}, std::chrono::seconds(30));
  EXPECT_EQ(output.exit_code, 0) << output.err;
  std::string answer = output.out;
  if (!answer.empty() && answer.back() == '\n') answer.pop_back();
  return answer;
}

std::string SeriesCount(const std::string& policy, const std::string& panel) {
  return XPath("count(//*[local-name()='polyline'][@class='series'][@data-policy='" + policy +
               "'][@data-panel='" + panel + "'])");
}

// ---------------------------------------------------------------------------
// Runs that succeed.

struct RunCase {
  std::string name;
  std::vector<std::string> args;
  std::function<void(const Output&)> check;
};

void PrintTo(const RunCase& c, std::ostream* os) { *os << c.name; }

class SimulateRunTest : public ::testing::TestWithParam<RunCase> {};

TEST_P(SimulateRunTest, Succeeds) {
  const RunCase& c = GetParam();
  Output output = RunBinary(c.args);
  EXPECT_EQ(output.exit_code, 0) << output.err;
  EXPECT_EQ(output.err, "");
  c.check(output);
}

void CheckTable(const Output& output) {
  EXPECT_THAT(output.out, StartsWith("      time"));
  EXPECT_THAT(output.out, HasSubstr("\nsummary\n"));
  for (const char* key : kSummaryKeys) EXPECT_THAT(output.out, HasSubstr(key));
  EXPECT_THAT(output.out, HasSubstr("ScaleUp"));
}

INSTANTIATE_TEST_SUITE_P(
    Cli, SimulateRunTest,
    ::testing::Values(
        RunCase{.name = "DailyWaveTable",
                .args = {"simulate", "--trace", kDailyWave, "--partitions", "12", "--replica-rate",
                         "500"},
                .check = CheckTable},
        RunCase{.name = "BurstTable",
                .args = {"simulate", "--trace", kBurst, "--partitions", "12", "--replica-rate",
                         "500", "--output", "table"},
                .check = CheckTable},
        RunCase{.name = "DailyWaveJson",
                .args = {"simulate", "--trace", kDailyWave, "--partitions", "12", "--replica-rate",
                         "500", "--output", "json"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json = ParseSimulateJson(output.out);
                      // A day plus the 60 s tail, a poll every 10 s.
                      EXPECT_EQ(json["summary"]["durationSeconds"], 86400 + 60);
                      EXPECT_EQ(json["summary"]["polls"], 8646);
                      EXPECT_EQ(json["timeline"].size(), 8646u);
                      EXPECT_LE(json["summary"]["maxReplicas"].get<int>(), 12);
                    }},
        RunCase{.name = "BurstJson",
                .args = {"simulate", "--output", "json", "--trace", kBurst, "--partitions", "12",
                         "--replica-rate", "500", "--startup-seconds", "30"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json = ParseSimulateJson(output.out);
                      EXPECT_EQ(json["summary"]["startupSeconds"], 30);
                      // The burst's 9000/s is beyond 12 x 500.
                      EXPECT_EQ(json["summary"]["maxReplicas"], 12);
                      EXPECT_GT(json["summary"]["secondsAtCeiling"].get<int64_t>(), 0);
                    }},
        RunCase{.name = "ExampleSpecJson",
                .args = {"simulate", "--trace", kBurst, "--partitions", "12", "--replica-rate",
                         "500", "--spec", kExampleSpec, "--output", "json"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json = ParseSimulateJson(output.out);
                      EXPECT_EQ(json["summary"]["lagThreshold"], 2000);
                      EXPECT_EQ(json["summary"]["pollIntervalSeconds"], 10);
                    }},
        RunCase{.name = "DurationOverridesTheTrace",
                .args = {"simulate", "--trace", kBurst, "--partitions", "6", "--replica-rate",
                         "1000", "--duration", "95", "--output", "json"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json = ParseSimulateJson(output.out);
                      EXPECT_EQ(json["summary"]["durationSeconds"], 95);
                      EXPECT_EQ(json["summary"]["polls"], 10);
                      EXPECT_EQ(json["timeline"].back()["time"], 90);
                    }},
        RunCase{.name = "OnePolicyNamesItInTheSummary",
                .args = {"simulate", "--trace", kBurst, "--partitions", "12", "--replica-rate",
                         "500", "--policy", "keda", "--keda-lag-threshold", "3000", "--output",
                         "json", "--lag-seconds-target", "45", "--rebalance-pause-seconds", "4"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json = ParseSimulateJson(output.out);
                      const auto& s = json["summary"];
                      EXPECT_EQ(s["policy"], "keda");
                      EXPECT_EQ(s["lagThreshold"], 3000);
                      EXPECT_EQ(s["pollIntervalSeconds"], 15);  // the HPA's sync
                      EXPECT_EQ(s["lagSecondsTarget"], 45);
                      EXPECT_EQ(s["rebalancePauseSeconds"], 4);
                      EXPECT_GT(s["rebalances"].get<int64_t>(), 0);
                      EXPECT_GE(s["maxLagSeconds"].get<int64_t>(), 45);
                      EXPECT_GT(s["secondsAboveTarget"].get<int64_t>(), 0);
                    }},
        RunCase{.name = "SpecSetsThePolicyAndTheTimeLagTarget",
                .args = {"simulate", "--trace", kBurst, "--partitions", "12", "--replica-rate",
                         "500", "--spec", kThroughputSpec, "--lag-seconds-target", "90", "--output",
                         "json"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json = ParseSimulateJson(output.out);
                      EXPECT_EQ(json["summary"]["policy"], "throughput");
                      EXPECT_EQ(json["summary"]["lagSecondsTarget"], 30);
                    }},
        RunCase{.name = "ComparesPoliciesInTheOrderGiven",
                .args = {"simulate", "--trace", Source("bench/traces/step.csv"), "--partitions",
                         "12", "--replica-rate", "500", "--policy", "keda,lag", "--policy",
                         "oracle", "--output", "json"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json;
                      EXPECT_THAT(ParseRunsJson(output.out, &json),
                                  ::testing::ElementsAre("keda", "lag", "oracle"));
                      if (!json.contains("runs") || json["runs"].size() != 3) return;
                      const auto& oracle = json["runs"][2]["summary"];
                      EXPECT_EQ(oracle["secondsAboveTarget"], 0);
                      for (int i = 0; i < 2; ++i) {
                        EXPECT_LT(oracle["replicaSeconds"].get<int64_t>(),
                                  json["runs"][i]["summary"]["replicaSeconds"].get<int64_t>());
                      }
                    }},
        RunCase{.name = "ComparisonTable",
                .args = {"simulate", "--trace", kBurst, "--partitions", "12", "--replica-rate",
                         "500", "--policy", "lag,keda"},
                .check =
                    [](const Output& output) {
                      EXPECT_THAT(output.out, StartsWith("policy lag\n      time"));
                      EXPECT_THAT(output.out, HasSubstr("\npolicy keda\n      time"));
                      EXPECT_THAT(output.out, HasSubstr("\ncomparison\n"));
                      EXPECT_THAT(output.out, HasSubstr("\n  keda  "));
                    }},
        RunCase{.name = "PlotHasOneSeriesPerPolicy",
                .args = {"simulate", "--trace", Source("bench/traces/poison.csv"), "--partitions",
                         "12", "--replica-rate", "500", "--policy", "lag,keda,oracle", "--plot",
                         kPlotPath, "--output", "json"},
                .check =
                    [](const Output& output) {
                      nlohmann::json json;
                      ParseRunsJson(output.out, &json);
                      for (const char* policy : {"lag", "keda", "oracle"}) {
                        EXPECT_EQ(SeriesCount(policy, "lag"), "1") << policy;
                        EXPECT_EQ(SeriesCount(policy, "replicas"), "1") << policy;
                      }
                      EXPECT_EQ(XPath("count(//*[local-name()='polyline'][@class='series'])"), "6");
                      EXPECT_EQ(XPath("count(//*[@class='ceiling'])"), "2");
                      EXPECT_EQ(XPath("count(//*[@class='target'])"), "1");
                      EXPECT_EQ(XPath("count(//*[local-name()='polyline'][@class='rate'])"), "1");
                      std::filesystem::remove(kPlotPath);
                    }},
        RunCase{.name = "SimulateHelp",
                .args = {"simulate", "--help"},
                .check =
                    [](const Output& output) {
                      for (const char* flag :
                           {"--trace", "--partitions", "--replica-rate", "--startup-seconds",
                            "--spec", "--duration", "--output", "--policy",
                            "--rebalance-pause-seconds", "--lag-seconds-target",
                            "--keda-lag-threshold", "--plot"}) {
                        EXPECT_THAT(output.out, HasSubstr(flag));
                      }
                    }},
        RunCase{
            .name = "TopLevelHelp",
            .args = {"--help"},
            .check = [](const Output& output) { EXPECT_THAT(output.out, HasSubstr("simulate")); }}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Bad input: exit 2, one line on stderr naming the problem, nothing on stdout.

struct UsageCase {
  std::string name;
  std::vector<std::string> args;
  std::string what;  // a part of the stderr line
};

void PrintTo(const UsageCase& c, std::ostream* os) { *os << c.name; }

class SimulateUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(SimulateUsageTest, ExitsTwoWithOneLine) {
  const UsageCase& c = GetParam();
  Output output = RunBinary(c.args);
  EXPECT_EQ(output.exit_code, 2);
  EXPECT_EQ(Lines(output.err), 1u) << output.err;
  EXPECT_THAT(output.err, HasSubstr(c.what));
  EXPECT_EQ(output.out, "");
}

const std::string kBadTrace = WriteTemp("bad.csv", "time_seconds,produce_rate\n0,100\n60,fast\n");
const std::string kBadSpec =
    WriteTemp("bad.yaml",
              "apiVersion: groupscaler.io/v1alpha1\nkind: ConsumerGroupAutoscaler\nspec:\n"
              "  maxReplicas: 12\n  lagTreshold: 10\n");
const std::string kInvalidSpec =
    WriteTemp("invalid.yaml",
              "apiVersion: groupscaler.io/v1alpha1\nkind: ConsumerGroupAutoscaler\nspec:\n"
              "  maxReplicas: 2\n  minReplicas: 3\n");

std::vector<std::string> Simulate(std::vector<std::string> extra) {
  std::vector<std::string> args = {"simulate", "--trace",        kBurst, "--partitions",
                                   "12",       "--replica-rate", "500"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

INSTANTIATE_TEST_SUITE_P(
    Cli, SimulateUsageTest,
    ::testing::Values(
        UsageCase{.name = "UnknownFlag", .args = Simulate({"--bogus"}), .what = "--bogus"},
        UsageCase{.name = "MissingTrace",
                  .args = {"simulate", "--partitions", "12", "--replica-rate", "500"},
                  .what = "--trace"},
        UsageCase{.name = "MissingPartitions",
                  .args = {"simulate", "--trace", kBurst, "--replica-rate", "500"},
                  .what = "--partitions"},
        UsageCase{.name = "MissingReplicaRate",
                  .args = {"simulate", "--trace", kBurst, "--partitions", "12"},
                  .what = "--replica-rate"},
        UsageCase{.name = "PartitionsNotANumber",
                  .args = {"simulate", "--trace", kBurst, "--partitions", "many", "--replica-rate",
                           "500"},
                  .what = "--partitions"},
        UsageCase{
            .name = "ZeroPartitions",
            .args = {"simulate", "--trace", kBurst, "--partitions", "0", "--replica-rate", "500"},
            .what = "--partitions"},
        UsageCase{.name = "NegativeStartup",
                  .args = Simulate({"--startup-seconds", "-1"}),
                  .what = "--startup-seconds"},
        UsageCase{
            .name = "ZeroDuration", .args = Simulate({"--duration", "0"}), .what = "--duration"},
        UsageCase{.name = "BadOutput", .args = Simulate({"--output", "xml"}), .what = "--output"},
        UsageCase{
            .name = "UnknownPolicy", .args = Simulate({"--policy", "lag,hpa"}), .what = "--policy"},
        UsageCase{.name = "NegativeRebalancePause",
                  .args = Simulate({"--rebalance-pause-seconds", "-1"}),
                  .what = "--rebalance-pause-seconds"},
        UsageCase{.name = "ZeroLagSecondsTarget",
                  .args = Simulate({"--lag-seconds-target", "0"}),
                  .what = "--lag-seconds-target"},
        UsageCase{.name = "PoisonBeyondThePartitions",
                  .args = {"simulate", "--trace", Source("bench/traces/poison.csv"), "--partitions",
                           "4", "--replica-rate", "500"},
                  .what = "the trace poisons partition 5 at 900 s, but the topic has 4 "
                          "partitions"},
        UsageCase{.name = "NoSubcommand", .args = {}, .what = "subcommand"},
        UsageCase{.name = "UnknownSubcommand",
                  .args = {"simulat"},
                  .what = "unknown sub-command 'simulat'"},
        UsageCase{.name = "MissingTraceFile",
                  .args = {"simulate", "--trace", "/nonexistent/t.csv", "--partitions", "12",
                           "--replica-rate", "500"},
                  .what = "/nonexistent/t.csv: cannot read: No such file or directory"},
        UsageCase{.name = "BadTraceNamesFileAndLine",
                  .args = {"simulate", "--trace", kBadTrace, "--partitions", "12", "--replica-rate",
                           "500"},
                  .what = kBadTrace + ":3: produce_rate: must be a whole number, got \"fast\""},
        UsageCase{.name = "BadSpecNamesFileAndLine",
                  .args = Simulate({"--spec", kBadSpec}),
                  .what = kBadSpec + ":5: spec: unknown field \"lagTreshold\" (did you mean "
                                     "\"lagThreshold\"?)"},
        UsageCase{.name = "InvalidSpecNamesFileAndLine",
                  .args = Simulate({"--spec", kInvalidSpec}),
                  .what = kInvalidSpec + ":5: spec.minReplicas must be <= spec.maxReplicas"},
        UsageCase{.name = "MissingSpecFile",
                  .args = Simulate({"--spec", "/nonexistent/s.yaml"}),
                  .what = "/nonexistent/s.yaml: cannot read"}),
    [](const auto& info) { return info.param.name; });

// cli::Run itself, in this process: the one catch-all around every
// sub-command turns an exception into one line and exit code 1.
TEST(Run, AnExceptionOutOfACommandIsOneLineAndExitOne) {
  CLI::App app{"", "groupscaler"};
  const std::vector<Command> commands = {
      {app.add_subcommand("explode", ""), []() -> int { throw std::runtime_error("boom"); }}};
  const char* argv[] = {"groupscaler", "explode"};
  ::testing::internal::CaptureStderr();
  const int code = cli::Run(app, commands, 2, argv);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "groupscaler explode: internal error: boom\n");
  EXPECT_EQ(code, kExitError);
}

}  // namespace
}  // namespace groupscaler::cli
