// The controller on a real API server, as the chart ServiceAccount: it scales
// Deployments and StatefulSets through their scale subresource, every status
// it writes is accepted, `kubectl get cga` fills every column, and the whole
// scenario makes no request the chart's RBAC refuses.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kubernetes/cluster_test.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using nlohmann::literals::operator""_json_pointer;
using std::chrono::seconds;

// Status writes of the chart user that the API server did not accept.
std::vector<json> RefusedStatusWrites(const std::vector<json>& records) {
  std::vector<json> refused;
  for (const json& r : records) {
    if (r.value("/objectRef/subresource"_json_pointer, "") == "status" &&
        r.value("/responseStatus/code"_json_pointer, 0) >= 300) {
      refused.push_back(r);
    }
  }
  return refused;
}

class StatusTest : public ClusterTest {};

TEST_F(StatusTest, ScalesToTheCeilingAndEveryStatusWriteIsAccepted) {
  const std::string topic = TopicWithLag("orders", 6, 1500);  // lag 9000 on 6 partitions
  Apply(Workload("Deployment", "orders", 1));
  Apply(Autoscaler("orders", topic));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 6; }, seconds(60)))
      << controller->log();
  // kube-controller-manager's ReplicaSet follows the Deployment.
  EXPECT_TRUE(WaitFor(
      [&] {
        const RunResult r =
            Kubectl({"get", "rs", "-l", "app=orders", "-o", "jsonpath={.items[*].spec.replicas}"});
        return r.out == "6";
      },
      seconds(30)));

  std::map<std::string, std::string> columns;
  EXPECT_TRUE(WaitFor(
      [&] {
        columns = PrinterColumns("orders");
        return columns["LAG"] == "9000" && columns["REPLICAS"] == "6";
      },
      seconds(30)))
      << controller->log();
  EXPECT_EQ(columns["TARGET"], "orders");
  EXPECT_EQ(columns["GROUP"], "orders");
  EXPECT_EQ(columns["PARTITIONS"], "6");
  EXPECT_EQ(columns["DESIRED"], "6");
  EXPECT_FALSE(columns["REASON"].empty());
  EXPECT_NE(columns["REASON"], "<none>");

  const json status = Status("orders");
  ASSERT_TRUE(status["conditions"].is_array());
  for (const json& c : status["conditions"]) {
    EXPECT_FALSE(c.value("reason", "").empty()) << c.dump();
    EXPECT_FALSE(c.value("message", "").empty()) << c.dump();
  }
  EXPECT_EQ(Condition("orders", "Ready")["status"], "True");
  EXPECT_EQ(Condition("orders", "AtPartitionCeiling")["status"], "True");

  EXPECT_THAT(RefusedStatusWrites(Audit(ChartUser())), ::testing::IsEmpty());
  EXPECT_THAT(Audit(ChartUser(), 403), ::testing::IsEmpty());
}

TEST_F(StatusTest, ObservedGenerationFollowsTheSpec) {
  const std::string topic = TopicWithLag("orders", 6, 1500);
  Apply(Workload("Deployment", "orders", 1));
  Apply(Autoscaler("orders", topic));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 6; }, seconds(60)))
      << controller->log();

  Apply(Autoscaler("orders", topic, {{"maxReplicas", 4}}));
  const int64_t generation = Get("cga", "orders")["metadata"]["generation"];
  EXPECT_EQ(generation, 2);
  EXPECT_TRUE(WaitFor(
      [&] { return Status("orders").value("observedGeneration", int64_t{0}) == generation; },
      seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 4; }, seconds(30)));
  const json status = Status("orders");
  for (const json& c : status["conditions"]) {
    EXPECT_EQ(c.value("observedGeneration", int64_t{0}), generation) << c.dump();
  }
  EXPECT_EQ(Status("orders").value("ceiling", 0), 4);
  EXPECT_THAT(RefusedStatusWrites(Audit(ChartUser())), ::testing::IsEmpty());
}

TEST_F(StatusTest, ScalesAStatefulSetThroughItsScaleSubresource) {
  const std::string topic = TopicWithLag("ledger", 3, 2000);
  Apply(Workload("StatefulSet", "ledger", 1));
  Apply(Autoscaler("ledger", topic, {{"scaleTargetRef", {{"kind", "StatefulSet"}}}}));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  EXPECT_TRUE(WaitFor([&] { return Replicas("statefulset", "ledger") == 3; }, seconds(60)))
      << controller->log();
  EXPECT_TRUE(
      WaitFor([&] { return Status("ledger").value("currentReplicas", 0) == 3; }, seconds(30)));
  EXPECT_THAT(Audit(ChartUser(), 403), ::testing::IsEmpty());
}

TEST_F(StatusTest, InWatchNamespaceModeTheChartRoleRefusesNothing) {
  InstallChart({"watchNamespace=" + ns_});
  const std::string topic = TopicWithLag("orders", 3, 2000);
  Apply(Workload("Deployment", "orders", 1));
  Apply(Autoscaler("orders", topic));
  Subprocess* controller = StartController(ChartServiceAccountKubeconfig(), {"--namespace=" + ns_});
  ASSERT_NE(controller, nullptr);
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 3; }, seconds(60)))
      << controller->log();
  EXPECT_TRUE(WaitFor([&] { return PrinterColumns("orders")["REPLICAS"] == "3"; }, seconds(30)));
  EXPECT_THAT(Audit(ChartUser(), 403), ::testing::IsEmpty());
  InstallChart();
}

}  // namespace
}  // namespace groupscaler::testing
