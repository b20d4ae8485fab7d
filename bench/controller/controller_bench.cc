// controller_bench: the real `groupscaler controller` binary over many
// ConsumerGroupAutoscalers on mock Kafka clusters, against the test API
// server. Not a ctest test (a run takes a few minutes); run it by hand or
// through bench/run-controller-bench:
//
//   controller_bench [AUTOSCALERS GROUPS] [--clusters N] [--namespaces N]
//                    [--partitions N] [--workers N] [--default-api-limits]
//                    [--first-pass-timeout SECONDS]
//
// 1,000 autoscalers on 100 groups of one cluster unless told otherwise.
// Group g lives on cluster g % clusters, on topic-((g / clusters) % 10)
// there (10 topics a cluster, --partitions each, 12 by default). Autoscaler
// i consumes as group i % groups, lives in namespace ns-(i % namespaces)
// (one namespace per 100 autoscalers by default) and scales its own
// Deployment app-i. The controller runs with --kube-api-qps 1000
// --kube-api-burst 2000, or with its own defaults (--default-api-limits).
//
// Prints: the first full pass (every status written); the API requests of
// a 60 s steady window by kind and per autoscaler per minute, beside the
// HPA's for the same objects; the Kafka requests per poll by API, counted
// by the mock brokers, and the controller's own counter over the window;
// the time from a lag step to the PATCHes of /scale; the controller's peak
// RSS; the time to stop.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/http_get.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace gs = groupscaler;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

using Steady = std::chrono::steady_clock;

constexpr int kPollSeconds = 10;
constexpr int kTopics = 10;  // per cluster
constexpr int kSteadyWindowSeconds = 60;
// The HPA controller's sync period (--horizontal-pod-autoscaler-sync-period).
constexpr int kHpaSyncSeconds = 15;

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int Fail(const std::string& what) {
  std::fprintf(stderr, "controller_bench: %s\n", what.c_str());
  return 1;
}

// ---------------------------------------------------------------------------
// Options and the layout of groups, topics, namespaces.

struct Options {
  int autoscalers = 1000;
  int groups = 100;
  int clusters = 1;
  int namespaces = 0;  // 0: one per 100 autoscalers
  int partitions = 12;
  int workers = 0;  // 0: the controller's default
  int first_pass_timeout_seconds = 120;
  bool default_api_limits = false;
};

constexpr char kUsage[] =
    "usage: controller_bench [AUTOSCALERS GROUPS] [--clusters N] [--namespaces N] "
    "[--partitions N] [--workers N] [--default-api-limits] [--first-pass-timeout SECONDS]";

std::optional<Options> ParseOptions(int argc, char** argv) {
  static const std::map<std::string, int Options::*> kFlags = {
      {"--clusters", &Options::clusters},
      {"--namespaces", &Options::namespaces},
      {"--partitions", &Options::partitions},
      {"--workers", &Options::workers},
      {"--first-pass-timeout", &Options::first_pass_timeout_seconds}};
  Options o;
  std::vector<int> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--default-api-limits") {
      o.default_api_limits = true;
    } else if (!arg.starts_with("--")) {
      positional.push_back(std::atoi(arg.c_str()));
    } else if (auto flag = kFlags.find(arg); flag != kFlags.end() && i + 1 < argc) {
      o.*(flag->second) = std::atoi(argv[++i]);
    } else {
      return std::nullopt;
    }
  }
  if (positional.size() != 0 && positional.size() != 2) return std::nullopt;
  if (positional.size() == 2) {
    o.autoscalers = positional[0];
    o.groups = positional[1];
  }
  if (o.namespaces == 0) o.namespaces = std::max(1, o.autoscalers / 100);
  const bool valid = o.autoscalers >= 1 && o.groups >= 1 && o.groups <= o.autoscalers &&
                     o.clusters >= 1 && o.clusters <= o.groups && o.namespaces >= 1 &&
                     o.partitions >= 1 && o.workers >= 0 && o.first_pass_timeout_seconds >= 1;
  if (!valid) return std::nullopt;
  return o;
}

