// The listed-groups half of the group-per-instance detector: the names
// (GroupsNamedPerInstance), the confirmation by committed offsets
// (CheckGroupsPerInstance), the per-cluster listing bound (GroupListCache),
// and the reconciler's Event and condition, over a scripted reader.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/anti_pattern.h"
#include "controller/reconciler.h"
#include "controller/status_patch.h"
#include "fakes.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------
// Names.

struct NameCase {
  std::string name;
  std::string listed;
  bool want = false;
};

void PrintTo(const NameCase& c, std::ostream* os) { *os << c.name; }

class NameTest : public ::testing::TestWithParam<NameCase> {};

TEST_P(NameTest, Matches) {
  const NameCase& c = GetParam();
  const std::vector<std::string> got = GroupsNamedPerInstance("orders", {c.listed});
  EXPECT_EQ(!got.empty(), c.want) << c.listed;
}

INSTANTIATE_TEST_SUITE_P(
    Names, NameTest,
    ::testing::Values(
        // Positives.
        NameCase{.name = "DashOrdinal", .listed = "orders-0", .want = true},
        NameCase{.name = "DashOrdinalTwoDigits", .listed = "orders-12", .want = true},
        NameCase{.name = "UnderscoreOrdinal", .listed = "orders_3", .want = true},
        NameCase{.name = "DotOrdinal", .listed = "orders.7", .want = true},
        NameCase{.name = "StatefulSetPodName", .listed = "orders-consumer-2", .want = true},
        NameCase{.name = "ReplicaOrdinal", .listed = "orders-replica-1", .want = true},
        NameCase{.name = "DeploymentPodTail", .listed = "orders-7d9f8b6c4-x2kq9", .want = true},
        NameCase{
            .name = "DeploymentPodName", .listed = "orders-consumer-7d9f8b6c4-x2kq9", .want = true},
        NameCase{.name = "PodIp", .listed = "orders-10-0-3-7", .want = true},
        NameCase{.name = "PodUid",
                 .listed = "orders-0f8fad5b-d9cb-469f-a165-70867728950e",
                 .want = true},
        NameCase{.name = "HostMarker", .listed = "orders.host-abc", .want = true},
        NameCase{.name = "PodMarkerAnyCase", .listed = "orders-Pod-a", .want = true},
        NameCase{.name = "InstanceMarker", .listed = "orders_instance_blue", .want = true},
        // Negatives.
        NameCase{.name = "TheGroupItself", .listed = "orders"},
        NameCase{.name = "AnotherService", .listed = "orders-audit"},
        NameCase{.name = "AnotherServiceTwoWords", .listed = "orders-billing-eu"},
        NameCase{.name = "NoSeparator", .listed = "orders2"},
        NameCase{.name = "YearIsNoOrdinal", .listed = "orders-2024"},
        NameCase{.name = "VersionIsNoOrdinal", .listed = "orders-v2"},
        NameCase{.name = "GroupInTheMiddle", .listed = "eu-orders-0"},
        NameCase{.name = "OtherGroupSamePrefix", .listed = "ordersx-0"},
        NameCase{.name = "EmptySegment", .listed = "orders--0"},
        NameCase{.name = "TrailingSeparator", .listed = "orders-"},
        NameCase{.name = "WordsAreNoPodTail", .listed = "orders-audit-stage"},
        NameCase{.name = "MarkerWithoutId", .listed = "orders-host"},
        NameCase{.name = "CaseMatters", .listed = "Orders-0"}),
    [](const auto& info) { return info.param.name; });

TEST(GroupsNamedPerInstance, SortedWithoutDuplicates) {
  EXPECT_THAT(GroupsNamedPerInstance("orders", {"orders-1", "web-0", "orders", "orders-0",
                                                "orders-1", "orders-audit"}),
              ElementsAre("orders-0", "orders-1"));
  EXPECT_TRUE(GroupsNamedPerInstance("orders", {}).empty());
}

// ---------------------------------------------------------------------------
// A scripted reader: committed offsets per group and topic, the listing,
// and what was asked of it.

class ListingReader final : public kafka::LagReader {
 public:
  void SetListed(StatusOr<std::vector<std::string>> listed) {
    std::lock_guard lock(mu_);
    listed_ = std::move(listed);
  }
  // `group` has committed offsets on both partitions of `topic`.
  void Commit(const std::string& group, const std::string& topic) {
    std::lock_guard lock(mu_);
    commits_[group].insert(topic);
  }
  int lists() const { return lists_.load(); }
  // The groups of every Observe, in order.
  std::vector<std::vector<std::string>> observed() {
    std::lock_guard lock(mu_);
    return observed_;
  }

