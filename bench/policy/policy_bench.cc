// The policy benchmark of issue 7: per trace, groupscaler at its defaults
// (the throughput policy), the lag policy, KEDA's Kafka scaler behind an HPA
// with its lagThreshold swept (the best reported) and the oracle, all in the
// same model of a consumer group (sim/model.h); then groupscaler's targets,
// PASS or MISS with the margin. Run by bench/run-policy-bench.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "policy/types.h"
#include "sim/keda.h"
#include "sim/model.h"
#include "sim/oracle.h"
#include "sim/trace.h"

namespace groupscaler::sim {
namespace {

// lagThreshold values KEDA is tried with on every trace.
constexpr int64_t kKedaThresholds[] = {50,   100,  200,  300,  500,  750,   1000,
                                       1500, 2000, 3000, 5000, 7500, 10000, 20000};

struct Figures {
  std::string policy;
  Summary summary;
};

void PrintRow(const Figures& f) {
  const Summary& s = f.summary;
  std::printf("  %-28s %12lld %9lld %10lld %11lld %11lld\n", f.policy.c_str(),
              static_cast<long long>(s.replica_seconds), static_cast<long long>(s.max_lag_seconds),
              static_cast<long long>(s.seconds_above_target),
              static_cast<long long>(s.direction_changes), static_cast<long long>(s.rebalances));
}

void Target(const char* what, bool pass, const std::string& margin, int* misses) {
  std::printf("  %-4s %-44s %s\n", pass ? "PASS" : "MISS", what, margin.c_str());
  if (!pass) ++*misses;
}

std::string Format(const char* format, double a, double b, double c) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, format, a, b, c);
  return buffer;
}