int ClusterOf(const Options& o, int group) { return group % o.clusters; }
std::string TopicOf(const Options& o, int group) {
  return "topic-" + std::to_string((group / o.clusters) % kTopics);
}
std::string GroupName(int group) { return "group-" + std::to_string(group); }
int GroupOf(const Options& o, int autoscaler) { return autoscaler % o.groups; }
std::string NamespaceOf(const Options& o, int autoscaler) {
  return "ns-" + std::to_string(autoscaler % o.namespaces);
}

// The autoscalers whose group consumes topic-0 of cluster 0 (the lag step's).
int OnFirstTopic(const Options& o) {
  int n = 0;
  for (int i = 0; i < o.autoscalers; ++i) {
    const int g = GroupOf(o, i);
    n += ClusterOf(o, g) == 0 && TopicOf(o, g) == "topic-0" ? 1 : 0;
  }
  return n;
}

// ---------------------------------------------------------------------------
// The test bed: the API server, the Kafka clusters, the objects.

struct Bed {
  std::unique_ptr<gs::testing::KubeApiServer> server;
  std::vector<std::unique_ptr<gs::testing::MockCluster>> clusters;
};

gs::Status StartClusters(const Options& o, Bed& bed) {
  std::map<std::string, int> topics;
  for (int t = 0; t < kTopics; ++t) topics["topic-" + std::to_string(t)] = o.partitions;
  for (int c = 0; c < o.clusters; ++c) {
    auto cluster = gs::testing::MockCluster::Start(3);
    if (!cluster.ok()) return cluster.status();
    if (gs::Status s = (*cluster)->CreateTopics(topics); !s.ok()) return s;
    bed.clusters.push_back(std::move(cluster).value());
  }
  return gs::Status();
}

// Every group commits offset 0 on every partition of its topic (caught up,
// nothing produced), 8 groups at a time.
gs::Status CommitGroups(const Options& o, const Bed& bed) {
  std::atomic<int> next{0};
  std::mutex mu;
  gs::Status result;
  auto commit_some = [&] {
    for (int g = next++; g < o.groups; g = next++) {
      std::vector<gs::testing::Commit> commits;
      for (int p = 0; p < o.partitions; ++p) commits.push_back({TopicOf(o, g), p, 0});
      gs::Status s = gs::testing::CommitOffsets(bed.clusters[ClusterOf(o, g)]->bootstrap_servers(),
                                                GroupName(g), commits);
      std::lock_guard lock(mu);
      if (result.ok() && !s.ok()) result = s;
    }
  };
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) threads.emplace_back(commit_some);
  }
  return result;
}

json Servers(const std::string& bootstrap) {
  json out = json::array();
  std::stringstream in(bootstrap);
  for (std::string s; std::getline(in, s, ',');) out.push_back(s);
  return out;
}

// A Deployment as a real one looks: a selector and a one-container template.
json Deployment(const std::string& ns, const std::string& name) {
  const json labels = {{"app", name}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"spec",
           {{"replicas", 1},
            {"selector", {{"matchLabels", labels}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec",
               {{"containers",
                 {{{"name", "consumer"}, {"image", "registry.example/consumer:1.0"}}}}}}}}}},
          {"status", {{"replicas", 1}, {"readyReplicas", 1}}}};
}

json Autoscaler(const Options& o, const Bed& bed, int i) {
  const int g = GroupOf(o, i);
  const std::string name = "app-" + std::to_string(i);
  const std::string& bootstrap = bed.clusters[ClusterOf(o, g)]->bootstrap_servers();
  return {{"apiVersion", "groupscaler.io/v1alpha1"},
          {"kind", "ConsumerGroupAutoscaler"},
          {"metadata", {{"name", name}, {"namespace", NamespaceOf(o, i)}}},
          {"spec",
           {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", name}}},
            {"kafka",
             {{"bootstrapServers", Servers(bootstrap)},
              {"groupId", GroupName(g)},
              {"topics", {TopicOf(o, g)}}}},
            {"maxReplicas", o.partitions},
            {"lagThreshold", 100},
            {"alignment", "none"},
            {"pollIntervalSeconds", kPollSeconds}}}};
}