  StatusOr<std::vector<kafka::GroupObservation>> Observe(
      const std::vector<kafka::GroupQuery>& groups, milliseconds) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> asked;
    std::vector<kafka::GroupObservation> out;
    for (const kafka::GroupQuery& q : groups) {
      asked.push_back(q.group_id);
      kafka::GroupObservation g{.group_id = q.group_id};
      for (const std::string& topic : q.topics) {
        for (int32_t p = 0; p < 2; ++p) {
          policy::PartitionObservation po{
              .topic = topic, .partition = p, .log_start_offset = 0, .log_end_offset = 100};
          if (commits_[q.group_id].contains(topic)) po.committed_offset = 90;
          g.observation.partitions.push_back(po);
        }
      }
      out.push_back(std::move(g));
    }
    observed_.push_back(std::move(asked));
    return out;
  }
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string&, milliseconds) override {
    return NotFoundError("not listed");
  }
  StatusOr<std::vector<std::string>> ListGroups(milliseconds) override {
    ++lists_;
    std::lock_guard lock(mu_);
    return listed_;
  }
  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(milliseconds) override {
    return kafka::RequestCounts{};
  }

 private:
  std::mutex mu_;
  StatusOr<std::vector<std::string>> listed_ = std::vector<std::string>{};
  std::map<std::string, std::set<std::string>> commits_;
  std::vector<std::vector<std::string>> observed_;
  std::atomic<int> lists_{0};
};

// What the pool makes: one per cluster, forwarding to the shared script.
using ProxyReader = groupscaler::testing::ForwardingLagReader;

// ---------------------------------------------------------------------------
// Confirmation.

TEST(CheckGroupsPerInstance, CountsOnlyGroupsCommittingOnTheTopics) {
  ListingReader reader;
  reader.Commit("orders-0", "orders");
  reader.Commit("orders-1", "orders");
  reader.Commit("orders-2", "payments");    // another topic
  reader.Commit("orders-audit", "orders");  // not named per instance
  const GroupListing listing{
      .listed_at = Timestamp{seconds(100)},
      .groups = {"orders", "orders-0", "orders-1", "orders-2", "orders-3", "orders-audit"}};
  StatusOr<GroupsPerInstance> check = CheckGroupsPerInstance(
      listing, {.group_id = "orders", .topics = {"orders"}}, reader, milliseconds(1000));
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_THAT(check->groups, ElementsAre("orders-0", "orders-1"));
  EXPECT_EQ(check->listed_at, listing.listed_at);
  // One read, of the candidates only.
  EXPECT_THAT(reader.observed(),
              ElementsAre(ElementsAre("orders-0", "orders-1", "orders-2", "orders-3")));
}

TEST(CheckGroupsPerInstance, OneGroupIsNoFinding) {
  ListingReader reader;
  reader.Commit("orders-0", "orders");
  reader.Commit("orders-1", "payments");
  StatusOr<GroupsPerInstance> check = CheckGroupsPerInstance(
      {.listed_at = {}, .groups = {"orders-0", "orders-1"}},
      {.group_id = "orders", .topics = {"orders"}}, reader, milliseconds(1000));
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->groups.empty());
}

TEST(CheckGroupsPerInstance, NothingReadWithoutCandidates) {
  ListingReader reader;
  for (const std::vector<std::string>& groups :
       {std::vector<std::string>{}, {"orders", "orders-audit", "web-0", "web-1"}, {"orders-0"}}) {
    StatusOr<GroupsPerInstance> check = CheckGroupsPerInstance(
        {.listed_at = {}, .groups = groups}, {.group_id = "orders", .topics = {"orders"}}, reader,
        milliseconds(1));
    ASSERT_TRUE(check.ok());
    EXPECT_TRUE(check->groups.empty());
  }
  EXPECT_TRUE(reader.observed().empty());
}

TEST(DescribeGroupsPerInstance, NamesTheMultiplierTheFirstGroupsAndTheFix) {
  GroupsPerInstance check{.query = {.group_id = "orders", .topics = {"orders", "refunds"}}};
  for (int i = 0; i < 7; ++i) check.groups.push_back("orders-" + std::to_string(i));
  const std::string message = DescribeGroupsPerInstance(check);
  EXPECT_THAT(message, HasSubstr("7 consumer groups named like orders plus an instance suffix "
                                 "commit offsets on orders, refunds"));
  EXPECT_THAT(message, HasSubstr("(orders-0, orders-1, orders-2, orders-3, orders-4 and 2 more)"));
  EXPECT_THAT(message, HasSubstr("processed 7 times (x7)"));
  EXPECT_THAT(message, HasSubstr("give every instance the same group id (orders)"));
}

