// controller_bench: the real `groupscaler controller` binary over 1,000
// ConsumerGroupAutoscalers on 100 consumer groups of one mock Kafka
// cluster, against the test API server. Not a ctest test (it takes about a
// minute); run it by hand:
//
//   bench/run-controller-bench [autoscalers] [groups] [workers]
//
// Prints: the first full pass (every autoscaler reconciled and its status
// written), the API requests of one steady poll interval by kind, the time
// from a lag step to the PATCH of /scale, and the controller's peak RSS.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/kube_api_server.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace gs = groupscaler;
using gs::testing::WaitFor;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

using Steady = std::chrono::steady_clock;

constexpr int kPollSeconds = 10;
constexpr int kTopics = 10;
constexpr int kPartitions = 12;

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

long PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

json Servers(const std::string& bootstrap) {
  json out = json::array();
  std::stringstream in(bootstrap);
  for (std::string s; std::getline(in, s, ',');) out.push_back(s);
  return out;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "controller_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int autoscalers = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int groups = argc > 2 ? std::atoi(argv[2]) : 100;
  // The most workers; the controller's default when not given.
  const std::string workers = argc > 3 ? argv[3] : "";
  if (autoscalers < 1 || groups < 1 || groups > autoscalers) return Fail("bad arguments");

  auto server = gs::testing::KubeApiServer::Start();
  if (!server.ok()) return Fail(server.status().ToString());
  auto cluster = gs::testing::MockCluster::Start(3);
  if (!cluster.ok()) return Fail(cluster.status().ToString());
  const std::string bootstrap = (*cluster)->bootstrap_servers();

  for (int t = 0; t < kTopics; ++t) {
    if (!(*cluster)->CreateTopic("topic-" + std::to_string(t), kPartitions).ok()) {
      return Fail("create topic");
    }
  }
  for (int g = 0; g < groups; ++g) {
    std::vector<gs::testing::Commit> commits;
    for (int p = 0; p < kPartitions; ++p)
      commits.push_back({"topic-" + std::to_string(g % kTopics), p, 0});
    if (!gs::testing::CommitOffsets(bootstrap, "group-" + std::to_string(g), commits).ok()) {
      return Fail("commit");
    }
  }
  for (int i = 0; i < autoscalers; ++i) {
    const std::string name = "app-" + std::to_string(i);
    const int g = i % groups;
    (void)(*server)->Upsert("deployments",
                            json{{"apiVersion", "apps/v1"},
                                 {"kind", "Deployment"},
                                 {"metadata", {{"name", name}, {"namespace", "bench"}}},
                                 {"spec", {{"replicas", 1}}}}
                                .dump());
    (void)(*server)->Upsert("consumergroupautoscalers",
                            json{{"apiVersion", "groupscaler.io/v1alpha1"},
                                 {"kind", "ConsumerGroupAutoscaler"},
                                 {"metadata", {{"name", name}, {"namespace", "bench"}}},
                                 {"spec",
                                  {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", name}}},
                                   {"kafka",
                                    {{"bootstrapServers", Servers(bootstrap)},
                                     {"groupId", "group-" + std::to_string(g)},
                                     {"topics", {"topic-" + std::to_string(g % kTopics)}}}},
                                   {"maxReplicas", kPartitions},
                                   {"lagThreshold", 100},
                                   {"alignment", "none"},
                                   {"pollIntervalSeconds", kPollSeconds}}}}
                                .dump());
  }

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("controller_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string kubeconfig = (dir / "kubeconfig").string();
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n"
                            << "    server: " << (*server)->url()
                            << "\nusers:\n- name: b\n  user:\n    token: t\ncontexts:\n"
                            << "- name: b\n  context:\n    cluster: b\n    user: b\n"
                            << "current-context: b\n";
  (*server)->ClearRequests();
  const auto start = Steady::now();
  std::vector<std::string> command = {GROUPSCALER_BINARY,
                                      "controller",
                                      "--kubeconfig",
                                      kubeconfig,
                                      "--kube-api-qps",
                                      "1000",
                                      "--kube-api-burst",
                                      "2000",
                                      "--health-probe-bind-address",
                                      "0",
                                      "--log-level",
                                      "warn"};
  if (!workers.empty()) command.insert(command.end(), {"--workers", workers});
  auto spawned = gs::testing::Subprocess::SpawnLogged(command, (dir / "controller.log").string());
  if (!spawned.ok()) return Fail(spawned.status().ToString());
  gs::testing::Subprocess& controller = **spawned;

  auto status_writes = [&] {
    std::set<std::string> written;
    for (const auto& r : (*server)->Requests()) {
      if (r.method == "PATCH" && r.path.ends_with("/status")) written.insert(r.path);
    }
    return static_cast<int>(written.size());
  };
  if (!WaitFor([&] { return status_writes() >= autoscalers; }, seconds(120))) {
    return Fail("first pass incomplete after 120 s: " + std::to_string(status_writes()) +
                " statuses; log:\n" + controller.log());
  }
  const double first_pass_ms = Ms(Steady::now() - start);

  // One steady poll interval: what a pass costs when nothing changes. The
  // second pass still writes each status once (the rates need two
  // observations to be known), so the interval measured is the third.
  std::this_thread::sleep_for(seconds(kPollSeconds + 2));
  (*server)->ClearRequests();
  std::this_thread::sleep_for(seconds(kPollSeconds));
  std::map<std::string, int> by_kind;
  int total = 0;
  for (const auto& r : (*server)->Requests()) {
    std::string kind = r.method + " ";
    if (r.path.find("/leases") != std::string::npos)
      kind += "lease";
    else if (r.path.ends_with("/scale"))
      kind += "scale";
    else if (r.path.ends_with("/status"))
      kind += "status";
    else if (r.path.find("horizontalpodautoscalers") != std::string::npos)
      kind += "hpa";
    else if (r.path.find("/events") != std::string::npos)
      kind += "event";
    else if (r.path.find("consumergroupautoscalers") != std::string::npos)
      kind += "cga";
    else
      kind += r.path;
    ++by_kind[kind];
    ++total;
  }

  // A lag step on group 0: its autoscalers must PATCH /scale within one
  // poll interval (plus 200 ms is the target).
  (*server)->ClearRequests();
  std::vector<int64_t> counts(kPartitions, 50);
  if (!gs::testing::ProduceCounts(bootstrap, "topic-0", counts).ok()) return Fail("produce");
  const auto stepped = Steady::now();
  const int per_group = (autoscalers + groups - 1) / groups;
  auto scale_patches = [&] { return (*server)->CountRequests("PATCH", "/scale"); };
  WaitFor([&] { return scale_patches() >= 1; }, seconds(3 * kPollSeconds));
  const double first_patch_ms = Ms(Steady::now() - stepped);
  // Every autoscaler of every group on topic-0 sees the lag.
  const int on_topic0 = [&] {
    int n = 0;
    for (int i = 0; i < autoscalers; ++i) n += (i % groups) % kTopics == 0 ? 1 : 0;
    return n;
  }();
  WaitFor([&] { return scale_patches() >= on_topic0; }, seconds(3 * kPollSeconds));
  const double all_patched_ms = Ms(Steady::now() - stepped);

  const long rss = PeakRssKiB(controller.pid());
  controller.Signal(SIGTERM);
  const auto term = Steady::now();
  const std::optional<int> code = controller.Wait(seconds(10));
  const double stop_ms = Ms(Steady::now() - term);

  std::printf(
      "autoscalers %d, groups %d (%d per group), topics %d x %d partitions, poll %d s, workers "
      "%s\n",
      autoscalers, groups, per_group, kTopics, kPartitions, kPollSeconds,
      workers.empty() ? "default (grow with the work)" : ("at most " + workers).c_str());
  std::printf("first full pass (all statuses written): %.0f ms\n", first_pass_ms);
  std::printf("API requests in one steady %d s poll interval: %d\n", kPollSeconds, total);
  for (const auto& [kind, n] : by_kind) std::printf("  %-20s %d\n", kind.c_str(), n);
  std::printf(
      "lag step -> first PATCH /scale: %.0f ms; all %d affected patched: %.0f ms (%d "
      "PATCHes)\n",
      first_patch_ms, on_topic0, all_patched_ms, scale_patches());
  std::printf("controller peak RSS: %.1f MiB\n", rss / 1024.0);
  std::printf("SIGTERM -> exit %d in %.0f ms\n", code.value_or(-1), stop_ms);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