gs::Status UpsertObjects(const Options& o, const Bed& bed) {
  for (int i = 0; i < o.autoscalers; ++i) {
    const std::string name = "app-" + std::to_string(i);
    auto deployment = bed.server->Upsert("deployments", Deployment(NamespaceOf(o, i), name).dump());
    if (!deployment.ok()) return deployment.status();
    auto autoscaler = bed.server->Upsert("consumergroupautoscalers", Autoscaler(o, bed, i).dump());
    if (!autoscaler.ok()) return autoscaler.status();
  }
  return gs::Status();
}

gs::StatusOr<Bed> SetUp(const Options& o) {
  Bed bed;
  auto server = gs::testing::KubeApiServer::Start();
  if (!server.ok()) return server.status();
  bed.server = std::move(server).value();
  if (gs::Status s = StartClusters(o, bed); !s.ok()) return s;
  if (gs::Status s = CommitGroups(o, bed); !s.ok()) return s;
  if (gs::Status s = UpsertObjects(o, bed); !s.ok()) return s;
  return bed;
}

// ---------------------------------------------------------------------------
// The controller.

// A port nobody listens on now (the kernel's pick), for /metrics.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  return bound ? ntohs(addr.sin_port) : -1;
}

std::string WriteKubeconfig(const std::filesystem::path& dir, const std::string& url) {
  const std::string path = (dir / "kubeconfig").string();
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n"
                      << "    server: " << url
                      << "\nusers:\n- name: b\n  user:\n    token: t\ncontexts:\n"
                      << "- name: b\n  context:\n    cluster: b\n    user: b\n"
                      << "current-context: b\n";
  return path;
}

std::vector<std::string> ControllerCommand(const Options& o, const std::string& kubeconfig,
                                           int metrics_port) {
  std::vector<std::string> command = {GROUPSCALER_BINARY,
                                      "controller",
                                      "--kubeconfig",
                                      kubeconfig,
                                      "--metrics-bind-address",
                                      "127.0.0.1:" + std::to_string(metrics_port),
                                      "--health-probe-bind-address",
                                      "0",
                                      "--log-level",
                                      "warn"};
  if (!o.default_api_limits) {
    command.insert(command.end(), {"--kube-api-qps", "1000", "--kube-api-burst", "2000"});
  }
  if (o.workers > 0) command.insert(command.end(), {"--workers", std::to_string(o.workers)});
  return command;
}

// CPU time (user + system) the process has used so far, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // After "pid (comm) ": state is field 3, utime 14, stime 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  if (f.size() < 13) return -1;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Polls `done` every `period` until it holds or `timeout` passes.
bool PollUntil(const std::function<bool()>& done, Steady::duration timeout,
               milliseconds period = milliseconds(20)) {
  const auto deadline = Steady::now() + timeout;
  while (!done()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(period);
  }
  return true;
}

// ---------------------------------------------------------------------------
// The first full pass: every autoscaler's status written once.

bool IsStatusWrite(const gs::testing::RecordedRequest& r) {
  return r.method == "PATCH" && r.path.find("/consumergroupautoscalers/") != std::string::npos &&
         r.path.ends_with("/status");
}

int DistinctStatusWrites(const gs::testing::KubeApiServer& server) {
  std::set<std::string> written;
  for (const auto& r : server.Requests()) {
    if (IsStatusWrite(r)) written.insert(r.path);
  }
  return static_cast<int>(written.size());
}

struct FirstPass {
  std::optional<double> ms;  // unset: not complete within the timeout
  int statuses = 0;          // autoscalers whose status was written
  double cpu_seconds = 0;    // the controller's, until then
};

// Counting the status PATCHes is cheap; copying every recorded request to
// tell distinct autoscalers apart is not, so it waits for the count.
FirstPass WaitForFirstPass(const Options& o, const gs::testing::KubeApiServer& server,
                           pid_t controller, Steady::time_point start) {
  FirstPass pass;
  const bool done = PollUntil(
      [&] {
        if (server.CountRequests("PATCH", "/status") < o.autoscalers) return false;
        return DistinctStatusWrites(server) >= o.autoscalers;
      },
      seconds(o.first_pass_timeout_seconds), milliseconds(100));
  if (done) pass.ms = Ms(Steady::now() - start);
  pass.cpu_seconds = CpuSeconds(controller);
  pass.statuses = DistinctStatusWrites(server);
  return pass;
}

