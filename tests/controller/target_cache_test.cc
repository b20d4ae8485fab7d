// TargetCache: the scale targets' replicas and pod templates from a
// list-and-watch. Against the test API server over HTTP where the watch
// matters (events, a relist after a gap, a target deleted and recreated),
// and against a stub watcher where only the cache's own rules do.

#include "controller/target_cache.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes.h"
#include "kube/kube_client.h"
#include "support/kube_api_server.h"
#include "support/subprocess.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::WaitFor;

const kube::WorkloadRef kApp{
    .kind = kube::WorkloadKind::kDeployment, .namespace_name = "ns", .name = "app"};

json Deployment(const std::string& name, int replicas, const std::string& kind = "Deployment") {
  return {{"apiVersion", "apps/v1"},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"spec",
               {{"containers",
                 {{{"name", "consumer"},
                   {"env", {{{"name", "GROUP_ID"}, {"value", "orders"}}}}}}}}}}}}},
          {"status", {{"replicas", replicas}}}};
}

class TargetCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::KubeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    kube::ClientOptions options;
    options.qps = 0;
    options.backoff_base = milliseconds(5);
    options.backoff_max = milliseconds(40);
    auto client = kube::KubeClient::Create({.server = server_->url()}, options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
  }
  void Put(const json& object, const std::string& resource = "deployments") {
    ASSERT_TRUE(server_->Upsert(resource, object.dump()).ok());
  }
  void StartCache() {
    cache_.emplace(client_.get(), client_.get(), client_.get());
    cache_->Start("");
    ASSERT_TRUE(WaitFor([&] { return cache_->settled(); }, seconds(5)));
  }
  // The cached spec.replicas of `ref`, -1 when not found, -2 on another error.
  int Replicas(const kube::WorkloadRef& ref = kApp) {
    StatusOr<kube::Scale> scale = cache_->GetScale(ref);
    if (scale.ok()) return scale->spec_replicas;
    return kube::IsNotFound(scale.status()) ? -1 : -2;
  }
  int ApiReads() {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.method == "GET" && (r.path.ends_with("/scale") || r.path.ends_with("/app"))) ++n;
    }
    return n;
  }
  int Lists(const std::string& resource) {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.method == "GET" && r.path.ends_with("/" + resource) &&
          r.query.find("watch=") == std::string::npos) {
        ++n;
      }
    }
    return n;
  }

  std::unique_ptr<testing::KubeApiServer> server_;
  std::unique_ptr<kube::KubeClient> client_;
  std::optional<TargetCache> cache_;  // destroyed before the client
  void TearDown() override { cache_.reset(); }
};

TEST_F(TargetCacheTest, AWatchEventUpdatesTheReplicasThePolicySees) {
  Put(Deployment("app", 2));
  StartCache();
  EXPECT_EQ(Replicas(), 2);
  Put(Deployment("app", 5));  // scaled by someone else
  EXPECT_TRUE(WaitFor([&] { return Replicas() == 5; }, seconds(5)));
  StatusOr<kube::PodTemplate> pod_template = cache_->GetPodTemplate(kApp);
  ASSERT_TRUE(pod_template.ok()) << pod_template.status().ToString();
  ASSERT_EQ(pod_template->containers.size(), 1u);
  EXPECT_EQ(pod_template->containers[0].env[0].value, "orders");
  EXPECT_EQ(ApiReads(), 0) << "every read answered from the cache";
}

TEST_F(TargetCacheTest, StatefulSetsAreWatchedToo) {
  Put(Deployment("db", 3, "StatefulSet"), "statefulsets");
  StartCache();
  const kube::WorkloadRef db{
      .kind = kube::WorkloadKind::kStatefulSet, .namespace_name = "ns", .name = "db"};
  EXPECT_EQ(Replicas(db), 3);
  EXPECT_EQ(
      Replicas({.kind = kube::WorkloadKind::kDeployment, .namespace_name = "ns", .name = "db"}), -1)
      << "a Deployment of the same name does not exist";
}

TEST_F(TargetCacheTest, ARelistAfterAWatchGapSeesWhatChangedMeanwhile) {
  Put(Deployment("app", 2));
  Put(Deployment("gone", 1));
  StartCache();
  ASSERT_TRUE(server_->WaitForWatches(2, seconds(5)));
  ASSERT_EQ(Lists("deployments"), 1);
  // The watch breaks and, before it is back, the target is scaled, another
  // deleted, and the server forgets the events: only a relist tells.
  server_->InjectFault({.kind = testing::Fault::Kind::kLatency,
                        .method = "GET",
                        .path_contains = "/apis/apps/v1/deployments",
                        .latency = milliseconds(300)});
  server_->BreakWatches();
  Put(Deployment("app", 7));
  ASSERT_TRUE(server_->Delete("apps/v1", "deployments", "ns", "gone").ok());
  server_->CompactHistory();
  EXPECT_TRUE(WaitFor([&] { return Replicas() == 7; }, seconds(5)));
  EXPECT_EQ(
      Replicas({.kind = kube::WorkloadKind::kDeployment, .namespace_name = "ns", .name = "gone"}),
      -1);
  EXPECT_EQ(Lists("deployments"), 2) << "relisted once";
  EXPECT_EQ(ApiReads(), 0);
}

