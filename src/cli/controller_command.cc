#include "cli/controller_command.h"

#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "common/heap_trimmer.h"
#include "controller/controller.h"
#include "controller/health_server.h"
#include "controller/kafka_metrics.h"
#include "controller/leader_elector.h"
#include "controller/leader_fence.h"
#include "controller/leader_terms.h"
#include "kafka/batching_lag_reader.h"
#include "kafka/lag_reader.h"
#include "kafka/rdkafka_lag_reader.h"
#include "kube/config.h"
#include "kube/kube_client.h"
#include "metrics/metrics.h"

namespace groupscaler::cli {
namespace {

// How often free heap pages go back to the kernel (common/heap_trimmer.h).
constexpr std::chrono::seconds kHeapTrimInterval{5};

struct ControllerFlags {
  std::string kubeconfig;
  std::string context;
  std::string namespace_name;
  bool leader_elect = false;
  std::string leader_election_namespace;
  int workers = 64;
  double kube_api_qps = 50;
  int kube_api_burst = 300;
  int kafka_metadata_max_age_seconds = 60;
  std::string metrics_bind_address = "0";
  bool metrics_partition_lag = false;
  std::string health_probe_bind_address = ":8081";
  std::string log_level = "info";
  std::string log_format;  // empty: json unless stderr is a terminal
};

// The log message as a JSON string body: spdlog's %v is not escaped.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : msg.payload) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
            dest.append(esc, esc + sizeof esc);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

void ConfigureLogging(const ControllerFlags& flags) {
  auto logger = std::make_shared<spdlog::logger>("groupscaler",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  const bool json =
      flags.log_format.empty() ? !::isatty(STDERR_FILENO) : flags.log_format == "json";
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (json) {
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(flags.log_level));
  logger->flush_on(spdlog::level::trace);
  // spdlog's default logger is the one process-wide setting this program
  // has; it is set once here, before any thread starts.
  spdlog::set_default_logger(std::move(logger));
}

// --kubeconfig, else $KUBECONFIG, else in-cluster when running in a pod,
// else ~/.kube/config: the order kubectl and controller-runtime use.
StatusOr<kube::RestConfig> LoadRestConfig(const ControllerFlags& flags) {
  std::string path = flags.kubeconfig;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
      path = env;
      path = path.substr(0, path.find(':'));  // the first file of a list
    }
  }
  if (path.empty() && std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    if (!flags.context.empty()) {
      return InvalidArgumentError("--context needs a kubeconfig (running in-cluster)");
    }
    return kube::LoadInClusterConfig(kube::ProcessEnv());
  }
  if (path.empty()) {
    if (const char* home = std::getenv("HOME"); home != nullptr) {
      const std::string candidate = std::string(home) + "/.kube/config";
      std::error_code ec;
      if (std::filesystem::exists(candidate, ec)) path = candidate;
    }
  }
  if (path.empty()) {
    return InvalidArgumentError(
        "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod");
  }
  return kube::LoadKubeconfigFile(path, flags.context);
}

// SIGTERM and SIGINT, blocked in this thread and so in every thread started
// from here on: WaitForStop takes them synchronously.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

bool Disabled(const std::string& bind_address) {
  return bind_address == "0" || bind_address.empty();
}

// /metrics on --metrics-bind-address; null when disabled. Error: the address.
StatusOr<std::unique_ptr<metrics::Metrics>> ServeMetrics(const ControllerFlags& flags) {
  if (Disabled(flags.metrics_bind_address)) return std::unique_ptr<metrics::Metrics>();
  auto served = std::make_unique<metrics::Metrics>(
      metrics::MetricsOptions{.partition_lag = flags.metrics_partition_lag});
  if (Status status = served->Serve(flags.metrics_bind_address); !status.ok()) return status;
  spdlog::info("serving /metrics on port {}", served->port());
  served->SetLeader(!flags.leader_elect);
  return served;
}

// The API server client: the flags' rate limits, a timeout that keeps a call
// in flight at SIGTERM inside the 5 s a pod is given, requests counted.
StatusOr<std::unique_ptr<kube::KubeClient>> NewKubeClient(const ControllerFlags& flags,
                                                          const kube::RestConfig& config,
                                                          controller::MetricsSink* sink) {
  kube::ClientOptions options;
  options.qps = flags.kube_api_qps;
  options.burst = flags.kube_api_burst;
  options.timeout = std::chrono::seconds(4);
  if (sink != nullptr) {
    options.on_request = [sink](std::string_view verb, std::string_view code) {
      sink->CountKubeRequest(verb, code);
    };
  }
  return kube::KubeClient::Create(config, options);
}

// With --leader-elect: the elector of the Lease in --leader-election-namespace,
// else the config's namespace, else default; null without.
std::unique_ptr<controller::LeaderElector> NewElector(const ControllerFlags& flags,
                                                      const kube::RestConfig& config,
                                                      kube::KubeClient& client,
                                                      const Clock& clock) {
  if (!flags.leader_elect) return nullptr;
  std::string lease_namespace = flags.leader_election_namespace;
  if (lease_namespace.empty()) lease_namespace = config.namespace_name;
  if (lease_namespace.empty()) lease_namespace = "default";
  return std::make_unique<controller::LeaderElector>(
      &client, &clock,
      controller::LeaderElectionConfig{.namespace_name = lease_namespace,
                                       .identity = controller::DefaultIdentity()});
}

// /healthz and /readyz on --health-probe-bind-address; null when disabled.
// A follower is ready (healthy and waiting); a leader once it has listed
// every autoscaler.
StatusOr<std::unique_ptr<controller::HealthServer>> ServeHealth(
    const ControllerFlags& flags, const controller::LeaderTerms& terms,
    const controller::LeaderElector* elector) {
  if (Disabled(flags.health_probe_bind_address)) {
    return std::unique_ptr<controller::HealthServer>();
  }
  StatusOr<std::unique_ptr<controller::HealthServer>> started =
      controller::HealthServer::Start(flags.health_probe_bind_address, [&terms, elector] {
        if (elector != nullptr && !elector->IsLeader()) return true;
        return terms.synced();
      });
  if (started.ok()) spdlog::info("serving /healthz and /readyz on port {}", (*started)->port());
  return started;
}

// Waits for SIGTERM or SIGINT.
void WaitForStop(const sigset_t& signals) {
  int signo = 0;
  while (sigwait(&signals, &signo) != 0) {
  }
  spdlog::info("received {}, stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
}

int UsageError(const Status& status) {
  std::cerr << "groupscaler controller: " << status.message() << "\n";
  return kExitUsage;
}

// One reader per Kafka cluster, shared by its autoscalers, whose concurrent
// observations are merged into shared cycles (each counted once by the
// metrics, through `kafka_metrics` when there is a `sink`).
kafka::LagReaderPool NewReaderPool(const ControllerFlags& flags, controller::MetricsSink* sink,
                                   std::optional<controller::KafkaMetrics>& kafka_metrics) {
  kafka::LagReaderFactory factory = kafka::RdKafkaLagReaderFactory(
      {.metadata_max_age = std::chrono::seconds(flags.kafka_metadata_max_age_seconds)});
  if (sink != nullptr) factory = kafka_metrics.emplace(sink).Instrument(std::move(factory));
  return kafka::LagReaderPool(kafka::Batching(std::move(factory)));
}

// Where a term's controller writes: the API client itself, or with leader
// election the fence in front of it (each write checks the Lease).
struct TermWriters {
  kube::AutoscalerClient* autoscalers;
  kube::ScaleClient* scales;
  kube::EventRecorder* events;
};

// The controller of each term of leadership, over the process's clients,
// readers and metrics.
controller::LeaderTerms::Factory TermFactory(const ControllerFlags& flags, kube::KubeClient& client,
                                             TermWriters writers, kafka::LagReaderPool& readers,
                                             const Clock& clock, controller::MetricsSink* sink,
                                             const controller::LeaderElector* elector) {
  return [&flags, &client, writers, &readers, &clock, sink, elector] {
    return std::make_unique<controller::Controller>(
        controller::ReconcilerDeps{.autoscalers = writers.autoscalers,
                                   .scales = writers.scales,
                                   .events = writers.events,
                                   .secrets = &client,
                                   .hpas = &client,
                                   .workloads = &client,
                                   .workload_watcher = &client,
                                   .readers = &readers,
                                   .clock = &clock,
                                   .metrics = sink},
        controller::ControllerOptions{
            .namespace_name = flags.namespace_name,
            .workers = {.initial = std::min(2, flags.workers), .most = flags.workers},
            .may_reconcile = elector
                                 ? std::function<bool()>([elector] { return elector->IsLeader(); })
                                 : std::function<bool()>()});
  };
}

// Begins the one term now without an elector; with one, a thread that
// begins a term whenever this process becomes leader and ends it when it
// stops being leader, then campaigns again.
std::jthread StartOrCampaign(controller::LeaderElector* elector, controller::LeaderTerms& terms,
                             controller::MetricsSink* sink) {
  if (!elector) {
    terms.Begin();
    return {};
  }
  spdlog::info("leader election: {} waiting for lease {}/{}", elector->config().identity,
               elector->config().namespace_name, elector->config().name);
  return std::jthread([elector, &terms, sink](std::stop_token stop) {
    elector->Run(
        stop,
        [&] {
          if (sink != nullptr) sink->SetLeader(true);
          terms.Begin();
        },
        [&] {
          terms.End();
          if (sink != nullptr) sink->SetLeader(false);
          spdlog::warn("leadership lost: reconciles stopped, campaigning again");
        });
  });
}

// Stops in order: the workers first, so that nothing is written once the
// Lease is released, then the election (which releases it) and the health
// probes; /metrics stops alongside (civetweb needs up to 2 s).
void Shutdown(metrics::Metrics* metrics, controller::LeaderTerms& terms, std::jthread& election,
              std::unique_ptr<controller::HealthServer>& health) {
  std::jthread metrics_stop;
  if (metrics) metrics_stop = std::jthread([metrics] { metrics->StopServing(); });
  terms.End();
  if (election.joinable()) {
    election.request_stop();
    election.join();
  }
  health.reset();
}

int RunController(const ControllerFlags& flags) {
  const sigset_t signals = BlockStopSignals();
  ConfigureLogging(flags);
  // Metrics first: a bad address is a usage error however the rest goes.
  StatusOr<std::unique_ptr<metrics::Metrics>> metrics = ServeMetrics(flags);
  if (!metrics.ok()) return UsageError(metrics.status());
  controller::MetricsSink* sink = metrics->get();
  StatusOr<kube::RestConfig> config = LoadRestConfig(flags);
  if (!config.ok()) return UsageError(config.status());
  StatusOr<std::unique_ptr<kube::KubeClient>> client = NewKubeClient(flags, *config, sink);
  if (!client.ok()) return UsageError(client.status());
  kube::KubeClient& kube_client = **client;

  RealClock clock;
  const HeapTrimmer trimmer(&clock, kHeapTrimInterval);
  std::optional<controller::KafkaMetrics> kafka_metrics;
  kafka::LagReaderPool readers = NewReaderPool(flags, sink, kafka_metrics);
  const std::unique_ptr<controller::LeaderElector> elector =
      NewElector(flags, *config, kube_client, clock);
  std::optional<controller::LeaderFence> fence;
  TermWriters writers{&kube_client, &kube_client, &kube_client};
  if (elector) {
    fence.emplace(&kube_client, &kube_client, &kube_client,
                  [leader = elector.get()] { return leader->IsLeader(); });
    writers = {&*fence, &*fence, &*fence};
  }
  controller::LeaderTerms terms(
      TermFactory(flags, kube_client, writers, readers, clock, sink, elector.get()));
  StatusOr<std::unique_ptr<controller::HealthServer>> health =
      ServeHealth(flags, terms, elector.get());
  if (!health.ok()) return UsageError(health.status());

  std::jthread election = StartOrCampaign(elector.get(), terms, sink);
  WaitForStop(signals);
  Shutdown(metrics->get(), terms, election, *health);
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace

Command AddControllerCommand(CLI::App& parent) {
  auto flags = std::make_shared<ControllerFlags>();
  CLI::App* app = parent.add_subcommand(
      "controller",
      "Watch ConsumerGroupAutoscalers and scale their Deployments and StatefulSets by their "
      "consumer group's lag, never past the partition count.");
  app->add_option("--kubeconfig", flags->kubeconfig,
                  "Kubeconfig file (default: $KUBECONFIG, in-cluster config in a pod, then "
                  "~/.kube/config)")
      ->type_name("FILE");
  app->add_option("--context", flags->context, "Kubeconfig context (default: current-context)");
  app->add_option("--namespace", flags->namespace_name,
                  "Watch only this namespace (default: every namespace)");
  app->add_flag("--leader-elect", flags->leader_elect,
                "Elect a leader on a coordination.k8s.io Lease; only the leader reconciles");
  app->add_option("--leader-election-namespace", flags->leader_election_namespace,
                  "Namespace of the Lease (default: the kubeconfig's or the pod's namespace)");
  app->add_option("--workers", flags->workers,
                  "The most concurrent reconciles: the controller starts 2 workers and adds "
                  "one whenever an autoscaler due for a reconcile finds every worker busy "
                  "(groupscaler_workers shows how many run)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app->add_option("--kube-api-qps", flags->kube_api_qps,
                  "Client-side limit of API requests per second (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  app->add_option("--kube-api-burst", flags->kube_api_burst, "Burst above --kube-api-qps")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_option("--kafka-metadata-max-age", flags->kafka_metadata_max_age_seconds,
                  "Seconds between metadata refreshes per Kafka cluster: how soon added "
                  "partitions raise the ceiling (a missing topic or a partition error "
                  "refreshes sooner)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app->add_option("--metrics-bind-address", flags->metrics_bind_address,
                  "Address of /metrics, host:port or :port (0: off)")
      ->capture_default_str();
  app->add_flag("--metrics-partition-lag", flags->metrics_partition_lag,
                "Also export the lag of every partition (one series per partition)");
  app->add_option("--health-probe-bind-address", flags->health_probe_bind_address,
                  "Address of /healthz and /readyz, host:port or :port (0: off)")
      ->capture_default_str();
  app->add_option("--log-level", flags->log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app->add_option("--log-format", flags->log_format,
                  "json or text (default: json unless stderr is a terminal)")
      ->check(CLI::IsMember({"json", "text"}));
  return Command{app, [flags] { return RunController(*flags); }};
}

}  // namespace groupscaler::cli
