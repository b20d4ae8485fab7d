#include "cli/simulate_command.h"

#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/policy.h"
#include "sim/keda.h"
#include "sim/model.h"
#include "sim/oracle.h"
#include "sim/plot.h"
#include "sim/trace.h"
#include "spec/autoscaler_spec.h"

namespace groupscaler::cli {
namespace {

struct SimulateOptions {
  std::string trace_path;
  int32_t partitions = 0;
  int64_t replica_rate = 0;
  int64_t startup_seconds = 10;
  std::string spec_path;
  int64_t duration_seconds = 0;  // 0: not given
  std::string output = "table";
  // lag, throughput, keda, oracle; empty: the spec's policy type.
  std::vector<std::string> policies;
  int64_t rebalance_pause_seconds = sim::kDefaultRebalancePauseSeconds;
  int64_t lag_seconds_target = sim::kDefaultLagSecondsTarget;
  int64_t keda_lag_threshold = 0;  // 0: the spec's lagThreshold
  std::string plot_path;
};

// One policy's run, with what its summary reports about the setup.
struct Run {
  std::string policy;
  int32_t poll_interval_seconds = 0;
  int64_t lag_threshold = 0;
  sim::Result result;
};

// Without --spec: the policy's own defaults (minReplicas 1, lagThreshold
// 1000, balanced alignment, the HPA's behavior), except maxReplicas, which is
// the partition count so that only the partitions bound the group, and a poll
// every 10 s, the CRD's default.
constexpr int32_t kDefaultPollIntervalSeconds = 10;

policy::Spec DefaultSpec(int32_t partitions) {
  policy::Spec spec;
  spec.max_replicas = partitions;
  return spec;
}

using Json = nlohmann::ordered_json;

Json SummaryJson(const Run& run, const SimulateOptions& options, int64_t lag_seconds_target) {
  const sim::Summary& s = run.result.summary;
  return Json{
      {"policy", run.policy},
      {"durationSeconds", s.duration_seconds},
      {"polls", s.polls},
      {"partitions", options.partitions},
      {"replicaRate", options.replica_rate},
      {"startupSeconds", options.startup_seconds},
      {"rebalancePauseSeconds", options.rebalance_pause_seconds},
      {"pollIntervalSeconds", run.poll_interval_seconds},
      {"lagThreshold", run.lag_threshold},
      {"lagSecondsTarget", lag_seconds_target},
      {"messagesProduced", s.messages_produced},
      {"messagesConsumed", s.messages_consumed},
      {"finalLag", s.final_lag},
      {"replicaSeconds", s.replica_seconds},
      {"maxLag", s.max_lag},
      {"lagSecondsAboveTarget", s.lag_seconds_above_target},
      {"directionChanges", s.direction_changes},
      {"secondsAtCeiling", s.seconds_at_ceiling},
      {"maxReplicas", s.max_replicas},
      {"minReplicas", s.min_replicas},
      {"scaleUps", s.scale_ups},
      {"scaleDowns", s.scale_downs},
      {"maxLagSeconds", s.max_lag_seconds},
      {"secondsAboveTarget", s.seconds_above_target},
      {"rebalances", s.rebalances},
  };
}

// One policy: one object, {"summary": {...}, "timeline": [...]}; several:
// {"runs": [{"summary": ..., "timeline": ...}, ...]} in the order given.
// Written entry by entry: a week polled every second is 600,000 entries, too
// many to hold as one document in memory. One timeline entry per line keeps
// it greppable.
void PrintJson(const std::vector<Run>& runs, const SimulateOptions& options,
               int64_t lag_seconds_target) {
  // replace: a message with invalid UTF-8 must not abort the output.
  auto dump = [](const Json& json) {
    return json.dump(-1, ' ', false, Json::error_handler_t::replace);
  };
  std::ostream& out = std::cout;
  const bool several = runs.size() > 1;
  if (several) out << "{\n\"runs\": [\n";
  const char* run_separator = "";
  for (const Run& run : runs) {
    out << run_separator
        << "{\n\"summary\": " << dump(SummaryJson(run, options, lag_seconds_target))
        << ",\n\"timeline\": [";
    const char* separator = "\n";
    for (const sim::TimelineEntry& e : run.result.timeline) {
      out << separator
          << dump(Json{
                 {"time", e.time_seconds},
                 {"produceRate", e.produce_rate},
                 {"lag", e.lag},
                 {"timeLagSeconds", e.time_lag_seconds},
                 {"replicas", e.replicas},
                 {"running", e.running},
                 {"members", e.members},
                 {"desired", e.desired},
                 {"ceiling", e.ceiling},
                 {"reason", policy::ReasonName(e.reason)},
                 {"message", e.message},
             });
      separator = ",\n";
    }
    out << "\n]\n}";
    run_separator = ",\n";
  }
  out << (several ? "\n]\n}\n" : "\n");
}

std::string FormatTime(int64_t seconds) {
  std::ostringstream out;
  out << seconds / 3600 << ":" << std::setw(2) << std::setfill('0') << (seconds / 60) % 60 << ":"
      << std::setw(2) << std::setfill('0') << seconds % 60;
  return out.str();
}

// The timeline would be thousands of lines for a day; the table keeps the
// polls where something happened: the first, the last, and every one that
// changed the replica count or the reason.
void PrintTable(const Run& run, const SimulateOptions& options, int64_t lag_seconds_target) {
  std::ostream& out = std::cout;
  out << std::right << std::setw(10) << "time" << std::setw(12) << "rate/s" << std::setw(12)
      << "lag" << std::setw(9) << "lag s" << std::setw(9) << "replicas" << std::setw(8) << "desired"
      << std::setw(8) << "ceiling"
      << "  " << std::left << std::setw(22) << "reason"
      << "message\n";
  size_t shown = 0;
  const auto& timeline = run.result.timeline;
  for (size_t i = 0; i < timeline.size(); ++i) {
    const sim::TimelineEntry& e = timeline[i];
    bool changed = e.desired != e.replicas || i == 0 || i + 1 == timeline.size() ||
                   e.reason != timeline[i - 1].reason;
    if (!changed) continue;
    ++shown;
    out << std::right << std::setw(10) << FormatTime(e.time_seconds) << std::setw(12)
        << e.produce_rate << std::setw(12) << e.lag << std::setw(9) << e.time_lag_seconds
        << std::setw(9) << e.replicas << std::setw(8) << e.desired << std::setw(8) << e.ceiling
        << "  " << std::left << std::setw(22) << policy::ReasonName(e.reason) << e.message << "\n";
  }
  out << "(" << shown << " of " << timeline.size()
      << " polls shown: the first, the last, and those that changed the replicas or the "
         "reason; --output json has all)\n\nsummary\n";
  Json summary = SummaryJson(run, options, lag_seconds_target);
  for (const auto& [key, value] : summary.items()) {
    out << "  " << std::left << std::setw(24) << key << value.dump() << "\n";
  }
}

// Several policies: each one's table, then one line each side by side.
void PrintComparison(const std::vector<Run>& runs) {
  std::ostream& out = std::cout;
  out << "\ncomparison\n"
      << std::left << std::setw(12) << "  policy" << std::right << std::setw(16) << "replicaSeconds"
      << std::setw(15) << "maxLagSeconds" << std::setw(20) << "secondsAboveTarget" << std::setw(18)
      << "directionChanges" << std::setw(12) << "rebalances\n";
  for (const Run& run : runs) {
    const sim::Summary& s = run.result.summary;
    out << "  " << std::left << std::setw(10) << run.policy << std::right << std::setw(16)
        << s.replica_seconds << std::setw(15) << s.max_lag_seconds << std::setw(20)
        << s.seconds_above_target << std::setw(18) << s.direction_changes << std::setw(11)
        << s.rebalances << "\n";
  }
}

StatusOr<Run> RunPolicy(const std::string& name, const sim::Trace& trace, sim::ModelConfig config,
                        policy::Spec spec, int64_t keda_lag_threshold) {
  Run run{.policy = name,
          .poll_interval_seconds = config.poll_interval_seconds,
          .lag_threshold = spec.lag_threshold};
  StatusOr<sim::Result> result = InvalidArgumentError("unknown policy " + name);
  if (name == "lag" || name == "throughput") {
    spec.policy_type = name == "lag" ? policy::PolicyType::kLag : policy::PolicyType::kThroughput;
    result = sim::Simulate(trace, config, spec);
  } else if (name == "keda") {
    sim::KedaConfig keda = sim::KedaConfigFromSpec(spec);
    if (keda_lag_threshold > 0) keda.lag_threshold = keda_lag_threshold;
    sim::KedaScaler scaler(keda);
    config.poll_interval_seconds = sim::kHpaSyncPeriodSeconds;
    run.poll_interval_seconds = config.poll_interval_seconds;
    run.lag_threshold = keda.lag_threshold;
    result = sim::Simulate(trace, config, spec, scaler.AsDecideFunction());
  } else if (name == "oracle") {
    result = sim::SimulateOracle(trace, config, spec);
  }
  if (!result.ok()) return result.status();
  run.result = *std::move(result);
  return run;
}

int RunSimulate(const SimulateOptions& options) {
  StatusOr<sim::Trace> trace = sim::LoadTraceFile(options.trace_path);
  if (!trace.ok()) {
    std::cerr << trace.status().message() << "\n";
    return kExitUsage;
  }

  policy::Spec policy_spec = DefaultSpec(options.partitions);
  int32_t poll_interval_seconds = kDefaultPollIntervalSeconds;
  sim::ModelConfig config;
  if (!options.spec_path.empty()) {
    StatusOr<spec::AutoscalerSpec> loaded =
        spec::LoadAutoscalerFile(options.spec_path, spec::Use::kSimulate);
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      return kExitUsage;
    }
    policy_spec = loaded->policy;
    poll_interval_seconds = loaded->poll_interval_seconds;
    if (loaded->has_kafka) config.topic = loaded->kafka.topics.front();
  }

