// List-and-watch of ConsumerGroupAutoscalers against the test API server's
// chunked watch streams: events, bookmarks, streams broken mid-way, 410.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "kube_test_util.h"

namespace groupscaler::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// Collects what the watch reports, and lets the test wait for it.
class Recorder {
 public:
  WatchHandlers Handlers() {
    return {.on_list =
                [this](const AutoscalerList& list) {
                  std::lock_guard<std::mutex> lock(mu_);
                  lists_.push_back(list);
                  cv_.notify_all();
                },
            .on_event =
                [this](const AutoscalerEvent& e) {
                  std::lock_guard<std::mutex> lock(mu_);
                  events_.push_back(e);
                  cv_.notify_all();
                }};
  }

  // "ADDED ns/name" per event; "BOOKMARK <rv>" for bookmarks.
  std::vector<std::string> Events() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) {
      const auto& m = e.object.metadata;
      out.push_back(std::string(WatchEventTypeName(e.type)) + " " +
                    (e.type == WatchEventType::kBookmark ? m.resource_version
                                                         : m.namespace_name + "/" + m.name));
    }
    return out;
  }
  std::vector<AutoscalerEvent> RawEvents() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<AutoscalerList> Lists() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }
  bool WaitForEvents(size_t n, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  bool WaitForLists(size_t n, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return lists_.size() >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<AutoscalerList> lists_;
  std::vector<AutoscalerEvent> events_;
};

// The resourceVersion= of every watch request, in order.
std::vector<std::string> WatchResourceVersions(const testing::KubeApiServer& server) {
  std::vector<std::string> out;
  for (const auto& r : server.Requests()) {
    if (r.query.find("watch=1") == std::string::npos) continue;
    auto pos = r.query.find("resourceVersion=");
    auto end = r.query.find('&', pos);
    out.push_back(r.query.substr(pos + 16, end == std::string::npos ? end : end - pos - 16));
  }
  return out;
}

int Lists(const testing::KubeApiServer& server) {
  int n = 0;
  for (const auto& r : server.Requests()) {
    if (r.method == "GET" && r.path.find("consumergroupautoscalers") != std::string::npos &&
        r.query.find("watch=") == std::string::npos) {
      ++n;
    }
  }
  return n;
}

class WatchTest : public ::testing::Test {
 protected:
  void Start(testing::KubeApiServer::Options options = {}) {
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    client_ = ClientFor(*server_);
    ASSERT_NE(client_, nullptr);
  }
  void Put(const std::string& ns, const std::string& name, int max = 10) {
    ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson(ns, name, max)).ok());
  }

  std::unique_ptr<testing::KubeApiServer> server_;
  std::unique_ptr<KubeClient> client_;
  Recorder recorder_;
};

TEST_F(WatchTest, ListsThenStreamsAddedModifiedDeletedAndBookmarks) {
  Start();
  Put("ns", "before");
  auto watch = client_->WatchAutoscalers("ns", recorder_.Handlers());
  ASSERT_TRUE(recorder_.WaitForLists(1));
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  ASSERT_EQ(recorder_.Lists()[0].items.size(), 1u);
  EXPECT_EQ(recorder_.Lists()[0].items[0].metadata.name, "before");

  Put("ns", "a");
  Put("ns", "a", 20);
  Put("other", "elsewhere");  // another namespace: not this watch's
  ASSERT_TRUE(
      server_->Delete("groupscaler.io/v1alpha1", "consumergroupautoscalers", "ns", "a").ok());
  server_->SendBookmarks();
  ASSERT_TRUE(recorder_.WaitForEvents(4));
  std::string rv = std::to_string(server_->resource_version());
  EXPECT_THAT(recorder_.Events(), ::testing::ElementsAre("ADDED ns/a", "MODIFIED ns/a",
                                                         "DELETED ns/a", "BOOKMARK " + rv));
  auto raw = recorder_.RawEvents();
  EXPECT_THAT(raw[1].object.json, HasSubstr("\"maxReplicas\":20"));
  EXPECT_EQ(raw[1].object.metadata.generation, 2);

  auto requests = server_->Requests();
  bool saw_watch = false;
  for (const auto& r : requests) {
    if (r.query.find("watch=1") != std::string::npos) {
      saw_watch = true;
      EXPECT_THAT(r.query, HasSubstr("allowWatchBookmarks=true"));
      EXPECT_THAT(r.query, HasSubstr("timeoutSeconds="));
      EXPECT_EQ(r.path, "/apis/groupscaler.io/v1alpha1/namespaces/ns/consumergroupautoscalers");
    }
  }
  EXPECT_TRUE(saw_watch);
  EXPECT_EQ(Lists(*server_), 1);
}

TEST_F(WatchTest, AllNamespaces) {
  Start();
  auto watch = client_->WatchAutoscalers("", recorder_.Handlers());
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("a", "x");
  Put("b", "y");
  ASSERT_TRUE(recorder_.WaitForEvents(2));
  EXPECT_THAT(recorder_.Events(), ::testing::ElementsAre("ADDED a/x", "ADDED b/y"));
}

