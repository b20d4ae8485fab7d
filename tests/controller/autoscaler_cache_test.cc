#include "controller/autoscaler_cache.h"
#include "controller/ttl_caches.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fakes.h"
#include "spec/autoscaler_spec.h"

namespace groupscaler::controller {
namespace {

kube::Autoscaler Object(const std::string& name, const std::string& rv, const std::string& json) {
  return {.metadata = {.namespace_name = "ns",
                       .name = name,
                       .uid = "u-" + name,
                       .resource_version = rv,
                       .generation = 1},
          .json = json};
}

struct CacheFixture {
  fakes::FakeAutoscalerClient api;
  AutoscalerCache cache{&api};
  int lists_seen = 0;
  int events_seen = 0;
  kube::WatchHandlers watch;

  CacheFixture() {
    (void)cache.WatchAutoscalers("", {.on_list = [this](const auto&) { ++lists_seen; },
                                      .on_event = [this](const auto&) { ++events_seen; }});
    watch = api.handlers();
  }
  std::string Cached(const std::string& name) {
    StatusOr<kube::Autoscaler> got = cache.GetAutoscaler("ns", name);
    return got.ok() ? got->json : got.status().ToString();
  }
};

TEST(AutoscalerCache, BeforeTheFirstListAsksTheApi) {
  CacheFixture f;
  EXPECT_FALSE(f.cache.synced());
  EXPECT_EQ(f.cache.GetAutoscaler("ns", "a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.api.gets(), 1);
}

TEST(AutoscalerCache, ServesFromListAndEventsWithoutGets) {
  CacheFixture f;
  f.watch.on_list({.items = {Object("a", "5", "a@5"), Object("b", "6", "b@6")}});
  EXPECT_EQ(f.lists_seen, 1);
  EXPECT_EQ(f.Cached("a"), "a@5");
  f.watch.on_event({.type = kube::WatchEventType::kModified, .object = Object("a", "7", "a@7")});
  EXPECT_EQ(f.Cached("a"), "a@7");
  f.watch.on_event({.type = kube::WatchEventType::kAdded, .object = Object("c", "8", "c@8")});
  EXPECT_EQ(f.Cached("c"), "c@8");
  f.watch.on_event({.type = kube::WatchEventType::kDeleted, .object = Object("b", "9", "")});
  EXPECT_EQ(f.cache.GetAutoscaler("ns", "b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.events_seen, 3);
  EXPECT_EQ(f.api.gets(), 0);
}

TEST(AutoscalerCache, RelistDropsObjectsDeletedMeanwhile) {
  CacheFixture f;
  f.watch.on_list({.items = {Object("a", "5", "a@5"), Object("b", "6", "b@6")}});
  f.watch.on_list({.items = {Object("b", "10", "b@10")}});
  EXPECT_EQ(f.cache.GetAutoscaler("ns", "a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.Cached("b"), "b@10");
  EXPECT_EQ(f.cache.size(), 1u);
}

TEST(AutoscalerCache, OlderEventDoesNotReplaceNewerObject) {
  CacheFixture f;
  f.watch.on_list({.items = {Object("a", "20", "a@20")}});
  f.watch.on_event({.type = kube::WatchEventType::kModified, .object = Object("a", "19", "a@19")});
  EXPECT_EQ(f.Cached("a"), "a@20");
}

// The event of our own write comes after its answer was stored: the same
// object, not stored (nor trimmed) again.
TEST(AutoscalerCache, AnEventAtTheStoredVersionIsNotStoredAgain) {
  CacheFixture f;
  f.watch.on_list({.items = {Object("a", "20", "a@20")}});
  f.watch.on_event({.type = kube::WatchEventType::kModified, .object = Object("a", "20", "again")});
  EXPECT_EQ(f.Cached("a"), "a@20");
  EXPECT_EQ(f.events_seen, 1) << "the controller is still told";
}

TEST(AutoscalerCache, StatusPatchResultReplacesTheCachedObject) {
  CacheFixture f;
  f.api.Put({{"apiVersion", "groupscaler.io/v1alpha1"},
             {"kind", "ConsumerGroupAutoscaler"},
             {"metadata", {{"name", "a"}, {"namespace", "ns"}}},
             {"spec", nlohmann::json::object()}});
  f.watch.on_list({.items = {Object("a", "0", "stale")}});
  ASSERT_TRUE(f.cache.PatchAutoscalerStatus("ns", "a", R"({"reason":"Steady"})").ok());
  EXPECT_NE(f.Cached("a").find("Steady"), std::string::npos);
  // Not cached: a patch never adds (it may race a delete).
  EXPECT_FALSE(f.cache.PatchAutoscalerStatus("ns", "zzz", "{}").ok());
  EXPECT_EQ(f.cache.size(), 1u);
}

// A CR as a real API server sends it once groupscaler wrote its status.
nlohmann::json WholeObject() {
  return nlohmann::json::parse(R"({
    "apiVersion": "groupscaler.io/v1alpha1", "kind": "ConsumerGroupAutoscaler",
    "metadata": {"name": "a", "namespace": "ns", "uid": "u-a", "resourceVersion": "7",
      "generation": 2, "labels": {"team": "orders"},
      "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
      "managedFields": [{"manager": "groupscaler", "operation": "Update",
                         "subresource": "status", "fieldsV1": {"f:status": {}}}]},
    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "orders"},
             "kafka": {"bootstrapServers": ["kafka:9092"], "groupId": "orders",
                       "topics": ["orders"]},
             "maxReplicas": 6, "lagThreshold": 500},
    "status": {"observedGeneration": 2, "totalLag": 1200, "reason": "ScaleUp",
               "message": "lag 1200 over threshold 500 per replica",
               "observedTime": "2026-12-06T10:00:00Z",
               "conditions": [{"type": "Ready", "status": "True", "reason": "ScaleUp",
                               "lastTransitionTime": "2026-12-06T09:00:00Z",
                               "observedGeneration": 2, "message": "scaled to 3"}]}})");
}

// The cache keeps of each object what a reconcile reads: the spec whole,
// the status without its messages, and the metadata's identity.
TEST(AutoscalerCache, KeepsWhatAReconcileReads) {
  CacheFixture f;
  const nlohmann::json whole = WholeObject();
  f.watch.on_list({.items = {Object("a", "7", whole.dump())}});
  const nlohmann::json kept = nlohmann::json::parse(f.Cached("a"));

  EXPECT_EQ(kept["metadata"], (nlohmann::json{{"name", "a"},
                                              {"namespace", "ns"},
                                              {"uid", "u-a"},
                                              {"resourceVersion", "7"},
                                              {"generation", 2}}));
  EXPECT_EQ(kept["spec"], whole["spec"]);
  nlohmann::json status = whole["status"];
  status.erase("message");
  status["conditions"][0].erase("message");
  EXPECT_EQ(kept["status"], status);
  EXPECT_EQ(spec::ParseAutoscaler(kept.dump(), "ns/a").value(),
            spec::ParseAutoscaler(whole.dump(), "ns/a").value());
}

// Kept deflated: a third of the trimmed JSON's bytes with the nine
// conditions the controller writes, and GetAutoscaler gives it back whole.
TEST(AutoscalerCache, HoldsEachObjectDeflated) {
  CacheFixture f;
  nlohmann::json nine = WholeObject();
  for (const char* type : {"Active", "AtPartitionCeiling", "KafkaReachable", "TargetFound",
                           "SpecValid", "Stalled", "PerInstanceGroupIds", "ConflictingHPA"}) {
    nine["status"]["conditions"].push_back({{"type", type},
                                            {"status", "False"},
                                            {"reason", std::string("Not") + type},
                                            {"lastTransitionTime", "2026-12-06T09:00:00Z"},
                                            {"observedGeneration", 2}});
  }
  kube::AutoscalerList list;
  for (int i = 0; i < 100; ++i) {
    nlohmann::json object = nine;
    object["metadata"]["name"] = "a" + std::to_string(i);
    list.items.push_back(Object("a" + std::to_string(i), "7", object.dump()));
  }
  f.watch.on_list(list);
  EXPECT_LT(f.cache.deflated_bytes() * 5, f.cache.inflated_bytes() * 2);
  EXPECT_EQ(nlohmann::json::parse(f.Cached("a42")),
            nlohmann::json::parse(TrimForReconcile(list.items[42]).json));
}

TEST(AutoscalerCache, TrimsTheAnswerToItsOwnStatusWrite) {
  CacheFixture f;
  f.api.Put(WholeObject());
  f.watch.on_list({.items = {Object("a", "0", "stale")}});
  ASSERT_TRUE(f.cache.PatchAutoscalerStatus("ns", "a", R"({"message":"a long story"})").ok());
  const nlohmann::json kept = nlohmann::json::parse(f.Cached("a"));
  EXPECT_FALSE(kept["status"].contains("message"));
  EXPECT_FALSE(kept["metadata"].contains("managedFields"));
  EXPECT_EQ(kept["status"]["totalLag"], 1200);
}

// Counts lists; fails them on demand.
class CountingHpaLister final : public kube::HpaLister {
 public:
  StatusOr<std::vector<kube::HpaInfo>> ListHpas(const std::string& ns) override {
    ++lists;
    if (fail) return UnavailableError("down");
    if (forbidden) return PermissionDeniedError("forbidden");
    return std::vector<kube::HpaInfo>{{.namespace_name = ns, .name = "h" + std::to_string(lists)}};
  }
  int lists = 0;
  bool fail = false;
  bool forbidden = false;
};

TEST(HpaCache, ListsEachNamespaceOncePerTtlAndNeverCachesTransientErrors) {
  ManualClock clock{Timestamp{std::chrono::seconds(100)}};
  CountingHpaLister api;
  HpaCache cache(&api, &clock, std::chrono::seconds(30));
  EXPECT_EQ(cache.ListHpas("a")->front().name, "h1");
  EXPECT_EQ(cache.ListHpas("a")->front().name, "h1");
  EXPECT_EQ(cache.ListHpas("b")->front().name, "h2");
  EXPECT_EQ(api.lists, 2);
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(cache.ListHpas("a")->front().name, "h3");
  clock.Advance(std::chrono::seconds(30));
  api.fail = true;
  EXPECT_FALSE(cache.ListHpas("a").ok());
  EXPECT_FALSE(cache.ListHpas("a").ok());
  EXPECT_EQ(api.lists, 5);
}

// A refusal (RBAC) or an API the server does not serve stays so for a while:
// asked once per ttl, not at every reconcile.
TEST(HpaCache, CachesRefusalsForTheTtl) {
  ManualClock clock{Timestamp{std::chrono::seconds(100)}};
  CountingHpaLister api;
  api.forbidden = true;
  HpaCache cache(&api, &clock, std::chrono::seconds(30));
  EXPECT_EQ(cache.ListHpas("a").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(cache.ListHpas("a").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(api.lists, 1);
  api.forbidden = false;
  clock.Advance(std::chrono::seconds(30));
  EXPECT_TRUE(cache.ListHpas("a").ok());
  EXPECT_EQ(api.lists, 2);
}

// Every autoscaler naming a Secret reads it from memory within the minute;
// a missing Secret is asked for again only when the minute is up, and a
// transient error is never kept.
TEST(SecretCache, ReadsEachSecretOncePerTtl) {
  ManualClock clock{Timestamp{std::chrono::seconds(100)}};
  fakes::FakeSecretReader api;
  api.Set("ns", "kafka", {{"sasl", "none"}});
  SecretCache cache(&api, &clock, std::chrono::seconds(60));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cache.GetSecretData("ns", "kafka")->at("sasl"), "none");
  EXPECT_EQ(cache.GetSecretData("ns", "absent").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cache.GetSecretData("ns", "absent").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(api.gets(), 2);

  api.Set("ns", "kafka", {{"sasl", "rotated"}});
  api.Set("ns", "absent", {{"sasl", "none"}});
  clock.Advance(std::chrono::seconds(59));
  EXPECT_EQ(cache.GetSecretData("ns", "kafka")->at("sasl"), "none");
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(cache.GetSecretData("ns", "kafka")->at("sasl"), "rotated");
  EXPECT_TRUE(cache.GetSecretData("ns", "absent").ok()) << "created meanwhile";
  EXPECT_EQ(api.gets(), 4);

  clock.Advance(std::chrono::seconds(60));
  api.Fail(UnavailableError("API server down"));
  EXPECT_FALSE(cache.GetSecretData("ns", "kafka").ok());
  api.Fail(std::nullopt);
  EXPECT_TRUE(cache.GetSecretData("ns", "kafka").ok()) << "the error was not kept";
  EXPECT_EQ(api.gets(), 6);
}

// Lists that wait until the test opens the gate, so that many workers ask
// while one list is in flight.
class GatedHpaLister final : public kube::HpaLister {
 public:
  StatusOr<std::vector<kube::HpaInfo>> ListHpas(const std::string& ns) override {
    std::unique_lock lock(mu_);
    const int n = ++lists_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return std::vector<kube::HpaInfo>{{.namespace_name = ns, .name = "h" + std::to_string(n)}};
  }
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitForLists(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return lists_ >= n; });
  }
  int lists() {
    std::lock_guard lock(mu_);
    return lists_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int lists_ = 0;
  bool open_ = false;
};

// At expiry one worker lists; the others take the previous answer meanwhile,
// or, before the first answer, wait for it rather than list too.
TEST(HpaCache, OneListAtATimeForANamespace) {
  ManualClock clock{Timestamp{std::chrono::seconds(100)}};
  GatedHpaLister api;
  HpaCache cache(&api, &clock, std::chrono::seconds(30));
  std::vector<std::string> got(8);
  {
    std::vector<std::jthread> workers;
    for (std::string& name : got) {
      workers.emplace_back([&] { name = cache.ListHpas("a")->front().name; });
    }
    ASSERT_TRUE(api.WaitForLists(1));
    api.Open();
  }
  EXPECT_EQ(got, std::vector<std::string>(8, "h1"));
  EXPECT_EQ(api.lists(), 1);

  clock.Advance(std::chrono::seconds(30));
  api.Close();
  std::jthread refresher([&] { EXPECT_EQ(cache.ListHpas("a")->front().name, "h2"); });
  ASSERT_TRUE(api.WaitForLists(2));
  for (int i = 0; i < 7; ++i) EXPECT_EQ(cache.ListHpas("a")->front().name, "h1");
  api.Open();
  refresher.join();
  EXPECT_EQ(cache.ListHpas("a")->front().name, "h2");
  EXPECT_EQ(api.lists(), 2);
}

}  // namespace
}  // namespace groupscaler::controller
