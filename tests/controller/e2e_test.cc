// The controller end to end, in-process: the real Kubernetes client over
// HTTP against the test API server (tests/support), the real librdkafka
// reader against librdkafka's mock cluster, real time. Assertions are on
// what the API server received and stored.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/e2e.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Autoscaler;
using testing::Deployment;
using testing::kNamespace;
using testing::kPollSeconds;
using testing::WaitFor;
using Steady = std::chrono::steady_clock;

class ControllerE2E : public testing::EndToEndTest {
 protected:
  ControllerE2E() : EndToEndTest(3) {}

  bool Reconciled(const std::string& name) {
    json status = GetStatus(name);
    return status.is_object() && status.contains("observedGeneration");
  }
};

TEST_F(ControllerE2E, LagRiseGivesOneScalePatchWithinOnePollInterval) {
  // 300 messages over 6 partitions, all consumed: no lag yet.
  Topic("orders", 6, "app");
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {50, 50, 50, 50, 50, 50})
                  .ok());
  CommitAll("orders", 6, "app", 50);
  Put("deployments", Deployment("app", 1));
  Put("consumergroupautoscalers", Autoscaler("app", cluster_->bootstrap_servers()));
  StartController();
  ASSERT_TRUE(WaitFor([&] { return Reconciled("app"); }, seconds(10)));
  EXPECT_EQ(GetStatus("app")["totalLag"], 0);
  EXPECT_EQ(ScalePatches("app"), 0) << "no lag, desired == current == minReplicas";

  // The lag rises to 300 at once (lagThreshold 100: 3 replicas): the group
  // rewinds its commits in one request. Producing the 300 here raced with
  // a poll on a loaded machine: a poll in the middle saw 200 and scaled to
  // 2, and the group's settling then held it there.
  CommitAll("orders", 6, "app", 0);
  const auto produced = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return ScalePatches("app") > 0; }, seconds(10)));
  const auto elapsed = Steady::now() - produced;
  // One poll interval, plus the reconcile's own round trips.
  EXPECT_LT(elapsed, seconds(kPollSeconds) + milliseconds(1000));
  EXPECT_EQ(Replicas("app"), 3);

  // Desired now equals current: further polls never PATCH /scale.
  ASSERT_TRUE(WaitForPolls("app", 3));
  EXPECT_EQ(ScalePatches("app"), 1);
  EXPECT_EQ(GetStatus("app")["desiredReplicas"], 3);
  EXPECT_EQ(GetStatus("app")["totalLag"], 300);
  EXPECT_EQ(ConditionStatus("app", "Ready"), "True");
  EXPECT_EQ(Events("ScaledUp"), 1);
  // The scale patch is a merge patch with a field manager.
  for (const auto& r : server_->Requests()) {
    if (r.method == "PATCH" && r.path.ends_with("/scale")) {
      EXPECT_EQ(r.content_type, "application/merge-patch+json");
      EXPECT_EQ(json::parse(r.body)["spec"]["replicas"], 3);
    }
  }
}

TEST_F(ControllerE2E, PartitionCeilingHolds) {
  Topic("narrow", 3, "app");
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "narrow",
                                                  {1000, 1000, 1000})
                  .ok());
  Put("deployments", Deployment("app", 1));
  Put("consumergroupautoscalers",
      Autoscaler("app", cluster_->bootstrap_servers(), {{"kafka", {{"topics", {"narrow"}}}}}));
  StartController();
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 3; }, seconds(10)));
  ASSERT_TRUE(WaitForPolls("app", 2));
  EXPECT_EQ(Replicas("app"), 3) << "3000 lag asks for 30, 3 partitions allow 3";
  EXPECT_EQ(ScalePatches("app"), 1);
  EXPECT_EQ(ConditionStatus("app", "AtPartitionCeiling"), "True");
  EXPECT_EQ(GetStatus("app")["ceiling"], 3);
}