TEST_F(WatchTest, BrokenStreamResumesFromTheLastResourceVersion) {
  Start();
  auto watch = client_->WatchAutoscalers("ns", recorder_.Handlers());
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("ns", "a");
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  std::string seen_rv = std::to_string(server_->resource_version());

  server_->BreakWatches();
  // Written while no watch is open: must arrive after the resume, once.
  Put("ns", "b");
  ASSERT_TRUE(recorder_.WaitForEvents(2));
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("ns", "c");
  ASSERT_TRUE(recorder_.WaitForEvents(3));

  EXPECT_THAT(recorder_.Events(), ::testing::ElementsAre("ADDED ns/a", "ADDED ns/b", "ADDED ns/c"));
  auto rvs = WatchResourceVersions(*server_);
  ASSERT_GE(rvs.size(), 2u);
  EXPECT_EQ(rvs[1], seen_rv) << "resumed where the broken stream left off";
  EXPECT_EQ(Lists(*server_), 1) << "no relist for a broken stream";
}

TEST_F(WatchTest, CleanEndOfStreamRewatchesWithoutRelisting) {
  server_ = StartServer();
  ASSERT_NE(server_, nullptr);
  ClientOptions options = FastOptions();
  options.watch_timeout = std::chrono::seconds(1);  // the server ends each stream after 1 s
  client_ = ClientFor(*server_, options);
  auto watch = client_->WatchAutoscalers("ns", recorder_.Handlers());
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("ns", "a");
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  std::string rv = std::to_string(server_->resource_version());
  // Wait for the second stream.
  auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while (WatchResourceVersions(*server_).size() < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  auto rvs = WatchResourceVersions(*server_);
  ASSERT_GE(rvs.size(), 2u);
  EXPECT_EQ(rvs[1], rv);
  EXPECT_EQ(Lists(*server_), 1);
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("ns", "b");
  ASSERT_TRUE(recorder_.WaitForEvents(2));
  EXPECT_THAT(recorder_.Events(), ::testing::ElementsAre("ADDED ns/a", "ADDED ns/b"));
}

TEST_F(WatchTest, ServerErrorsOnTheWatchAreRetried) {
  Start();
  server_->InjectFault({.kind = testing::Fault::Kind::kStatus,
                        .path_contains = "autoscalers",
                        .count = 2,
                        .status_code = 500});
  auto watch = client_->WatchAutoscalers("ns", recorder_.Handlers());
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("ns", "a");
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  EXPECT_EQ(recorder_.Lists().size(), 1u);
}

class ExpiredWatchTest : public WatchTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ExpiredWatchTest, RelistsOn410) {
  Start({.expired_as_error_event = GetParam()});
  Put("ns", "a");
  auto watch = client_->WatchAutoscalers("ns", recorder_.Handlers());
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  ASSERT_TRUE(recorder_.WaitForLists(1));

  // Break the stream, then write and forget history while no watch is open:
  // the resume from the old resourceVersion gets 410 and must relist. The
  // break comes first so that the open stream cannot deliver the writes.
  server_->InjectFault({.kind = testing::Fault::Kind::kLatency,
                        .path_contains = "autoscalers",
                        .count = 1,
                        .latency = milliseconds(300)});
  server_->BreakWatches();
  Put("ns", "b");
  ASSERT_TRUE(
      server_->Delete("groupscaler.io/v1alpha1", "consumergroupautoscalers", "ns", "a").ok());
  server_->CompactHistory();

  ASSERT_TRUE(recorder_.WaitForLists(2));
  auto second = recorder_.Lists()[1];
  ASSERT_EQ(second.items.size(), 1u);
  EXPECT_EQ(second.items[0].metadata.name, "b");
  EXPECT_EQ(second.resource_version, std::to_string(server_->resource_version()));
  EXPECT_GE(Lists(*server_), 2);

  // And the new watch works from the new list.
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  Put("ns", "c");
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  EXPECT_EQ(recorder_.Events().back(), "ADDED ns/c");
  bool saw_410 = false;
  for (const auto& r : server_->Requests()) {
    if (r.response_code == 410) saw_410 = true;
  }
  EXPECT_EQ(saw_410, !GetParam()) << "HTTP 410, or 200 with an ERROR event";
}

INSTANTIATE_TEST_SUITE_P(Modes, ExpiredWatchTest, ::testing::Bool(), [](const auto& info) {
  return info.param ? std::string("error_event") : std::string("http_410");
});

TEST_F(WatchTest, StopsPromptlyWhenDestroyed) {
  Start();
  auto watch = client_->WatchAutoscalers("ns", recorder_.Handlers());
  ASSERT_TRUE(server_->WaitForWatches(1, milliseconds(5000)));
  auto start = std::chrono::steady_clock::now();
  watch.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

}  // namespace
}  // namespace groupscaler::kube