// Runs every policy on one trace and prints its table and targets; returns
// the targets missed, or -1 when the model refused the input.
int BenchTrace(const std::string& path, const ModelConfig& config) {
  StatusOr<Trace> trace = LoadTraceFile(path);
  if (!trace.ok()) {
    std::cerr << trace.status().message() << "\n";
    return -1;
  }
  policy::Spec spec;  // the policy's defaults, as `simulate` without --spec
  spec.max_replicas = config.partitions;

  std::vector<Figures> rows;
  auto run = [&](const std::string& name, const StatusOr<Result>& result) {
    if (!result.ok()) {
      std::cerr << path << ": " << name << ": " << result.status().message() << "\n";
      return false;
    }
    rows.push_back({name, result->summary});
    return true;
  };

  policy::Spec throughput = spec;
  throughput.policy_type = policy::PolicyType::kThroughput;
  if (!run("groupscaler (throughput)", Simulate(*trace, config, throughput))) return -1;
  policy::Spec lag = spec;
  lag.policy_type = policy::PolicyType::kLag;
  if (!run("lag", Simulate(*trace, config, lag))) return -1;

  ModelConfig keda_config = config;
  keda_config.poll_interval_seconds = kHpaSyncPeriodSeconds;
  std::optional<Figures> best_keda;
  std::string sweep;
  for (int64_t threshold : kKedaThresholds) {
    KedaConfig keda = KedaConfigFromSpec(spec);
    keda.lag_threshold = threshold;
    KedaScaler scaler(keda);
    StatusOr<Result> result = Simulate(*trace, keda_config, spec, scaler.AsDecideFunction());
    if (!result.ok()) {
      std::cerr << path << ": keda: " << result.status().message() << "\n";
      return -1;
    }
    const Summary& s = result->summary;
    sweep += " " + std::to_string(threshold) + ":" + std::to_string(s.seconds_above_target) + "/" +
             std::to_string(s.replica_seconds);
    if (!best_keda ||
        std::tie(s.seconds_above_target, s.replica_seconds) <
            std::tie(best_keda->summary.seconds_above_target, best_keda->summary.replica_seconds)) {
      best_keda = Figures{"keda (lagThreshold " + std::to_string(threshold) + ")", s};
    }
  }
  rows.push_back(*best_keda);
  if (!run("oracle", SimulateOracle(*trace, config, spec))) return -1;

  const int64_t duration = RunLength(*trace, config);
  std::printf("\n%s: %lld s, %d partitions, %lld messages/s per replica, time-lag target %lld s\n",
              std::filesystem::path(path).filename().c_str(), static_cast<long long>(duration),
              config.partitions, static_cast<long long>(config.replica_rate),
              static_cast<long long>(config.lag_seconds_target));
  std::printf("  %-28s %12s %9s %10s %11s %11s\n", "policy", "replica-s", "maxLagS", "secAbove",
              "dirChanges", "rebalances");
  for (const Figures& f : rows) PrintRow(f);
  std::printf("  keda sweep (lagThreshold:secAbove/replica-s):%s\n", sweep.c_str());

  const Summary& ours = rows[0].summary;
  const Summary& keda = best_keda->summary;
  const Summary& oracle = rows.back().summary;
  const double rs = static_cast<double>(ours.replica_seconds);
  int misses = 0;
  Target("seconds above target <= best keda's",
         ours.seconds_above_target <= keda.seconds_above_target,
         Format("(%.0f vs %.0f: margin %+.0f s)", static_cast<double>(ours.seconds_above_target),
                static_cast<double>(keda.seconds_above_target),
                static_cast<double>(keda.seconds_above_target - ours.seconds_above_target)),
         &misses);
  const double keda_ratio = rs / static_cast<double>(keda.replica_seconds);
  Target("replica-seconds <= 80% of best keda's", keda_ratio <= 0.8,
         Format("(%.0f%% of %.0f; margin %+.0f points)", 100 * keda_ratio,
                static_cast<double>(keda.replica_seconds), 100 * (0.8 - keda_ratio)),
         &misses);
  const bool changes_pass = 2 * ours.direction_changes <= keda.direction_changes;
  Target("direction changes <= half of best keda's", changes_pass,
         Format("(%.0f vs %.0f: margin %+.1f)", static_cast<double>(ours.direction_changes),
                static_cast<double>(keda.direction_changes),
                keda.direction_changes / 2.0 - static_cast<double>(ours.direction_changes)),
         &misses);
  const double oracle_ratio =
      rs / static_cast<double>(std::max<int64_t>(1, oracle.replica_seconds));
  Target("replica-seconds within 15% of the oracle's", oracle_ratio <= 1.15,
         Format("(%+.1f%% vs %.0f; margin %+.1f points)", 100 * (oracle_ratio - 1),
                static_cast<double>(oracle.replica_seconds), 100 * (1.15 - oracle_ratio)),
         &misses);
  return misses;
}

}  // namespace
}  // namespace groupscaler::sim

int main(int argc, char** argv) {
  using namespace groupscaler;
  CLI::App app("The policy benchmark: groupscaler, lag, KEDA (swept) and the oracle per trace.");
  std::vector<std::string> traces;
  sim::ModelConfig config{.partitions = 12, .replica_rate = 500};
  int64_t duration = 0;
  app.add_option("traces", traces, "Trace CSV files")->required()->check(CLI::ExistingFile);
  app.add_option("--partitions", config.partitions, "Partitions of the topic")
      ->capture_default_str();
  app.add_option("--replica-rate", config.replica_rate, "Messages/s one replica consumes")
      ->capture_default_str();
  app.add_option("--startup-seconds", config.startup_seconds)->capture_default_str();
  app.add_option("--rebalance-pause-seconds", config.rebalance_pause_seconds)
      ->capture_default_str();
  app.add_option("--lag-seconds-target", config.lag_seconds_target)->capture_default_str();
  app.add_option("--duration", duration, "Seconds per trace (default: the trace's own length)");
  CLI11_PARSE(app, argc, argv);
  if (duration > 0) config.duration_seconds = duration;

  int misses = 0;
  int targets = 0;
  for (const std::string& path : traces) {
    int missed = sim::BenchTrace(path, config);
    if (missed < 0) return 2;
    misses += missed;
    targets += 4;
  }
  std::printf("\n%d of %d targets met\n", targets - misses, targets);
  return 0;
}