TEST_F(ControllerE2E, BadCrAndMissingSecretBesideAGoodOne) {
  Topic("orders", 4, "good");
  ASSERT_TRUE(
      groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders", {100, 100, 0, 0})
          .ok());
  for (const char* name : {"good", "bad", "nosecret"}) Put("deployments", Deployment(name, 1));
  Put("consumergroupautoscalers", Autoscaler("good", cluster_->bootstrap_servers()));
  // The test API server runs no CEL: an invalid spec reaches the controller.
  Put("consumergroupautoscalers",
      Autoscaler("bad", cluster_->bootstrap_servers(), {{"lagThreshold", 0}}));
  Put("consumergroupautoscalers",
      Autoscaler("nosecret", cluster_->bootstrap_servers(),
                 {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}}));
  StartController();
  ASSERT_TRUE(WaitFor([&] { return Replicas("good") == 2; }, seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return Reconciled("bad") && Reconciled("nosecret"); }, seconds(5)));
  EXPECT_EQ(ConditionStatus("bad", "SpecValid"), "False");
  EXPECT_THAT(GetStatus("bad")["message"].get<std::string>(), ::testing::HasSubstr("lagThreshold"));
  EXPECT_EQ(GetStatus("nosecret")["reason"], "SecretNotFound");
  // Every autoscaler polls at the same interval; only the good one's polls
  // can be counted (the others never read a /scale).
  ASSERT_TRUE(WaitForPolls("good", 2));
  EXPECT_EQ(Replicas("bad"), 1);
  EXPECT_EQ(Replicas("nosecret"), 1);
  EXPECT_EQ(Events("InvalidSpec"), 1) << "once per generation, not per poll";
  EXPECT_EQ(Events("SecretNotFound"), 1);
  // No retry storm: its status was written once and never again, and it is
  // read from the watch's cache, not by a GET per poll.
  EXPECT_EQ(server_->CountRequests("PATCH", "/consumergroupautoscalers/bad/status"), 1);
  EXPECT_EQ(server_->CountRequests("GET", "/consumergroupautoscalers/bad"), 0);
}

TEST_F(ControllerE2E, KafkaDownHoldsReplicasAndSaysSo) {
  Topic("orders", 6, "app");
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {100, 100, 0, 0, 0, 0})
                  .ok());
  Put("deployments", Deployment("app", 2));
  Put("consumergroupautoscalers", Autoscaler("app", cluster_->bootstrap_servers()));
  StartController();
  ASSERT_TRUE(
      WaitFor([&] { return ConditionStatus("app", "KafkaReachable") == "True"; }, seconds(10)));
  for (int32_t b = 1; b <= 3; ++b) ASSERT_TRUE(cluster_->SetBrokerDown(b).ok());
  ASSERT_TRUE(
      WaitFor([&] { return ConditionStatus("app", "KafkaReachable") == "False"; }, seconds(10)));
  const json status = GetStatus("app");
  EXPECT_FALSE(status.contains("totalLag")) << "unknown lag is absent, never 0";
  EXPECT_EQ(ConditionStatus("app", "Ready"), "False");
  EXPECT_EQ(Replicas("app"), 2);
  EXPECT_EQ(ScalePatches("app"), 0);
  EXPECT_EQ(Events("KafkaUnreachable"), 1);
}