TEST_F(TargetCacheTest, ATargetDeletedAndRecreatedIsMissingThenFoundAgain) {
  Put(Deployment("app", 4));
  StartCache();
  ASSERT_EQ(Replicas(), 4);
  ASSERT_TRUE(server_->Delete("apps/v1", "deployments", "ns", "app").ok());
  EXPECT_TRUE(WaitFor([&] { return Replicas() == -1; }, seconds(5)));
  Put(Deployment("app", 1));
  EXPECT_TRUE(WaitFor([&] { return Replicas() == 1; }, seconds(5)));
  EXPECT_EQ(ApiReads(), 0);
}

TEST_F(TargetCacheTest, WhileTargetsCannotBeListedReadsGoToTheApi) {
  Put(Deployment("app", 3));
  // RBAC without list: every list is refused.
  server_->InjectFault({.method = "GET",
                        .path_contains = "/apis/apps/v1/deployments",
                        .count = 1000000,
                        .status_code = 403});
  StartCache();  // settled: the first list failed
  EXPECT_FALSE(cache_->synced(kube::WorkloadKind::kDeployment));
  EXPECT_EQ(Replicas(), 3);
  EXPECT_EQ(server_->CountRequests("GET", "/deployments/app/scale"), 1);
  server_->ClearFaults();
  EXPECT_TRUE(WaitFor([&] { return cache_->synced(kube::WorkloadKind::kDeployment); }, seconds(5)))
      << "the list is retried";
  EXPECT_EQ(Replicas(), 3);
  EXPECT_EQ(server_->CountRequests("GET", "/deployments/app/scale"), 1);
}

// Hands the test the handlers of each watch started, and delivers nothing
// by itself.
class StubWatcher final : public kube::WorkloadWatcher {
 public:
  std::unique_ptr<kube::WatchHandle> WatchWorkloads(
      kube::WorkloadKind kind, const std::string&,
      kube::ListWatchHandlers<kube::Workload> handlers) override {
    handlers_[static_cast<size_t>(kind)] = std::move(handlers);
    return std::make_unique<kube::WatchHandle>();
  }
  kube::ListWatchHandlers<kube::Workload>& of(kube::WorkloadKind kind) {
    return handlers_[static_cast<size_t>(kind)];
  }

 private:
  kube::ListWatchHandlers<kube::Workload> handlers_[2];
};

kube::Workload Cached(int replicas, const std::string& rv) {
  return {.metadata = {.namespace_name = "ns", .name = "app", .resource_version = rv},
          .scale = {.spec_replicas = replicas, .resource_version = rv}};
}

TEST(TargetCacheRules, OwnScaleWriteIsSeenBeforeItsWatchEventAndNotUndoneByAnOlderOne) {
  fakes::FakeScaleClient api;
  api.Set("ns", "app", 2);
  StubWatcher watcher;
  TargetCache cache(&api, nullptr, &watcher);
  cache.Start("");
  EXPECT_FALSE(cache.settled());
  watcher.of(kube::WorkloadKind::kDeployment).on_list({.items = {Cached(2, "10")}});
  EXPECT_FALSE(cache.settled()) << "StatefulSets not listed yet";
  watcher.of(kube::WorkloadKind::kStatefulSet).on_list({});
  EXPECT_TRUE(cache.settled());

  ASSERT_TRUE(cache.PatchScale(kApp, 6).ok());
  EXPECT_EQ(cache.GetScale(kApp)->spec_replicas, 6) << "before any event";
  // The fake's answer carries no resourceVersion: it compares as not older.
  // An event older than a write we saw must not undo it.
  watcher.of(kube::WorkloadKind::kDeployment).on_list({.items = {Cached(6, "20")}});
  watcher.of(kube::WorkloadKind::kDeployment)
      .on_event({.type = kube::WatchEventType::kModified, .object = Cached(2, "15")});
  EXPECT_EQ(cache.GetScale(kApp)->spec_replicas, 6);
  watcher.of(kube::WorkloadKind::kDeployment)
      .on_event({.type = kube::WatchEventType::kModified, .object = Cached(3, "21")});
  EXPECT_EQ(cache.GetScale(kApp)->spec_replicas, 3);
  EXPECT_EQ(api.patches(), 1);
}

TEST(TargetCacheRules, AWriteToATargetNotCachedDoesNotAddIt) {
  fakes::FakeScaleClient api;
  api.Set("ns", "app", 2);
  StubWatcher watcher;
  TargetCache cache(&api, nullptr, &watcher);
  cache.Start("");
  watcher.of(kube::WorkloadKind::kDeployment).on_list({});
  watcher.of(kube::WorkloadKind::kStatefulSet).on_list({});
  ASSERT_TRUE(cache.PatchScale(kApp, 6).ok()) << "the API still had it";
  EXPECT_TRUE(kube::IsNotFound(cache.GetScale(kApp).status()))
      << "deleted meanwhile, as far as the watch knows";
}

}  // namespace
}  // namespace groupscaler::controller