  config.partitions = options.partitions;
  config.replica_rate = options.replica_rate;
  config.startup_seconds = options.startup_seconds;
  config.poll_interval_seconds = poll_interval_seconds;
  config.rebalance_pause_seconds = options.rebalance_pause_seconds;
  config.lag_seconds_target =
      policy_spec.lag_seconds_threshold.value_or(options.lag_seconds_target);
  if (options.duration_seconds > 0) config.duration_seconds = options.duration_seconds;

  std::vector<std::string> policies = options.policies;
  if (policies.empty()) {
    policies.push_back(policy_spec.policy_type == policy::PolicyType::kThroughput ? "throughput"
                                                                                  : "lag");
  }
  std::vector<Run> runs;
  for (const std::string& name : policies) {
    StatusOr<Run> run = RunPolicy(name, *trace, config, policy_spec, options.keda_lag_threshold);
    if (!run.ok()) {
      std::cerr << "groupscaler simulate: " << run.status().message() << "\n";
      return kExitUsage;
    }
    runs.push_back(*std::move(run));
  }

  if (!options.plot_path.empty()) {
    std::vector<sim::PlotRun> plot_runs;
    for (const Run& run : runs) plot_runs.push_back({.name = run.policy, .result = &run.result});
    sim::PlotOptions plot{
        .title = std::filesystem::path(options.trace_path).filename().string() + ": " +
                 std::to_string(options.partitions) + " partitions, " +
                 std::to_string(options.replica_rate) + " messages/s per replica",
        .duration_seconds = runs.front().result.summary.duration_seconds,
        .ceiling =
            runs.front().result.timeline.empty() ? 0 : runs.front().result.timeline[0].ceiling,
        .replica_rate = options.replica_rate,
        .lag_seconds_target = config.lag_seconds_target,
    };
    std::ofstream file(options.plot_path, std::ios::binary | std::ios::trunc);
    file << sim::PlotSvg(*trace, plot_runs, plot);
    file.close();
    if (!file) {
      std::cerr << "groupscaler simulate: cannot write " << options.plot_path << "\n";
      return kExitError;
    }
  }

