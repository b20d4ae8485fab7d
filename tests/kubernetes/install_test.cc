// Installing groupscaler on a real API server (v1.20.2) the two ways the
// README gives: `helm install` of the chart and `kubectl apply -f manifests/`.
// 1.20 has no CEL: the CRD is accepted there with its x-kubernetes-validations
// dropped, and the controller's own validation stands in (status_test).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kubernetes/cluster_test.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr char kCrd[] = "customresourcedefinition/consumergroupautoscalers.groupscaler.io";

class InstallTest : public ClusterTest {
 protected:
  // Each test installs its own way.
  bool NeedsChart() const override { return false; }

  // Waits until the CRD is established and `kubectl get cga` answers.
  void ExpectCrdServed() {
    const RunResult wait = plane().kubectl(
        {"wait", "--for=condition=established", "--timeout=30s", kCrd}, seconds(40));
    EXPECT_EQ(wait.exit_code, 0) << wait.err;
    EXPECT_TRUE(WaitFor([&] { return Kubectl({"get", "cga"}).exit_code == 0; }, seconds(20)));
  }
};

TEST_F(InstallTest, HelmInstallsTheChart) {
  const RunResult install =
      Helm(plane(), {"install", "gs-helm", SourcePath("charts/groupscaler").string(), "--namespace",
                     ns_, "--set", "replicaCount=2"});
  ASSERT_EQ(install.exit_code, 0) << install.err << install.out;
  ExpectCrdServed();
  EXPECT_EQ(Kubectl({"get", "deployment", "gs-helm-groupscaler", "-o", "name"}).exit_code, 0)
      << Kubectl({"get", "all"}).out;
  EXPECT_EQ(Kubectl({"get", "serviceaccount", "gs-helm-groupscaler"}).exit_code, 0);
  EXPECT_EQ(plane().kubectl({"get", "clusterrole", "gs-helm-groupscaler"}).exit_code, 0);
  EXPECT_EQ(Kubectl({"get", "role", "gs-helm-groupscaler-leader-election"}).exit_code, 0);
  const RunResult uninstall = Helm(plane(), {"uninstall", "gs-helm", "--namespace", ns_});
  EXPECT_EQ(uninstall.exit_code, 0) << uninstall.err;
}

TEST_F(InstallTest, HelmInstallsInWatchNamespaceMode) {
  const RunResult install =
      Helm(plane(), {"install", "gs-ns", SourcePath("charts/groupscaler").string(), "--namespace",
                     ns_, "--set", "watchNamespace=" + ns_});
  ASSERT_EQ(install.exit_code, 0) << install.err << install.out;
  EXPECT_EQ(Kubectl({"get", "role", "gs-ns-groupscaler"}).exit_code, 0);
  EXPECT_NE(plane().kubectl({"get", "clusterrole", "gs-ns-groupscaler"}).exit_code, 0);
  EXPECT_EQ(Helm(plane(), {"uninstall", "gs-ns", "--namespace", ns_}).exit_code, 0);
}

// kubectl checks the CRD against the server's own (pre-1.25) schema, which
// has no x-kubernetes-validations: the README's command for such servers
// turns that check off, and the server drops the rules.
TEST_F(InstallTest, KubectlApplyOfTheManifestsInstalls) {
  const RunResult strict = plane().kubectl({"apply", "-f", SourcePath("manifests").string()});
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_THAT(strict.err, ::testing::HasSubstr("x-kubernetes-validations"));
  const RunResult apply =
      plane().kubectl({"apply", "--validate=false", "-f", SourcePath("manifests").string()});
  ASSERT_EQ(apply.exit_code, 0) << apply.err << apply.out;
  ExpectCrdServed();
  EXPECT_EQ(plane().kubectl({"-n", "groupscaler", "get", "deployment", "groupscaler"}).exit_code,
            0);
  EXPECT_EQ(plane().kubectl({"get", "clusterrolebinding", "groupscaler"}).exit_code, 0);
  // Applying again changes nothing and fails nothing.
  const RunResult again =
      plane().kubectl({"apply", "--validate=false", "-f", SourcePath("manifests").string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(InstallTest, AServerWithoutCelKeepsTheSchemaAndDropsTheRules) {
  const RunResult apply = plane().kubectl(
      {"apply", "--validate=false", "-f", SourcePath("manifests/crd.yaml").string()});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  ExpectCrdServed();
  const json crd = json::parse(plane().kubectl({"get", kCrd, "-o", "json"}).out);
  const std::string schema = crd["spec"]["versions"][0]["schema"].dump();
  EXPECT_EQ(schema.find("x-kubernetes-validations"), std::string::npos);
  EXPECT_NE(schema.find("lagThreshold"), std::string::npos);

  // The schema still rejects what it types: a string for maxReplicas.
  json bad = Autoscaler("typed", "orders", {{"maxReplicas", "many"}});
  bad["metadata"]["namespace"] = ns_;
  const RunResult refused = plane().Apply(bad.dump());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, ::testing::HasSubstr("maxReplicas"));
  // What only a CEL rule says gets through, for the controller to reject.
  json cel_only = Autoscaler("cel-only", "orders", {{"minReplicas", 5}, {"maxReplicas", 2}});
  cel_only["metadata"]["namespace"] = ns_;
  const RunResult accepted = plane().Apply(cel_only.dump());
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;
}

}  // namespace
}  // namespace groupscaler::testing
