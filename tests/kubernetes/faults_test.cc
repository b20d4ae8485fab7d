// The real API server going away and coming back, its history compacted,
// and two controllers on one real coordination.k8s.io/v1 Lease.

#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "kubernetes/cluster_test.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// Lines of `log` that say the controller scaled something.
int ScaleLines(const std::string& log) {
  int n = 0;
  for (size_t at = log.find("scaled "); at != std::string::npos; at = log.find("scaled ", at + 1)) {
    ++n;
  }
  return n;
}

class FaultsTest : public ClusterTest {
 protected:
  // A Deployment `name` at 1 replica and its autoscaler on 6 partitions with
  // lag, scaled to 6 by the running controller.
  void ScaledTo6(const std::string& name, Subprocess* controller) {
    Apply(Workload("Deployment", name, 1));
    Apply(Autoscaler(name, topic_));
    ASSERT_TRUE(WaitFor([&] { return Replicas("deployment", name) == 6; }, seconds(60)))
        << controller->log();
  }
  std::string topic_;
};

TEST_F(FaultsTest, AfterAnApiServerRestartTheControllerActsOnTheNewSpec) {
  topic_ = TopicWithLag("orders", 6, 1500);
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  ScaledTo6("orders", controller);

  plane().StopApiServer();
  // The controller keeps running through the outage.
  std::this_thread::sleep_for(seconds(3));
  EXPECT_FALSE(controller->Wait(std::chrono::milliseconds(0)).has_value());
  ASSERT_TRUE(plane().StartApiServer().ok());
  Apply(Autoscaler("orders", topic_, {{"maxReplicas", 2}}));
  // Within a few polls (1 s), however the outage grew the error backoff.
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 2; }, seconds(15)))
      << controller->log();
  EXPECT_TRUE(
      WaitFor([&] { return Status("orders").value("observedGeneration", 0) == 2; }, seconds(20)));
}

TEST_F(FaultsTest, AWatchFromCompactedHistoryRelistsAndMissesNothing) {
  topic_ = TopicWithLag("kept", 6, 1500);
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  ScaledTo6("kept", controller);
  Apply(Workload("Deployment", "dropped", 1));
  Apply(Autoscaler("dropped", topic_, {{"kafka", {{"groupId", "kept"}}}}));
  ASSERT_TRUE(WaitFor([&] { return Replicas("deployment", "dropped") == 6; }, seconds(60)));

  // Writes and deletes while the controller's watch is away, then the
  // history it would resume from is compacted.
  plane().StopApiServer();
  ASSERT_TRUE(plane().CompactEtcd().ok());
  ASSERT_TRUE(plane().StartApiServer().ok());
  Apply(Autoscaler("kept", topic_, {{"maxReplicas", 3}}));
  ASSERT_EQ(Kubectl({"delete", "cga", "dropped"}).exit_code, 0);
  ASSERT_TRUE(plane().CompactEtcd().ok());
  ASSERT_EQ(Kubectl({"scale", "deployment", "dropped", "--replicas=1"}).exit_code, 0);

  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "kept") == 3; }, seconds(15)))
      << controller->log();
  EXPECT_TRUE(WaitFor([&] { return controller->log().find("relisting") != std::string::npos; },
                      seconds(30)))
      << controller->log();
  // The deleted autoscaler's workload is left alone from then on.
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(Replicas("deployment", "dropped"), 1);
}

TEST_F(FaultsTest, TwoControllersOneWriterAndTheOtherTakesOverWithinTheLease) {
  topic_ = TopicWithLag("orders", 6, 1500);
  InstallChart();
  const std::filesystem::path kubeconfig = ChartServiceAccountKubeconfig();
  const std::vector<std::string> flags = {
      "--leader-elect", std::string("--leader-election-namespace=") + kReleaseNamespace};
  Subprocess* first = StartController(kubeconfig, flags, "first.log");
  ASSERT_TRUE(WaitFor(
      [&] {
        return first->log().find("acquired") != std::string::npos ||
               first->log().find("took lease") != std::string::npos;
      },
      seconds(40)))
      << first->log();
  Subprocess* second = StartController(kubeconfig, flags, "second.log");
  ScaledTo6("orders", first);
  std::this_thread::sleep_for(seconds(3));
  EXPECT_GT(ScaleLines(first->log()), 0);
  EXPECT_EQ(ScaleLines(second->log()), 0) << second->log();

  // The leader dies without releasing the Lease: the other takes it once
  // the lease duration (15 s) has passed, and scales.
  const auto killed = std::chrono::steady_clock::now();
  first->Signal(SIGKILL);
  ASSERT_TRUE(first->Wait(seconds(5)).has_value());
  ASSERT_TRUE(
      WaitFor([&] { return second->log().find("took lease") != std::string::npos; }, seconds(30)))
      << second->log();
  EXPECT_LT(std::chrono::steady_clock::now() - killed, seconds(15 + 2 + 3));
  Apply(Autoscaler("orders", topic_, {{"maxReplicas", 2}}));
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 2; }, seconds(30)))
      << second->log();
  const json lease = json::parse(plane()
                                     .kubectl({"-n", kReleaseNamespace, "get", "lease",
                                               "groupscaler-controller", "-o", "json"})
                                     .out);
  EXPECT_EQ(lease["spec"].value("leaseTransitions", 0), 1);
}

}  // namespace
}  // namespace groupscaler::testing
