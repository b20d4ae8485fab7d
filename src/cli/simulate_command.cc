#include "cli/simulate_command.h"

#include <cstdint>
#include <exception>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "policy/policy.h"
#include "sim/model.h"
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

Json SummaryJson(const sim::Summary& s, const SimulateOptions& options, const policy::Spec& spec,
                 int32_t poll_interval_seconds) {
  return Json{
      {"durationSeconds", s.duration_seconds},
      {"polls", s.polls},
      {"partitions", options.partitions},
      {"replicaRate", options.replica_rate},
      {"startupSeconds", options.startup_seconds},
      {"pollIntervalSeconds", poll_interval_seconds},
      {"lagThreshold", spec.lag_threshold},
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
  };
}

// One object, {"summary": {...}, "timeline": [...]}, written entry by entry:
// a week polled every second is 600,000 entries, too many to hold as one
// document in memory. One timeline entry per line keeps it greppable.
void PrintJson(const sim::Result& result, const SimulateOptions& options, const policy::Spec& spec,
               int32_t poll_interval_seconds) {
  // replace: a message with invalid UTF-8 must not abort the output.
  auto dump = [](const Json& json) {
    return json.dump(-1, ' ', false, Json::error_handler_t::replace);
  };
  std::ostream& out = std::cout;
  out << "{\n\"summary\": "
      << dump(SummaryJson(result.summary, options, spec, poll_interval_seconds))
      << ",\n\"timeline\": [";
  const char* separator = "\n";
  for (const sim::TimelineEntry& e : result.timeline) {
    out << separator
        << dump(Json{
               {"time", e.time_seconds},
               {"produceRate", e.produce_rate},
               {"lag", e.lag},
               {"replicas", e.replicas},
               {"running", e.running},
               {"desired", e.desired},
               {"ceiling", e.ceiling},
               {"reason", policy::ReasonName(e.reason)},
               {"message", e.message},
           });
    separator = ",\n";
  }
  out << "\n]\n}\n";
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
void PrintTable(const sim::Result& result, const SimulateOptions& options, const policy::Spec& spec,
                int32_t poll_interval_seconds) {
  std::ostream& out = std::cout;
  out << std::right << std::setw(10) << "time" << std::setw(12) << "rate/s" << std::setw(12)
      << "lag" << std::setw(9) << "replicas" << std::setw(8) << "desired" << std::setw(8)
      << "ceiling"
      << "  " << std::left << std::setw(22) << "reason"
      << "message\n";
  size_t shown = 0;
  const auto& timeline = result.timeline;
  for (size_t i = 0; i < timeline.size(); ++i) {
    const sim::TimelineEntry& e = timeline[i];
    bool changed = e.desired != e.replicas || i == 0 || i + 1 == timeline.size() ||
                   e.reason != timeline[i - 1].reason;
    if (!changed) continue;
    ++shown;
    out << std::right << std::setw(10) << FormatTime(e.time_seconds) << std::setw(12)
        << e.produce_rate << std::setw(12) << e.lag << std::setw(9) << e.replicas << std::setw(8)
        << e.desired << std::setw(8) << e.ceiling << "  " << std::left << std::setw(22)
        << policy::ReasonName(e.reason) << e.message << "\n";
  }
  out << "(" << shown << " of " << timeline.size()
      << " polls shown: the first, the last, and those that changed the replicas or the "
         "reason; --output json has all)\n\nsummary\n";
  Json summary = SummaryJson(result.summary, options, spec, poll_interval_seconds);
  for (const auto& [key, value] : summary.items()) {
    out << "  " << std::left << std::setw(24) << key << value.dump() << "\n";
  }
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
  if (options.duration_seconds > 0) config.duration_seconds = options.duration_seconds;

  StatusOr<sim::Result> result = sim::Simulate(*trace, config, policy_spec);
  if (!result.ok()) {
    std::cerr << "groupscaler simulate: " << result.status().message() << "\n";
    return kExitUsage;
  }
  if (options.output == "json") {
    PrintJson(*result, options, policy_spec, poll_interval_seconds);
  } else {
    PrintTable(*result, options, policy_spec, poll_interval_seconds);
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
  app->footer(
      "The model: one topic of --partitions partitions (named after the spec's first topic), "
      "assigned to the running replicas as Kafka's range assignor does; each replica consumes "
      "at most --replica-rate messages per second from its own partitions. The group starts "
      "with minReplicas running replicas and empty partitions. Without --spec the policy's "
      "defaults apply (minReplicas 1, lagThreshold 1000, balanced alignment, the HPA's "
      "behavior) with maxReplicas = --partitions and a poll every 10 s.");
  return Command{app, [options] {
                   // Nothing may escape as a crash; a failure here is a bug
                   // of ours, reported as one line.
                   try {
                     return RunSimulate(*options);
                   } catch (const std::exception& e) {
                     std::cerr << "groupscaler simulate: internal error: " << e.what() << "\n";
                     return kExitError;
                   }
                 }};
}

}  // namespace groupscaler::cli
