// The warnings of the throughput work end to end, in-process: the real
// Kubernetes client over HTTP against the test API server, the real
// librdkafka reader against the mock cluster, real time. A pod template that
// gives each replica its own group id, and a partition whose commit stops
// while the others move, each raise their condition and one Event.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/e2e.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Autoscaler;
using ::testing::HasSubstr;
using testing::kNamespace;
using testing::WaitFor;
using Steady = std::chrono::steady_clock;

// A Deployment whose one container has `env`.
json ConsumerDeployment(const std::string& name, int replicas, json env) {
  json deployment = testing::Deployment(name, replicas);
  deployment["spec"]["template"] = {{"metadata", {{"labels", {{"app", name}}}}},
                                    {"spec",
                                     {{"containers",
                                       {{{"name", "consumer"},
                                         {"image", "consumer:1"},
                                         {"args", {"--topic=orders"}},
                                         {"env", std::move(env)}}}}}}};
  return deployment;
}

class WarningsE2E : public testing::EndToEndTest {
 protected:
  void Commit(int32_t partition, int64_t offset) {
    ASSERT_TRUE(testing::CommitOffsets(cluster_->bootstrap_servers(), "app",
                                       {{"orders", partition, offset}})
                    .ok());
  }
  // GETs of the Deployment itself (not its /scale).
  int WorkloadReads() {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.method == "GET" && r.path.ends_with("/deployments/app")) ++n;
    }
    return n;
  }
};

TEST_F(WarningsE2E, PerInstanceGroupIdsWarnedWithTheMultiplierUntilFixed) {
  ASSERT_TRUE(cluster_->CreateTopic("orders", 6).ok());
  Put("deployments",
      ConsumerDeployment(
          "app", 3,
          {{{"name", "POD"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
           {{"name", "KAFKA_GROUP_ID"}, {"value", "app-$(POD)"}}}));
  // minReplicas 3: no scaling, so the Deployment changes only when the test
  // changes it.
  Put("consumergroupautoscalers",
      Autoscaler("app", cluster_->bootstrap_servers(), {{"minReplicas", 3}}));
  StartController({.workers = 1, .read_workloads = true});
  ASSERT_TRUE(WaitFor([&] { return ConditionStatus("app", "PerInstanceGroupIds") == "True"; },
                      seconds(10)));
  const std::string message = Condition("app", "PerInstanceGroupIds")["message"];
  EXPECT_THAT(message, HasSubstr("container consumer: env KAFKA_GROUP_ID derives the consumer "
                                 "group id from the pod's identity ($(POD))"));
  EXPECT_THAT(message, HasSubstr("processed 3 times (x3)"));
  EXPECT_EQ(Condition("app", "PerInstanceGroupIds")["reason"], "PerInstanceGroupIds");

  // Further polls do not repeat the Event; the pod template comes from the
  // watch of the Deployments, never a GET.
  ASSERT_TRUE(WaitForPolls("app", 3));
  EXPECT_EQ(Events("PerInstanceGroupIds"), 1);
  EXPECT_EQ(WorkloadReads(), 0);

  // Fixed: one group id for every replica.
  Put("deployments",
      ConsumerDeployment("app", 3, {{{"name", "KAFKA_GROUP_ID"}, {"value", "app"}}}));
  ASSERT_TRUE(WaitFor([&] { return ConditionStatus("app", "PerInstanceGroupIds") == "False"; },
                      seconds(10)));
  EXPECT_EQ(Condition("app", "PerInstanceGroupIds")["reason"], "SharedGroupId");
  EXPECT_EQ(WorkloadReads(), 0);
  EXPECT_EQ(Events("PerInstanceGroupIds"), 1);
}

TEST_F(WarningsE2E, StalledPartitionLeftOutListedAndWarnedOnce) {
  Topic("orders", 2, "app");
  ASSERT_TRUE(
      groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders", {60, 60}).ok());
  Put("deployments", ConsumerDeployment("app", 1, json::array()));
  Put("consumergroupautoscalers",
      Autoscaler("app", cluster_->bootstrap_servers(),
                 {{"lagThreshold", 1000}, {"policy", {{"type", "lag"}, {"stallSeconds", 3}}}}));
  StartController({.workers = 1, .read_workloads = true});
  // Partition 1 keeps committing; partition 0 stays at 0 with 60 messages.
  int64_t offset = 0;
  auto last_commit = Steady::now() - seconds(1);
  const bool stalled = WaitFor(
      [&] {
        if (offset < 60 && Steady::now() - last_commit >= milliseconds(300)) {
          Commit(1, ++offset);
          last_commit = Steady::now();
        }
        return ConditionStatus("app", "Stalled") == "True";
      },
      seconds(15));
  ASSERT_TRUE(stalled) << GetStatus("app").dump();
  EXPECT_EQ(Condition("app", "Stalled")["reason"], "StalledPartitions");
  EXPECT_THAT(Condition("app", "Stalled")["message"].get<std::string>(),
              HasSubstr("whose committed offset has not moved for 3s"));
  EXPECT_EQ(GetStatus("app")["stalledPartitions"],
            json::parse(R"([{"topic":"orders","partition":0}])"));
  EXPECT_THAT(GetStatus("app")["message"].get<std::string>(),
              HasSubstr("1 stalled partition (lag 60) left out"));
  EXPECT_EQ(Events("StalledPartitions"), 1);
  EXPECT_TRUE(GetStatus("app")["produceRate"].is_number());
  EXPECT_EQ(GetStatus("app")["rebalancesCaused"], 0);
}

TEST_F(WarningsE2E, PodTemplateReadOverHttp) {
  json deployment = ConsumerDeployment(
      "app", 2,
      {{{"name", "GROUP_ID"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
       {{"name", "PASSWORD"},
        {"valueFrom", {{"secretKeyRef", {{"name", "s"}, {"key", "password"}}}}}},
       {{"name", "TOPIC"}, {"value", "orders"}}});
  deployment["spec"]["template"]["spec"]["containers"][0]["command"] = {"/bin/consumer"};
  Put("deployments", deployment);
  StatusOr<kube::PodTemplate> got = client_->GetPodTemplate(
      {.kind = kube::WorkloadKind::kDeployment, .namespace_name = kNamespace, .name = "app"});
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
      {.kind = kube::WorkloadKind::kStatefulSet, .namespace_name = kNamespace, .name = "app"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace groupscaler::controller
