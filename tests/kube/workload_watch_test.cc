// List-and-watch of Deployments and StatefulSets (KubeClient::WatchWorkloads)
// against the test API server: what each object is trimmed to, and lists in
// pages. The watch loop itself is the one watch_test covers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include <nlohmann/json.hpp>

#include "kube_test_util.h"

namespace groupscaler::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// The first list and every event of one watch.
class WorkloadRecorder {
 public:
  ListWatchHandlers<Workload> Handlers() {
    return {.on_list =
                [this](const WorkloadList& list) {
                  std::lock_guard lock(mu_);
                  lists_.push_back(list);
                  cv_.notify_all();
                },
            .on_event =
                [this](const WorkloadEvent& event) {
                  std::lock_guard lock(mu_);
                  events_.push_back(event);
                  cv_.notify_all();
                }};
  }
  std::optional<WorkloadList> FirstList(milliseconds timeout = milliseconds(5000)) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !lists_.empty(); })) return std::nullopt;
    return lists_.front();
  }
  std::optional<WorkloadEvent> Event(size_t n, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return events_.size() > n; })) return std::nullopt;
    return events_[n];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WorkloadList> lists_;
  std::vector<WorkloadEvent> events_;
};

json ConsumerDeployment() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "orders", "namespace": "ns", "labels": {"team": "payments"}},
    "spec": {
      "replicas": 3,
      "selector": {
        "matchLabels": {"tier": "worker", "app": "orders"},
        "matchExpressions": [
          {"key": "track", "operator": "In", "values": ["stable", "canary"]},
          {"key": "zone", "operator": "NotIn", "values": ["b"]},
          {"key": "owner", "operator": "Exists"},
          {"key": "legacy", "operator": "DoesNotExist"}]},
      "template": {"spec": {"containers": [{
        "name": "consumer", "image": "consumer:1", "command": ["/bin/consumer"],
        "args": ["--group=orders"],
        "env": [{"name": "TOPIC", "value": "orders"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}},
    "status": {"replicas": 2, "readyReplicas": 2}})");
}

TEST(WorkloadWatch, KeepsTheScaleTheSelectorAndThePodTemplate) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Upsert("deployments", ConsumerDeployment().dump()).ok());
  auto client = ClientFor(*server);
  WorkloadRecorder recorder;
  auto watch = client->WatchWorkloads(WorkloadKind::kDeployment, "ns", recorder.Handlers());
  std::optional<WorkloadList> list = recorder.FirstList();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  const Workload& w = list->items[0];
  EXPECT_EQ(w.metadata.name, "orders");
  EXPECT_EQ(w.scale.spec_replicas, 3);
  EXPECT_EQ(w.scale.status_replicas, 2);
  EXPECT_EQ(w.scale.resource_version, w.metadata.resource_version);
  // As labels.Selector.String() writes it, requirements sorted by key.
  EXPECT_EQ(w.scale.selector,
            "app=orders,!legacy,owner,tier=worker,track in (canary,stable),zone notin (b)");
  ASSERT_EQ(w.pod_template.containers.size(), 1u);
  const ContainerSpec& c = w.pod_template.containers[0];
  EXPECT_EQ(c.command_and_args, (std::vector<std::string>{"/bin/consumer", "--group=orders"}));
  ASSERT_EQ(c.env.size(), 2u);
  EXPECT_EQ(c.env[0].value, "orders");
  EXPECT_EQ(c.env[1].field_path, "metadata.name");

  // The same as the /scale subresource where the test server computes it
  // (matchLabels only).
  json plain = ConsumerDeployment();
  plain["metadata"]["name"] = "plain";
  plain["spec"]["selector"].erase("matchExpressions");
  ASSERT_TRUE(server->Upsert("deployments", plain.dump()).ok());
  std::optional<WorkloadEvent> added = recorder.Event(0);
  ASSERT_TRUE(added);
  StatusOr<Scale> scale = client->GetScale(
      {.kind = WorkloadKind::kDeployment, .namespace_name = "ns", .name = "plain"});
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_EQ(added->object.scale.selector, scale->selector);
  EXPECT_EQ(added->object.scale.spec_replicas, scale->spec_replicas);
  EXPECT_EQ(added->object.scale.status_replicas, scale->status_replicas);
  EXPECT_EQ(added->object.scale.resource_version, scale->resource_version);
}

TEST(WorkloadWatch, ListsInPagesOfFiveHundred) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 1201; ++i) {
    ASSERT_TRUE(
        server->Upsert("statefulsets", DeploymentJson("ns", "s" + std::to_string(i), 1, 1)).ok());
  }
  auto client = ClientFor(*server);
  WorkloadRecorder recorder;
  auto watch = client->WatchWorkloads(WorkloadKind::kStatefulSet, "", recorder.Handlers());
  std::optional<WorkloadList> list = recorder.FirstList();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->items.size(), 1201u);
  std::vector<std::string> pages;
  for (const auto& r : server->Requests()) {
    if (r.method == "GET" && r.query.find("watch=") == std::string::npos) pages.push_back(r.query);
  }
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0], "limit=500");
  EXPECT_THAT(pages[1], ::testing::StartsWith("limit=500&continue=ns%2Fs"));
  EXPECT_THAT(pages[2], ::testing::StartsWith("limit=500&continue=ns%2Fs"));
  EXPECT_EQ(list->resource_version, std::to_string(server->resource_version()));
}

}  // namespace
}  // namespace groupscaler::kube
