#include "cli/demo_command.h"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "demo/demo.h"
#include "kafka/auth.h"
#include "sim/trace.h"

namespace groupscaler::cli {
namespace {

struct DemoFlags {
  demo::DemoOptions options;
  int64_t duration_seconds = 90;
  std::string profile_path;
  double kill_at = -1;
  const CLI::Option* group = nullptr;
  const CLI::Option* session_timeout = nullptr;
};

// The lowest session.timeout.ms a Kafka broker accepts by default
// (group.min.session.timeout.ms); the embedded mock takes less.
constexpr int kBrokerMinSessionTimeoutMs = 6000;

// "groupscaler-demo-" and 8 random hex digits: a topic no one else uses.
std::string UniqueTopic() {
  std::random_device random;
  return fmt::format("groupscaler-demo-{:08x}", random());
}

// The settings for an existing cluster: its auth file, and a topic and
// group of the demo's own, which it may delete at the end. An error is the
// usage message.
std::optional<std::string> ConfigureExistingKafka(DemoFlags& flags) {
  demo::DemoOptions& o = flags.options;
  if (o.bootstrap_servers.empty()) {
    if (o.keep_topic) return "--keep-topic needs --bootstrap-servers";
    if (!o.auth_file.empty()) return "--auth-file needs --bootstrap-servers";
    return std::nullopt;
  }
  // Deleting a group deletes its offsets on every topic: never one the demo
  // did not make.
  if (flags.group->count() > 0) {
    return "--group cannot be chosen with --bootstrap-servers: the demo makes its own group and "
           "deletes it at the end";
  }
  if (!o.auth_file.empty()) {
    StatusOr<kafka::AuthSettings> auth = kafka::ReadAuthFile(o.auth_file);
    if (!auth.ok()) return auth.status().message();
    StatusOr<kafka::AuthConfig> config = kafka::BuildAuthConfig(*auth);
    if (!config.ok()) return o.auth_file + ": " + config.status().message();
    if (config->msk_iam || config->oauth) {
      // The demo's producer and consumer processes take no token callback.
      return o.auth_file + ": sasl " + auth->at("sasl") +
             " is supported by `lag` and `controller`, not the demo";
    }
    o.auth = std::move(auth).value();
  }
  o.topic = UniqueTopic();
  o.group_id = o.topic + "-consumer";
  if (flags.session_timeout->count() == 0) o.session_timeout_ms = kBrokerMinSessionTimeoutMs;
  return std::nullopt;
}

bool IsExecutable(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::string> FindConsumerBinary() {
  constexpr const char* kName = "example_consumer";
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path dir = self.parent_path();
    for (const std::filesystem::path& candidate :
         {dir / kName, dir / "examples" / "consumer" / kName}) {
      if (IsExecutable(candidate)) return candidate.string();
    }
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const std::filesystem::path candidate = std::filesystem::path(rest.substr(0, colon)) / kName;
      if (IsExecutable(candidate)) return candidate.string();
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return std::nullopt;
}

int RunDemoCommand(DemoFlags& flags) {
  demo::DemoOptions& o = flags.options;
  o.duration = std::chrono::seconds(flags.duration_seconds);
  if (flags.kill_at >= 0) o.kill_at_seconds = flags.kill_at;
  if (o.min_replicas > o.max_replicas) {
    std::cerr << "groupscaler demo: --min-replicas must not exceed --max-replicas\n";
    return kExitUsage;
  }
  if (std::optional<std::string> bad = ConfigureExistingKafka(flags)) {
    std::cerr << "groupscaler demo: " << *bad << "\n";
    return kExitUsage;
  }
  if (flags.profile_path.empty()) {
    o.profile = demo::DefaultProfile();
  } else {
    StatusOr<sim::Trace> trace = sim::LoadTraceFile(flags.profile_path);
    if (!trace.ok()) {
      std::cerr << "groupscaler demo: " << trace.status().message() << "\n";
      return kExitUsage;
    }
    o.profile = std::move(trace).value();
  }
  if (o.consumer_binary.empty()) {
    std::optional<std::string> found = FindConsumerBinary();
    if (!found) {
      std::cerr << "groupscaler demo: example_consumer not found next to groupscaler, in the "
                   "build tree or on PATH; build it (cmake --build BUILD --target "
                   "example_consumer) or pass --consumer-binary\n";
      return kExitUsage;
    }
    o.consumer_binary = *found;
  } else if (!IsExecutable(o.consumer_binary)) {
    std::cerr << "groupscaler demo: --consumer-binary " << o.consumer_binary
              << " is not an executable file\n";
    return kExitUsage;
  }
  o.tty = ::isatty(STDOUT_FILENO) == 1;
  // The view is the output; the reconciler's log lines would tear it.
  spdlog::set_level(spdlog::level::off);

  // Taken synchronously by the demo's loop; blocked before any thread
  // starts so that every thread inherits the mask (the consumers get it
  // cleared again).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return demo::RunDemo(o, std::cout) == 0 ? kExitOk : kExitError;
}

}  // namespace

Command AddDemoCommand(CLI::App& parent) {
  auto flags = std::make_shared<DemoFlags>();
  demo::DemoOptions& o = flags->options;
  CLI::App* app = parent.add_subcommand(
      "demo",
      "Run groupscaler on one machine: an embedded Kafka (3 brokers, topic mt-c400, 12 "
      "partitions) or an existing one (--bootstrap-servers), a producer following a load "
      "profile, consumer processes in one group, and the controller's reconcile loop scaling "
      "them. Prints a live view and a summary that checks Kafka's group rules.");
  app->add_option("--bootstrap-servers", o.bootstrap_servers,
                  "Run on this Kafka (HOST:PORT,...) instead of the embedded one: the demo "
                  "creates its own topic groupscaler-demo-XXXXXXXX (--partitions) and group, "
                  "and deletes both at the end");
  app->add_option("--auth-file", o.auth_file,
                  "SASL/TLS settings for --bootstrap-servers, as groupscaler lag's (key=value "
                  "lines; see src/kafka/auth.h); the producer and consumers use them too");
  app->add_flag("--keep-topic", o.keep_topic,
                "With --bootstrap-servers: keep the topic and groups at the end");
  app->add_option("--duration", flags->duration_seconds, "Seconds to run (Ctrl-C ends earlier)")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 3600}));
  app->add_option("--profile", flags->profile_path,
                  "Load profile: CSV time_seconds,produce_rate (the simulate trace format). "
                  "Default: quiet, surge, steady, quiet")
      ->check(CLI::ExistingFile);
  app->add_option("--partitions", o.partitions, "Partitions of the demo's topic")
      ->check(CLI::Range(1, 256));
  flags->group =
      app->add_option("--group", o.group_id,
                      "The consumers' group.id on the embedded Kafka (a new one is a replay from "
                      "--offset-reset)");
  app->add_option("--offset-reset", o.offset_reset,
                  "Where a partition without a committed offset starts: the consumers' "
                  "auto.offset.reset and the autoscaler's offsetResetPolicy")
      ->check(CLI::IsMember({"earliest", "latest"}));
  app->add_option("--process-ms", o.process_ms, "Each consumer's processing time per message")
      ->check(CLI::Range(0, 10000));
  flags->session_timeout =
      app->add_option("--session-timeout-ms", o.session_timeout_ms,
                      "The consumers' session.timeout.ms: how long a dead consumer keeps its "
                      "partitions (default 3000, or 6000 with --bootstrap-servers: a broker's "
                      "default minimum)")
          ->check(CLI::Range(3000, 300000));
  app->add_option("--initial-replicas", o.initial_replicas,
                  "Consumer processes before the first decision")
      ->check(CLI::Range(0, 256));
  app->add_option("--min-replicas", o.min_replicas,
                  "The autoscaler's minReplicas (0: scale to zero)")
      ->check(CLI::Range(0, 256));
  app->add_option("--max-replicas", o.max_replicas,
                  "The autoscaler's maxReplicas (the ceiling is also capped by partitions)")
      ->check(CLI::Range(1, 256));
  app->add_option("--lag-threshold", o.lag_threshold, "The autoscaler's lagThreshold")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  app->add_option("--poll-interval", o.poll_interval_seconds,
                  "The autoscaler's pollIntervalSeconds (one view line per poll)")
      ->check(CLI::Range(1, 60));
  app->add_option("--cooldown", o.cooldown_seconds,
                  "The autoscaler's cooldownSeconds (idle this long before zero)")
      ->check(CLI::Range(0, 3600));
  app->add_option("--scale-down-window", o.scale_down_window_seconds,
                  "The autoscaler's behavior.scaleDown.stabilizationWindowSeconds")
      ->check(CLI::Range(0, 3600));
  app->add_option("--rebalance-settle", o.rebalance_settle_seconds,
                  "The autoscaler's policy.rebalanceSettleSeconds (changes held while the group "
                  "rebalances)")
      ->check(CLI::Range(0, 3600));
  app->add_flag("--anti-pattern", o.anti_pattern,
                "Give each replica its own group.id, the mistake: every message is processed "
                "once per replica");
  app->add_option("--kill-at", flags->kill_at,
                  "Seconds after start to SIGKILL the oldest consumer (once every partition has "
                  "one owner), to show failover")
      ->check(CLI::Range(0.0, 86400.0));
  app->add_option("--summary-json", o.summary_json, "Also write the summary to FILE as JSON");
  app->add_option("--consumer-binary", o.consumer_binary,
                  "The consumer to run (default: example_consumer next to groupscaler, in the "
                  "build tree, or on PATH)");
  app->add_option("--consumer-log", o.consumer_log, "Append the consumers' stderr to FILE");
  app->add_option("--metrics-bind-address", o.metrics_bind_address,
                  "Serve the controller's Prometheus /metrics on HOST:PORT or :PORT (port 0 "
                  "picks a free one)");
  return Command{app, [flags] { return RunDemoCommand(*flags); }};
}

}  // namespace groupscaler::cli
