// The warnings of the throughput work end to end, in-process: the real
// Kubernetes client over HTTP against the test API server, the real
// librdkafka reader against the mock cluster, real time. A pod template that
// gives each replica its own group id, and a partition whose commit stops
// while the others move, each raise their condition and one Event.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "controller/batching_lag_reader.h"
#include "controller/controller.h"
#include "kafka/lag_reader.h"
#include "kafka/rdkafka_lag_reader.h"
#include "kube/kube_client.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

constexpr const char* kNs = "payments";

bool WaitFor(const std::function<bool()>& done, milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

// A Deployment whose one container has `env`.
json Deployment(const std::string& name, int replicas, json env) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec",
               {{"containers",
                 {{{"name", "consumer"},
                   {"image", "consumer:1"},
                   {"args", {"--topic=orders"}},
                   {"env", std::move(env)}}}}}}}}}},
          {"status", {{"replicas", replicas}}}};
}

json Autoscaler(const std::string& name, const std::string& bootstrap, json overrides) {
  json cr = {
      {"apiVersion", "groupscaler.io/v1alpha1"},
      {"kind", "ConsumerGroupAutoscaler"},
      {"metadata", {{"name", name}, {"namespace", kNs}}},
      {"spec",
       {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", name}}},
        {"kafka", {{"bootstrapServers", {bootstrap}}, {"groupId", name}, {"topics", {"orders"}}}},
        {"maxReplicas", 24},
        {"lagThreshold", 100},
        {"pollIntervalSeconds", 1}}}};
  cr["spec"].merge_patch(overrides);
  return cr;
}

class WarningsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = groupscaler::testing::KubeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto cluster = groupscaler::testing::MockCluster::Start(1);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    auto client = kube::KubeClient::Create({.server = server_->url()});
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
  }
  void TearDown() override {
    controller_.reset();
    registry_.reset();
  }

  void StartController() {
    registry_ = std::make_unique<kafka::LagReaderPool>(Batching(kafka::RdKafkaLagReaderFactory()));
    controller_ = std::make_unique<Controller>(
        ReconcilerDeps{.autoscalers = client_.get(),
                       .scales = client_.get(),
                       .events = client_.get(),
                       .secrets = client_.get(),
                       .hpas = client_.get(),
                       .workloads = client_.get(),
                       .readers = registry_.get(),
                       .clock = &clock_},
        ControllerOptions{.workers = 1, .reconciler = {.observe_timeout = milliseconds(1500)}});
    controller_->Start();
  }

  void Commit(int32_t partition, int64_t offset) {
    ASSERT_TRUE(groupscaler::testing::CommitOffsets(cluster_->bootstrap_servers(), "app",
                                                    {{"orders", partition, offset}})
                    .ok());
  }
  void Put(const std::string& resource, const json& object) {
    auto stored = server_->Upsert(resource, object.dump());
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  }
  json Status() {
    auto text = server_->Get("groupscaler.io/v1alpha1", "consumergroupautoscalers", kNs, "app");
    if (!text.ok()) return nullptr;
    json object = json::parse(*text);
    return object.contains("status") ? object["status"] : json(nullptr);
  }
  json Condition(const std::string& type) {
    json status = Status();
    if (!status.is_object() || !status.contains("conditions")) return nullptr;
    for (const json& c : status["conditions"]) {
      if (c["type"] == type) return c;
    }
    return nullptr;
  }
  std::string ConditionStatus(const std::string& type) {
    json c = Condition(type);
    return c.is_null() ? "" : c["status"].get<std::string>();
  }
  int Events(const std::string& reason) {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.method == "POST" && r.path.ends_with("/events") &&
          json::parse(r.body)["reason"] == reason) {
        ++n;
      }
    }
    return n;
  }
  // GETs of the Deployment itself (not its /scale).
  int WorkloadReads() {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.method == "GET" && r.path.ends_with("/deployments/app")) ++n;
    }
    return n;
  }

  RealClock clock_;
  std::unique_ptr<groupscaler::testing::KubeApiServer> server_;
  std::unique_ptr<groupscaler::testing::MockCluster> cluster_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<kafka::LagReaderPool> registry_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(WarningsE2E, PerInstanceGroupIdsWarnedWithTheMultiplierUntilFixed) {
  ASSERT_TRUE(cluster_->CreateTopic("orders", 6).ok());
  Put("deployments", Deployment("app", 3,
                                {{{"name", "POD"},
                                  {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
                                 {{"name", "KAFKA_GROUP_ID"}, {"value", "app-$(POD)"}}}));
  // minReplicas 3: no scaling, so the Deployment changes only when the test
  // changes it.
  Put("consumergroupautoscalers",
      Autoscaler("app", cluster_->bootstrap_servers(), {{"minReplicas", 3}}));
  StartController();
  ASSERT_TRUE(
      WaitFor([&] { return ConditionStatus("PerInstanceGroupIds") == "True"; }, seconds(10)));
  const std::string message = Condition("PerInstanceGroupIds")["message"];
  EXPECT_THAT(message, HasSubstr("container consumer: env KAFKA_GROUP_ID derives the consumer "
                                 "group id from the pod's identity ($(POD))"));
  EXPECT_THAT(message, HasSubstr("processed 3 times (x3)"));
  EXPECT_EQ(Condition("PerInstanceGroupIds")["reason"], "PerInstanceGroupIds");

  // Further polls neither repeat the Event nor read the unchanged workload.
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(Events("PerInstanceGroupIds"), 1);
  EXPECT_EQ(WorkloadReads(), 1);

  // Fixed: one group id for every replica.
  Put("deployments", Deployment("app", 3, {{{"name", "KAFKA_GROUP_ID"}, {"value", "app"}}}));
  ASSERT_TRUE(
      WaitFor([&] { return ConditionStatus("PerInstanceGroupIds") == "False"; }, seconds(10)));
  EXPECT_EQ(Condition("PerInstanceGroupIds")["reason"], "SharedGroupId");
  EXPECT_EQ(WorkloadReads(), 2);
  EXPECT_EQ(Events("PerInstanceGroupIds"), 1);
}

TEST_F(WarningsE2E, StalledPartitionLeftOutListedAndWarnedOnce) {
  ASSERT_TRUE(cluster_->CreateTopic("orders", 2).ok());
  Commit(0, 0);
  Commit(1, 0);
  ASSERT_TRUE(
      groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders", {60, 60}).ok());
  Put("deployments", Deployment("app", 1, json::array()));
  Put("consumergroupautoscalers",
      Autoscaler("app", cluster_->bootstrap_servers(),
                 {{"lagThreshold", 1000}, {"policy", {{"type", "lag"}, {"stallSeconds", 3}}}}));
  StartController();
  // Partition 1 keeps committing; partition 0 stays at 0 with 60 messages.
  int64_t offset = 0;
  auto last_commit = Steady::now() - seconds(1);
  const bool stalled = WaitFor(
      [&] {
        if (offset < 60 && Steady::now() - last_commit >= milliseconds(300)) {
          Commit(1, ++offset);
          last_commit = Steady::now();
        }
        return ConditionStatus("Stalled") == "True";
      },
      seconds(15));
  ASSERT_TRUE(stalled) << Status().dump();
  EXPECT_EQ(Condition("Stalled")["reason"], "StalledPartitions");
  EXPECT_THAT(Condition("Stalled")["message"].get<std::string>(),
              HasSubstr("whose committed offset has not moved for 3s"));
  EXPECT_EQ(Status()["stalledPartitions"], json::parse(R"([{"topic":"orders","partition":0}])"));
  EXPECT_THAT(Status()["message"].get<std::string>(),
              HasSubstr("1 stalled partition (lag 60) left out"));
  EXPECT_EQ(Events("StalledPartitions"), 1);
  EXPECT_TRUE(Status()["produceRate"].is_number());
  EXPECT_EQ(Status()["rebalancesCaused"], 0);
}

TEST_F(WarningsE2E, PodTemplateReadOverHttp) {
  json deployment = Deployment(
      "app", 2,
      {{{"name", "GROUP_ID"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
       {{"name", "PASSWORD"},
        {"valueFrom", {{"secretKeyRef", {{"name", "s"}, {"key", "password"}}}}}},
       {{"name", "TOPIC"}, {"value", "orders"}}});
  deployment["spec"]["template"]["spec"]["containers"][0]["command"] = {"/bin/consumer"};
  Put("deployments", deployment);
  StatusOr<kube::PodTemplate> got = client_->GetPodTemplate(
      {.kind = kube::WorkloadKind::kDeployment, .namespace_name = kNs, .name = "app"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->containers.size(), 1u);
  const kube::ContainerSpec& c = got->containers[0];
  EXPECT_EQ(c.name, "consumer");
  EXPECT_EQ(c.command_and_args, (std::vector<std::string>{"/bin/consumer", "--topic=orders"}));
  ASSERT_EQ(c.env.size(), 3u);
  EXPECT_EQ(c.env[0].name, "GROUP_ID");
  EXPECT_EQ(c.env[0].field_path, "metadata.name");
  EXPECT_EQ(c.env[1].value, "");
  EXPECT_EQ(c.env[1].field_path, "");
  EXPECT_EQ(c.env[2].value, "orders");

  StatusOr<kube::PodTemplate> missing = client_->GetPodTemplate(
      {.kind = kube::WorkloadKind::kStatefulSet, .namespace_name = kNs, .name = "app"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace groupscaler::controller