// ---------------------------------------------------------------------------
// API requests by kind: "VERB resource[/subresource]", VERB being LIST or
// WATCH for a collection read.

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream in(path);
  for (std::string s; std::getline(in, s, '/');) {
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

std::string KindOf(const gs::testing::RecordedRequest& r) {
  std::vector<std::string> s = Segments(r.path);
  // /api/v1/... or /apis/GROUP/VERSION/...; shorter: discovery.
  const size_t prefix = !s.empty() && s[0] == "api" ? 2 : 3;
  if (s.size() <= prefix) return r.method + " " + r.path + " (discovery)";
  s.erase(s.begin(), s.begin() + static_cast<long>(prefix));
  if (s.size() >= 3 && s[0] == "namespaces") s.erase(s.begin(), s.begin() + 2);
  std::string verb = r.method;
  if (r.method == "GET" && s.size() == 1) {
    const bool watch = r.query.find("watch=1") != std::string::npos ||
                       r.query.find("watch=true") != std::string::npos;
    verb = watch ? "WATCH" : "LIST";
  }
  return verb + " " + s[0] + (s.size() >= 3 ? "/" + s[2] : "");
}

// ---------------------------------------------------------------------------
// Kafka requests as the mock brokers received them.

std::string KafkaApiName(int16_t key) {
  static const std::map<int16_t, std::string> kNames = {
      {0, "Produce"},          {1, "Fetch"},
      {2, "ListOffsets"},      {3, "Metadata"},
      {8, "OffsetCommit"},     {9, "OffsetFetch"},
      {10, "FindCoordinator"}, {11, "JoinGroup"},
      {12, "Heartbeat"},       {13, "LeaveGroup"},
      {14, "SyncGroup"},       {15, "DescribeGroups"},
      {16, "ListGroups"},      {17, "SaslHandshake"},
      {18, "ApiVersions"},     {36, "SaslAuthenticate"},
      {60, "DescribeCluster"}, {71, "GetTelemetrySubscriptions"},
      {72, "PushTelemetry"}};
  auto it = kNames.find(key);
  return it != kNames.end() ? it->second : "api " + std::to_string(key);
}

// rd_kafka_mock_*: from librdkafka's rdkafka_mock.h, through mock_cluster.h.
void StartKafkaTracking(const Bed& bed) {
  for (const auto& c : bed.clusters) {
    rd_kafka_mock_start_request_tracking(c->raw());
    rd_kafka_mock_clear_requests(c->raw());
  }
}

// Requests by API name since StartKafkaTracking, of one cluster; stops
// tracking (which also drops what was tracked: read first).
std::map<std::string, int64_t> StopKafkaTracking(const gs::testing::MockCluster& cluster) {
  size_t count = 0;
  rd_kafka_mock_request_t** requests = rd_kafka_mock_get_requests(cluster.raw(), &count);
  rd_kafka_mock_stop_request_tracking(cluster.raw());
  std::map<std::string, int64_t> by_api;
  for (size_t i = 0; i < count; ++i) {
    ++by_api[KafkaApiName(rd_kafka_mock_request_api_key(requests[i]))];
  }
  rd_kafka_mock_request_destroy_array(requests, count);
  return by_api;
}

// ---------------------------------------------------------------------------
// The controller's /metrics: the few series the bench reads.

struct Scrape {
  std::map<std::string, double> series;  // "name{labels}" -> value
  size_t bytes = 0;
  double ms = 0;          // to answer
  Steady::time_point at;  // answered
};

std::optional<Scrape> ScrapeMetrics(int port) {
  static const std::vector<std::string> kWanted = {
      "groupscaler_kafka_requests_total{", "groupscaler_reconciles_total{",
      "groupscaler_workqueue_depth", "groupscaler_workers"};
  const auto start = Steady::now();
  gs::testing::HttpAnswer answer = gs::testing::HttpGet(port, "/metrics", seconds(60));
  if (answer.code != 200) return std::nullopt;
  const auto at = Steady::now();
  Scrape scrape{.bytes = answer.body.size(), .ms = Ms(at - start), .at = at};
  std::istringstream in(answer.body);
  for (std::string line; std::getline(in, line);) {
    const bool wanted = std::any_of(kWanted.begin(), kWanted.end(),
                                    [&](const std::string& w) { return line.starts_with(w); });
    const size_t space = line.rfind(' ');
    if (wanted && space != std::string::npos) {
      scrape.series[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  }
  return scrape;
}

// after - before for each series starting with `prefix` that grew.
std::map<std::string, double> Growth(const Scrape& before, const Scrape& after,
                                     const std::string& prefix) {
  std::map<std::string, double> out;
  for (const auto& [series, value] : after.series) {
    if (!series.starts_with(prefix)) continue;
    auto it = before.series.find(series);
    const double growth = value - (it == before.series.end() ? 0 : it->second);
    if (growth != 0) out[series] = growth;
  }
  return out;
}

// The value of `series` (a gauge), -1 when absent.
double Value(const Scrape& scrape, const std::string& series) {
  auto it = scrape.series.find(series);
  return it == scrape.series.end() ? -1 : it->second;
}

double Sum(const std::map<std::string, double>& values) {
  double total = 0;
  for (const auto& [series, value] : values) total += value;
  return total;
}

// ---------------------------------------------------------------------------
// The steady window: API requests by kind, Kafka requests by API, and the
// controller's counters, over the same 60 s.

struct Steadiness {
  std::map<std::string, int> api_by_kind;
  int api_total = 0;
  int open_watches = 0;  // at the window's end
  std::vector<std::map<std::string, int64_t>> kafka_by_cluster;
  std::optional<Scrape> before;
  std::optional<Scrape> after;
  double cpu_seconds = 0;  // the controller's, between the scrapes
};

Steadiness MeasureSteady(const Bed& bed, pid_t controller, int metrics_port) {
  Steadiness out;
  out.before = ScrapeMetrics(metrics_port);
  const double cpu_before = CpuSeconds(controller);
  bed.server->ClearRequests();
  StartKafkaTracking(bed);
  std::this_thread::sleep_for(seconds(kSteadyWindowSeconds));
  for (const auto& c : bed.clusters) out.kafka_by_cluster.push_back(StopKafkaTracking(*c));
  for (const auto& r : bed.server->Requests()) {
    ++out.api_by_kind[KindOf(r)];
    ++out.api_total;
  }
  out.open_watches = bed.server->open_watches();
  out.after = ScrapeMetrics(metrics_port);
  out.cpu_seconds = CpuSeconds(controller) - cpu_before;
  return out;
}

// ---------------------------------------------------------------------------
// The lag step: 50 records on every partition of topic-0 of cluster 0.

struct Reaction {
  int affected = 0;
  std::optional<double> first_ms;
  std::optional<double> all_ms;
  int patched = 0;
};

gs::StatusOr<Reaction> StepLag(const Options& o, const Bed& bed) {
  Reaction out{.affected = OnFirstTopic(o)};
  bed.server->ClearRequests();
  const std::vector<int64_t> counts(static_cast<size_t>(o.partitions), 50);
  gs::Status produced =
      gs::testing::ProduceCounts(bed.clusters[0]->bootstrap_servers(), "topic-0", counts);
  if (!produced.ok()) return produced;
  const auto stepped = Steady::now();
  auto patches = [&] { return bed.server->CountRequests("PATCH", "/scale"); };
  const auto timeout = seconds(3 * kPollSeconds);
  if (PollUntil([&] { return patches() >= 1; }, timeout))
    out.first_ms = Ms(Steady::now() - stepped);
  if (PollUntil([&] { return patches() >= out.affected; }, timeout - (Steady::now() - stepped))) {
    out.all_ms = Ms(Steady::now() - stepped);
  }
  out.patched = patches();
  return out;
}

// ---------------------------------------------------------------------------
// The report.

std::string Figure(const std::optional<double>& ms) {
  return ms ? std::to_string(static_cast<long>(*ms)) + " ms" : "not reached";
}

void PrintHeader(const Options& o) {
  std::printf(
      "controller_bench: %d autoscalers in %d namespace(s) on %d groups (%d per group), %d "
      "cluster(s) of 3 brokers x %d topics x %d partitions; poll %d s\n",
      o.autoscalers, o.namespaces, o.groups, (o.autoscalers + o.groups - 1) / o.groups, o.clusters,
      kTopics, o.partitions, kPollSeconds);
  std::printf("  controller: workers %s; %s\n",
              o.workers == 0 ? "default (grow with the work)"
                             : ("at most " + std::to_string(o.workers)).c_str(),
              o.default_api_limits ? "its default --kube-api-qps/--kube-api-burst (50/300)"
                                   : "--kube-api-qps 1000 --kube-api-burst 2000");
}

void PrintFirstPass(const Options& o, const FirstPass& pass, long rss_kib) {
  if (pass.ms) {
    std::printf(
        "first full pass (every status written): %.0f ms (target < 30000 ms); controller "
        "CPU %.1f s\n",
        *pass.ms, pass.cpu_seconds);
  } else {
    std::printf("first full pass (every status written): INCOMPLETE after %d s: %d of %d\n",
                o.first_pass_timeout_seconds, pass.statuses, o.autoscalers);
  }
  std::printf("controller peak RSS (VmHWM) before any /metrics scrape: %.1f MiB\n",
              rss_kib / 1024.0);
}

void PrintApiTraffic(const Options& o, const Steadiness& s) {
  std::printf("steady API traffic, a %d s window once settled: %d requests\n", kSteadyWindowSeconds,
              s.api_total);
  for (const auto& [kind, n] : s.api_by_kind) std::printf("  %-40s %7d\n", kind.c_str(), n);
  std::printf("  watch streams open at the window's end: %d (each counted once, when opened)\n",
              s.open_watches);
  const double minutes = kSteadyWindowSeconds / 60.0;
  std::printf("  requests per autoscaler per minute: %.3f (target <= 1)\n",
              s.api_total / minutes / o.autoscalers);
  const int per_minute = 60 / kHpaSyncSeconds;
  std::printf(
      "  the HPA on the same %d objects (every %d s per HPA: GET /scale, a metrics read through "
      "the API server, a status update when it changed): >= %d per autoscaler per minute, %d "
      "a minute (%d per autoscaler, %d a minute, when every sync changes the status)\n",
      o.autoscalers, kHpaSyncSeconds, 2 * per_minute, 2 * per_minute * o.autoscalers,
      3 * per_minute, 3 * per_minute * o.autoscalers);
}

void PrintReconciles(const Options& o, const Steadiness& s) {
  if (!s.before || !s.after) {
    std::printf("  /metrics: no answer\n");
    return;
  }
  const double reconciles = Sum(Growth(*s.before, *s.after, "groupscaler_reconciles_total{"));
  const double minutes = Ms(s.after->at - s.before->at) / 60'000;
  const double per_autoscaler = reconciles / o.autoscalers / minutes;
  std::printf(
      "  reconciles between the scrapes around the window (%.1f s): %.0f, %.2f per autoscaler "
      "per minute: each autoscaler reconciled every %.1f s (poll %d s)\n",
      minutes * 60, reconciles, per_autoscaler, per_autoscaler > 0 ? 60 / per_autoscaler : 0.0,
      kPollSeconds);
  std::printf("  controller CPU meanwhile: %.1f s, %.2f cores, %.2f ms per reconcile\n",
              s.cpu_seconds, s.cpu_seconds / (minutes * 60),
              reconciles > 0 ? 1000 * s.cpu_seconds / reconciles : 0.0);
  std::printf("  at the window's end: work queue depth %.0f, workers %.0f\n",
              Value(*s.after, "groupscaler_workqueue_depth"),
              Value(*s.after, "groupscaler_workers"));
  std::printf("  /metrics scrape: %.1f MB in %.0f ms\n", s.after->bytes / 1e6, s.after->ms);
}

void PrintKafka(const Options& o, const Steadiness& s) {
  const double polls = static_cast<double>(kSteadyWindowSeconds) / kPollSeconds;
  std::map<std::string, int64_t> total;
  std::printf("Kafka requests per %d s poll (the mock brokers' count over the window / %.0f):",
              kPollSeconds, polls);
  for (size_t c = 0; c < s.kafka_by_cluster.size(); ++c) {
    int64_t n = 0;
    for (const auto& [api, count] : s.kafka_by_cluster[c]) {
      total[api] += count;
      n += count;
    }
    std::printf(" cluster %zu: %.1f;", c, n / polls);
  }
  std::printf("\n  %-30s %9s %9s\n", "API", "per poll", "per group");
  for (const auto& [api, n] : total) {
    std::printf("  %-30s %9.1f %9.2f\n", api.c_str(), n / polls, n / polls / o.groups);
  }
  if (!s.before || !s.after) return;
  std::printf(
      "groupscaler_kafka_requests_total, growth between the scrapes around the window (the "
      "controller adds librdkafka's counts every 30 s plus a read's time, so this spans one or "
      "two of its reads, not the window):\n");
  for (const auto& [series, n] : Growth(*s.before, *s.after, "groupscaler_kafka_requests_total{")) {
    std::printf("  %-60s %9.0f\n", series.c_str(), n);
  }
}

void PrintReaction(const Reaction& r) {
  std::printf(
      "lag step (50 records on each partition of topic-0, cluster 0) -> first PATCH /scale: %s; "
      "all %d affected autoscalers: %s (target %d ms; %d PATCHes)\n",
      Figure(r.first_ms).c_str(), r.affected, Figure(r.all_ms).c_str(), kPollSeconds * 1000 + 200,
      r.patched);
}

// ---------------------------------------------------------------------------

// The second pass writes each status once more (rates need two
// observations), and under a low --kube-api-qps those writes trail the first
// pass: the steady window starts after a whole poll interval without a
// status write (at most 12 intervals).
void SettleStatusWrites(gs::testing::KubeApiServer& server) {
  const auto start = Steady::now();
  int written = 0;
  for (int interval = 0; interval < 12; ++interval) {
    server.ClearRequests();
    std::this_thread::sleep_for(seconds(kPollSeconds));
    const int writes = server.CountRequests("PATCH", "/status");
    if (writes == 0) break;
    written += writes;
  }
  std::printf(
      "settled: a poll interval without a status write after %.0f ms (%d status writes "
      "meanwhile: the second pass's, as the rates become known)\n",
      Ms(Steady::now() - start), written);
}

int Run(const Options& o, const Bed& bed, const std::filesystem::path& dir) {
  const int metrics_port = FreePort();
  if (metrics_port < 0) return Fail("no free port");
  const std::string kubeconfig = WriteKubeconfig(dir, bed.server->url());
  bed.server->ClearRequests();
  const auto start = Steady::now();
  auto spawned = gs::testing::Subprocess::SpawnLogged(
      ControllerCommand(o, kubeconfig, metrics_port), (dir / "controller.log").string());
  if (!spawned.ok()) return Fail(spawned.status().ToString());
  gs::testing::Subprocess& controller = **spawned;

  const FirstPass pass = WaitForFirstPass(o, *bed.server, controller.pid(), start);
  PrintFirstPass(o, pass, PeakRssKiB(controller.pid()));
  if (!pass.ms) {
    const std::string log = controller.log();
    std::fprintf(stderr, "controller log's end:\n%s\n",
                 log.substr(log.size() - std::min<size_t>(log.size(), 2000)).c_str());
  }
  SettleStatusWrites(*bed.server);
  const Steadiness steady = MeasureSteady(bed, controller.pid(), metrics_port);
  PrintApiTraffic(o, steady);
  PrintReconciles(o, steady);
  PrintKafka(o, steady);

  auto reaction = StepLag(o, bed);
  if (!reaction.ok()) return Fail(reaction.status().ToString());
  PrintReaction(*reaction);

  std::printf("controller peak RSS (VmHWM) at the end: %.1f MiB (target < 128 MiB)\n",
              PeakRssKiB(controller.pid()) / 1024.0);
  controller.Signal(SIGTERM);
  const auto term = Steady::now();
  const std::optional<int> code = controller.Wait(seconds(10));
  std::printf("SIGTERM -> exit %d in %.0f ms\n", code.value_or(-1), Ms(Steady::now() - term));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = ParseOptions(argc, argv);
  if (!options) return Fail(kUsage);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a run takes minutes: show each line
  PrintHeader(*options);
  const auto set_up = Steady::now();
  gs::StatusOr<Bed> bed = SetUp(*options);
  if (!bed.ok()) return Fail(bed.status().ToString());
  std::printf("  set up in %.0f ms\n", Ms(Steady::now() - set_up));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("controller_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const int code = Run(*options, *bed, dir);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return code;
}