TEST_F(ControllerE2E, DeletedAutoscalerLeavesReplicasAlone) {
  Topic("orders", 6, "app");
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {100, 100, 100, 100, 0, 0})
                  .ok());
  Put("deployments", Deployment("app", 1));
  Put("consumergroupautoscalers", Autoscaler("app", cluster_->bootstrap_servers()));
  StartController();
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 4; }, seconds(10)));
  ASSERT_TRUE(
      server_->Delete("groupscaler.io/v1alpha1", "consumergroupautoscalers", kNamespace, "app")
          .ok());
  ASSERT_TRUE(WaitFor([&] { return controller_->reconciler().tracked() == 0; }, seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return registry_->size() == 0; }, seconds(1)))
      << "the cluster's reader is closed with its last autoscaler";
  // Lag drops to zero; nobody scales down any more.
  ASSERT_TRUE(groupscaler::testing::CommitOffsets(
                  cluster_->bootstrap_servers(), "app",
                  {{"orders", 0, 100}, {"orders", 1, 100}, {"orders", 2, 100}, {"orders", 3, 100}})
                  .ok());
  // A witness autoscaler polls twice: the deleted one, were it still
  // reconciled, would have seen the zero lag by then.
  Put("deployments", Deployment("witness", 1));
  Put("consumergroupautoscalers", Autoscaler("witness", cluster_->bootstrap_servers()));
  ASSERT_TRUE(WaitForPolls("witness", 2));
  EXPECT_EQ(Replicas("app"), 4);
  EXPECT_EQ(ScalePatches("app"), 1);
}

TEST_F(ControllerE2E, NamespaceFlagLimitsTheWatch) {
  Topic("orders", 6, "app");
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {100, 100, 0, 0, 0, 0})
                  .ok());
  Put("deployments", Deployment("app", 1));
  Put("consumergroupautoscalers", Autoscaler("app", cluster_->bootstrap_servers()));
  json elsewhere_deployment = Deployment("app", 1);
  elsewhere_deployment["metadata"]["namespace"] = "other";
  json elsewhere = Autoscaler("app", cluster_->bootstrap_servers());
  elsewhere["metadata"]["namespace"] = "other";
  Put("deployments", elsewhere_deployment);
  Put("consumergroupautoscalers", elsewhere);
  StartController({.namespace_name = kNamespace});
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 2; }, seconds(10)));
  ASSERT_TRUE(WaitForPolls("app", 1));
  EXPECT_EQ(server_->CountRequests("", "/namespaces/other/"), 0);
}

TEST_F(ControllerE2E, ApiErrorsAndBrokenWatchesSurvived) {
  using groupscaler::testing::Fault;
  Topic("orders", 6, "app");
  CommitAll("orders", 6, "late", 0);
  Put("deployments", Deployment("app", 1));
  Put("deployments", Deployment("late", 1));
  Put("consumergroupautoscalers", Autoscaler("app", cluster_->bootstrap_servers()));
  // The first /scale write meets a 500, the status write a 409 and a 429,
  // the first list of the Deployments a 500: all retried (client or work
  // queue), none fatal.
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .method = "PATCH",
                        .path_contains = "/deployments/app/scale",
                        .count = 1,
                        .status_code = 500});
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .method = "PATCH",
                        .path_contains = "/consumergroupautoscalers/app/status",
                        .count = 1,
                        .status_code = 409});
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .method = "PATCH",
                        .path_contains = "/consumergroupautoscalers/app/status",
                        .count = 1,
                        .status_code = 429,
                        .retry_after_seconds = 0});
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .method = "GET",
                        .path_contains = "/apis/apps/v1/deployments",
                        .count = 1,
                        .status_code = 500});
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {50, 50, 50, 50, 50, 50})
                  .ok());
  StartController();
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 3 && Reconciled("app"); }, seconds(10)));
  EXPECT_EQ(Events("ScaledUp"), 1) << "the failed attempt did not count as a scale";

  // The watch breaks and the server forgets its history: the controller
  // resumes (relisting after 410 Gone) and sees an autoscaler created
  // meanwhile.
  ASSERT_TRUE(server_->WaitForWatches(1, seconds(5)));
  server_->BreakWatches();
  server_->CompactHistory();
  Put("consumergroupautoscalers", Autoscaler("late", cluster_->bootstrap_servers()));
  EXPECT_TRUE(WaitFor([&] { return Replicas("late") == 3; }, seconds(10)));
}

}  // namespace
}  // namespace groupscaler::controller