// ---------------------------------------------------------------------------
// The listing bound.

TEST(GroupListCache, ListsEachClusterAtMostOncePerInterval) {
  ManualClock clock(Timestamp{seconds(1000)});
  GroupListCache cache(&clock, minutes(5));
  auto world_a = std::make_shared<ListingReader>();
  auto world_b = std::make_shared<ListingReader>();
  world_a->SetListed(std::vector<std::string>{"a-0"});
  world_b->SetListed(UnimplementedError("the brokers do not list consumer groups"));
  std::shared_ptr<kafka::LagReader> a = world_a;
  std::shared_ptr<kafka::LagReader> b = world_b;

  for (int i = 0; i < 30; ++i) {
    auto listed = cache.Get(a, milliseconds(100));
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ((*listed)->listed_at, Timestamp{seconds(1000)});
    EXPECT_THAT((*listed)->groups, ElementsAre("a-0"));
    EXPECT_EQ(cache.Get(b, milliseconds(100)).status().code(), StatusCode::kUnimplemented);
    clock.Advance(seconds(9));  // 30 x 9 s < 5 min
  }
  EXPECT_EQ(world_a->lists(), 1);
  EXPECT_EQ(world_b->lists(), 1);  // a failure is kept as long

  clock.Set(Timestamp{seconds(1000) + minutes(5)});
  world_a->SetListed(std::vector<std::string>{"a-0", "a-1"});
  auto listed = cache.Get(a, milliseconds(100));
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)->listed_at, Timestamp{seconds(1300)});
  EXPECT_THAT((*listed)->groups, ElementsAre("a-0", "a-1"));
  EXPECT_EQ(world_a->lists(), 2);
}

TEST(GroupListCache, ANewReaderIsAskedAfresh) {
  ManualClock clock;
  GroupListCache cache(&clock, minutes(5));
  auto world = std::make_shared<ListingReader>();
  auto first = std::make_shared<ProxyReader>(world.get());
  ASSERT_TRUE(cache.Get(first, milliseconds(100)).ok());
  first.reset();
  auto second = std::make_shared<ProxyReader>(world.get());
  ASSERT_TRUE(cache.Get(second, milliseconds(100)).ok());
  EXPECT_EQ(world->lists(), 2);
}

// ---------------------------------------------------------------------------
// Through the reconciler.

constexpr const char* kNs = "payments";

json Cr(const std::string& name, const std::string& group) {
  return fakes::Cr(name, {{"kafka", {{"groupId", group}}}});
}