  if (options.output == "json") {
    PrintJson(runs, options, config.lag_seconds_target);
  } else {
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs.size() > 1) std::cout << (i > 0 ? "\n" : "") << "policy " << runs[i].policy << "\n";
      PrintTable(runs[i], options, config.lag_seconds_target);
    }
    if (runs.size() > 1) PrintComparison(runs);
  }
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "groupscaler simulate: cannot write the output\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

Command AddSimulateCommand(CLI::App& parent) {
  auto options = std::make_shared<SimulateOptions>();
  CLI::App* app = parent.add_subcommand(
      "simulate",
      "Replay a produce-rate trace through the scaling policy and a model of a consumer group, "
      "and print the replica timeline and a summary.");
  app->add_option("--trace", options->trace_path,
                  "CSV with the header time_seconds,produce_rate: from each row's time on, the "
                  "topic receives that many messages per second")
      ->type_name("FILE")
      ->required();
  app->add_option("--partitions", options->partitions, "Partitions of the topic")
      ->required()
      ->check(CLI::Range(1, sim::kMaxPartitions));
  app->add_option("--replica-rate", options->replica_rate,
                  "Messages per second one replica consumes at most")
      ->required()
      ->check(CLI::Range(int64_t{1}, sim::kMaxReplicaRate));
  app->add_option("--startup-seconds", options->startup_seconds,
                  "Seconds from adding a replica until it consumes")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, sim::kMaxStartupSeconds));
  app->add_option("--spec", options->spec_path,
                  "A ConsumerGroupAutoscaler YAML; scaleTargetRef and kafka may be absent")
      ->type_name("FILE");
  app->add_option("--duration", options->duration_seconds,
                  "Seconds to simulate (default: the trace's last time + 60)")
      ->check(CLI::Range(int64_t{1}, sim::kMaxDurationSeconds));
  app->add_option("--output", options->output, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  app->add_option("--policy", options->policies,
                  "lag, throughput, keda or oracle; repeat it or give a comma list to compare "
                  "several in one run (default: the spec's policy.type, else throughput)")
      ->delimiter(',')
      ->check(CLI::IsMember({"lag", "throughput", "keda", "oracle"}));
  app->add_option("--rebalance-pause-seconds", options->rebalance_pause_seconds,
                  "Seconds the whole group stops consuming at each change of its running "
                  "replicas (eager rebalance; less for cooperative-sticky)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, sim::kMaxStartupSeconds));
  app->add_option("--lag-seconds-target", options->lag_seconds_target,
                  "The time-lag target, seconds: secondsAboveTarget counts the seconds above it "
                  "and the oracle keeps under it (the spec's lagSecondsThreshold wins)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, sim::kMaxDurationSeconds));
  app->add_option("--keda-lag-threshold", options->keda_lag_threshold,
                  "lagThreshold of the keda policy (default: the spec's lagThreshold)")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()));
  app->add_option("--plot", options->plot_path,
                  "Also write an SVG: produce rate, time lag and replicas over time, one line "
                  "per policy")
      ->type_name("FILE.svg");
  app->footer(
      "The model: one topic of --partitions partitions (named after the spec's first topic), "
      "assigned to the running replicas as Kafka's range assignor does; each replica consumes "
      "at most --replica-rate messages per second from its own partitions. The group starts "
      "with minReplicas running replicas and empty partitions. Every change of the running "
      "replicas stops the group for --rebalance-pause-seconds; members are the replicas that "
      "finished starting and rejoined. Without --spec the policy's defaults apply (minReplicas "
      "1, lagThreshold 1000, balanced alignment, the HPA's behavior) with maxReplicas = "
      "--partitions and a poll every 10 s. keda is KEDA's Kafka scaler behind an HPA (15 s "
      "sync); oracle knows the whole trace and spends the fewest replica-seconds that keep the "
      "time lag under the target.");
  return Command{app, [options] { return RunSimulate(*options); }};
}

}  // namespace groupscaler::cli
