// target_cache_bench: N Deployments shaped like real ones (labels,
// annotations with kubectl's last-applied copy, managedFields, a container
// with an image, ports, resources, probes, a command and eight environment
// variables) in the test API server; a TargetCache lists and watches them
// through the real KubeClient. Prints the time to the first complete list,
// the list pages, malloc's bytes in use once synced over those before, and
// those freed when the cache is destroyed: what it holds.
//
//   bench/run-cache-bench [N]     # default 10,000

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "controller/target_cache.h"
#include "kube/kube_client.h"
#include "support/kube_api_server.h"

namespace gs = groupscaler;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

json Container(const std::string& name) {
  json env = json::array();
  for (int i = 0; i < 8; ++i) {
    env.push_back({{"name", "SETTING_" + std::to_string(i)}, {"value", "value-" + name}});
  }
  return {{"name", "consumer"},
          {"image", "registry.example.com/payments/" + name + ":1.42.7"},
          {"command", {"/app/consumer"}},
          {"args", {"--topic=orders", "--group=" + name, "--threads=4"}},
          {"env", env},
          {"ports", {{{"name", "metrics"}, {"containerPort", 9090}}}},
          {"resources",
           {{"requests", {{"cpu", "250m"}, {"memory", "512Mi"}}}, {"limits", {{"memory", "1Gi"}}}}},
          {"readinessProbe", {{"httpGet", {{"path", "/ready"}, {"port", 9090}}}}}};
}

json Deployment(int i) {
  const std::string name = "consumer-" + std::to_string(i);
  json labels = {{"app", name}, {"team", "payments"}, {"tier", "worker"}};
  json object = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", name},
        {"namespace", "ns-" + std::to_string(i % 100)},
        {"labels", labels},
        {"annotations", {{"deployment.kubernetes.io/revision", "7"}}}}},
      {"spec",
       {{"replicas", 3},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", labels}}}, {"spec", {{"containers", {Container(name)}}}}}}}},
      {"status", {{"replicas", 3}, {"readyReplicas", 3}, {"availableReplicas", 3}}}};
  // What kubectl apply and the server's field tracking add to every object.
  object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
      object["spec"].dump();
  object["metadata"]["managedFields"] = {{{"manager", "kubectl-client-side-apply"},
                                          {"operation", "Update"},
                                          {"fieldsV1", object["spec"]}}};
  return object;
}

size_t HeapInUse() { return mallinfo2().uordblks; }

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  if (n < 1) {
    std::fprintf(stderr, "usage: target_cache_bench [N]\n");
    return 2;
  }
  auto server = gs::testing::KubeApiServer::Start();
  if (!server.ok()) return 1;
  size_t object_bytes = 0;
  for (int i = 0; i < n; ++i) {
    const std::string text = Deployment(i).dump();
    object_bytes += text.size();
    if (!(*server)->Upsert("deployments", text).ok()) return 1;
  }
  auto client = gs::kube::KubeClient::Create({.server = (*server)->url()}, {.qps = 0});
  if (!client.ok()) return 1;
  (*server)->ClearRequests();

  malloc_trim(0);
  const size_t before = HeapInUse();
  const auto start = Steady::now();
  auto cache =
      std::make_unique<gs::controller::TargetCache>(client->get(), client->get(), client->get());
  cache->Start("");
  while (!cache->synced(gs::kube::WorkloadKind::kDeployment)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double sync_ms = std::chrono::duration<double, std::milli>(Steady::now() - start).count();
  malloc_trim(0);
  const size_t synced = HeapInUse();
  const size_t cached = cache->size();
  cache.reset();
  malloc_trim(0);
  const size_t held = synced - HeapInUse();
  int pages = 0;
  for (const auto& r : (*server)->Requests()) {
    pages += r.path == "/apis/apps/v1/deployments" && r.query.find("watch=") == std::string::npos;
  }

  std::printf("Deployments: %d, %.1f KiB each as the API server sends them\n", n,
              object_bytes / 1024.0 / n);
  std::printf("first list: %.0f ms in %d pages of at most 500\n", sync_ms, pages);
  std::printf("heap in use once synced, over before: %.1f MiB\n", (synced - before) / 1048576.0);
  std::printf("heap freed when the cache goes: %.1f MiB (%.0f bytes per Deployment)\n",
              held / 1048576.0, static_cast<double>(held) / n);
  std::printf("cached: %zu\n", cached);
  return cached == static_cast<size_t>(n) ? 0 : 1;
}