struct World {
  ManualClock clock{Timestamp{seconds(1'800'000'000)}};
  fakes::FakeAutoscalerClient autoscalers;
  fakes::FakeScaleClient scales;
  fakes::FakeEventRecorder events;
  fakes::FakeSecretReader secrets;
  ListingReader kafka;
  kafka::LagReaderPool registry{[this](const kafka::ClusterConfig&) {
    return StatusOr<std::unique_ptr<kafka::LagReader>>(std::make_unique<ProxyReader>(&kafka));
  }};
  Reconciler reconciler{{.autoscalers = &autoscalers,
                         .scales = &scales,
                         .events = &events,
                         .secrets = &secrets,
                         .readers = &registry,
                         .clock = &clock}};

  explicit World(std::vector<std::pair<std::string, std::string>> autoscalers_and_groups = {
                     {"app", "app"}}) {
    for (const auto& [name, group] : autoscalers_and_groups) {
      autoscalers.Put(Cr(name, group));
      scales.Set(kNs, name, 3);
      kafka.Commit(group, "orders");
    }
  }
  Outcome Reconcile(const std::string& name) {
    return reconciler.Reconcile(std::string(kNs) + "/" + name);
  }
  json Condition(const std::string& name) {
    return autoscalers.Condition(std::string(kNs) + "/" + name, kConditionPerInstanceGroupIds);
  }
};

TEST(ReconcilerGroupList, GroupsNamedPerInstanceWarnOnceWithTheMultiplier) {
  World w;
  w.kafka.SetListed(
      std::vector<std::string>{"app", "app-0", "app-1", "app-2", "app-3", "app-audit", "web-0"});
  for (const char* group : {"app-0", "app-1", "app-2", "app-audit", "web-0"}) {
    w.kafka.Commit(group, "orders");
  }
  w.kafka.Commit("app-3", "refunds");

  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(w.Reconcile("app").failed);
    w.clock.Advance(seconds(10));
  }

  const json c = w.Condition("app");
  ASSERT_FALSE(c.is_null());
  EXPECT_EQ(c["status"], "True");
  EXPECT_EQ(c["reason"], "PerInstanceGroupIds");
  const std::string message = c["message"];
  EXPECT_THAT(message, HasSubstr("3 consumer groups named like app plus an instance suffix "
                                 "commit offsets on orders (app-0, app-1, app-2)"));
  EXPECT_THAT(message, HasSubstr("processed 3 times (x3)"));
  EXPECT_THAT(message, HasSubstr("give every instance the same group id (app)"));
  EXPECT_THAT(message, Not(HasSubstr("app-3")));
  EXPECT_THAT(message, Not(HasSubstr("app-audit")));
  ASSERT_EQ(w.events.Count(kReasonPerInstanceGroupIds), 1);
  for (const kube::Event& e : w.events.events()) {
    if (e.reason == kReasonPerInstanceGroupIds) {
      EXPECT_EQ(e.type, kube::EventType::kWarning);
      EXPECT_EQ(e.message, message);
    }
  }
  // The candidates were read once, for the one listing; the lag every cycle.
  const std::vector<std::vector<std::string>> observed = w.kafka.observed();
  EXPECT_EQ(std::count(observed.begin(), observed.end(),
                       std::vector<std::string>{"app-0", "app-1", "app-2", "app-3"}),
            1);
  EXPECT_EQ(std::count(observed.begin(), observed.end(), std::vector<std::string>{"app"}), 3);
  // Scaling goes on regardless.
  EXPECT_EQ(w.Reconcile("app").requeue_after, milliseconds(seconds(10)));
}

TEST(ReconcilerGroupList, NoGroupsNamedPerInstanceNoWarning) {
  World w;
  w.kafka.SetListed(std::vector<std::string>{"app", "app-audit", "billing", "app-0"});
  w.kafka.Commit("app-audit", "orders");
  w.kafka.Commit("app-0", "orders");  // one is not several

  EXPECT_FALSE(w.Reconcile("app").failed);

  const json c = w.Condition("app");
  ASSERT_FALSE(c.is_null());
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "SharedGroupId");
  EXPECT_THAT(c["message"].get<std::string>(), HasSubstr("no groups named like app"));
  EXPECT_EQ(w.events.Count(kReasonPerInstanceGroupIds), 0);
  EXPECT_EQ(w.kafka.observed().size(), 1u);  // the lag only
}

TEST(ReconcilerGroupList, ListedOncePerFiveMinutesForAllAutoscalersOfTheCluster) {
  World w({{"app", "app"}, {"web", "web"}});
  w.kafka.SetListed(std::vector<std::string>{"app", "web"});
  // Ten minutes of 10-second polls for two autoscalers on one cluster:
  // listed at 0 s and at 300 s.
  for (int i = 0; i < 60; ++i) {
    // Groups per instance that appear are found at the next listing only.
    if (i == 45) {
      w.kafka.SetListed(std::vector<std::string>{"app", "web", "web-0", "web-1"});
      w.kafka.Commit("web-0", "orders");
      w.kafka.Commit("web-1", "orders");
    }
    EXPECT_FALSE(w.Reconcile("app").failed);
    EXPECT_FALSE(w.Reconcile("web").failed);
    EXPECT_EQ(w.kafka.lists(), i < 30 ? 1 : 2) << "at " << i * 10 << " s";
    EXPECT_EQ(w.Condition("web")["status"], "False") << "at " << i * 10 << " s";
    w.clock.Advance(seconds(10));
  }
  EXPECT_FALSE(w.Reconcile("web").failed);
  EXPECT_EQ(w.kafka.lists(), 3);
  EXPECT_EQ(w.Condition("web")["status"], "True");
  EXPECT_THAT(w.Condition("web")["message"].get<std::string>(), HasSubstr("(x2)"));
  EXPECT_EQ(w.Condition("app")["status"], "False");
}

TEST(ReconcilerGroupList, BrokersThatDoNotListGroupsChangeNothing) {
  World w;
  w.kafka.SetListed(UnimplementedError("the brokers do not list consumer groups"));
  for (int i = 0; i < 3; ++i) {
    const Outcome outcome = w.Reconcile("app");
    EXPECT_FALSE(outcome.failed);
    EXPECT_EQ(outcome.requeue_after, milliseconds(seconds(10)));
    w.clock.Advance(seconds(10));
  }
  EXPECT_EQ(w.kafka.lists(), 1);
  EXPECT_EQ(w.Condition("app")["status"], "Unknown");
  EXPECT_EQ(w.events.Count(kReasonPerInstanceGroupIds), 0);
  EXPECT_EQ(w.autoscalers.Condition(std::string(kNs) + "/app", kConditionReady)["status"], "True");
}

}  // namespace
}  // namespace groupscaler::controller
