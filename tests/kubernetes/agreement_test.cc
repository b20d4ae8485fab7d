// The project's own API test server (support/kube_api_server.h) must not
// accept what the real one refuses: the same writes go to both, through the
// controller's own KubeClient, and both must answer alike.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <optional>

#include "kube/kube_client.h"
#include "kube/rest_client.h"
#include "kubernetes/cluster_test.h"
#include "support/kube_api_server.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;

struct WriteCase {
  const char* name;
  json status;  // merge-patched into the status subresource
  int code;     // 0: accepted; else the HTTP code both must answer
};

const WriteCase kCases[] = {
    {"FullStatus",
     {{"observedGeneration", 1},
      {"partitions", 6},
      {"totalLag", 9000},
      {"reason", "Steady"},
      {"maxLagSeconds", 1.5},
      {"stalledPartitions", json::array({{{"topic", "t"}, {"partition", 0}}})},
      {"conditions",
       {{{"type", "Ready"},
         {"status", "True"},
         {"reason", "Reconciled"},
         {"message", "m"},
         {"lastTransitionTime", "2026-01-02T03:04:05Z"},
         {"observedGeneration", 1}}}}},
     0},
    {"NullRemovesAField", {{"totalLag", nullptr}, {"reason", nullptr}}, 0},
    {"EmptyString", {{"reason", ""}}, 0},
    {"StringForAnInteger", {{"totalLag", "9000"}}, 422},
    {"NumberForAnInteger", {{"partitions", 1.5}}, 422},
    {"ConditionStatusOutsideItsEnum",
     {{"conditions", {{{"type", "Ready"}, {"status", "Yes"}}}}},
     422},
    {"ConditionWithoutStatus", {{"conditions", {{{"type", "Ready"}}}}}, 422},
    {"StalledPartitionWithoutTopic", {{"stalledPartitions", {{{"partition", 1}}}}}, 422},
};

class AgreementTest : public ClusterTest, public ::testing::WithParamInterface<WriteCase> {
 protected:
  // 0 when `client` patches `status` into autoscaler `name`; 422 when the
  // server says Invalid; -1 otherwise.
  static int PatchCode(kube::KubeClient& client, const std::string& ns, const std::string& name,
                       const json& status) {
    StatusOr<kube::Autoscaler> patched = client.PatchAutoscalerStatus(ns, name, status.dump());
    if (patched.ok()) return 0;
    return kube::ApiReason(patched.status()) == "Invalid" ? 422 : -1;
  }
};

TEST_P(AgreementTest, BothServersAnswerAStatusWriteAlike) {
  const WriteCase& c = GetParam();
  // The real server.
  ASSERT_EQ(
      plane()
          .kubectl({"apply", "--validate=false", "-f", SourcePath("manifests/crd.yaml").string()})
          .exit_code,
      0);
  ASSERT_EQ(plane()
                .kubectl({"wait", "--for=condition=established", "--timeout=30s",
                          "crd/consumergroupautoscalers.groupscaler.io"})
                .exit_code,
            0);
  Apply(Autoscaler("agree", "orders"));
  auto real = kube::KubeClient::Create(plane().Admin());
  ASSERT_TRUE(real.ok());
  // The test server, with the same object.
  auto test_server = KubeApiServer::Start();
  ASSERT_TRUE(test_server.ok());
  json cr = Autoscaler("agree", "orders");
  ASSERT_TRUE((*test_server)->Upsert("consumergroupautoscalers", cr.dump()).ok());
  auto fake = kube::KubeClient::Create({.server = (*test_server)->url()});
  ASSERT_TRUE(fake.ok());

  const int real_code = PatchCode(**real, ns_, "agree", c.status);
  const int test_code = PatchCode(**fake, ns_, "agree", c.status);
  EXPECT_EQ(real_code, c.code) << "the real server";
  EXPECT_EQ(test_code, real_code) << "the test server disagrees with the real one";
}

INSTANTIATE_TEST_SUITE_P(StatusWrites, AgreementTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<WriteCase>& info) {
                           return std::string(info.param.name);
                         });

// autoscaling/v2 is not served by 1.20; the test server configured as 1.20
// answers the same, and discovery lists the same versions.
TEST_F(ClusterTest, TheTestServerAsKubernetes120ServesTheSameHpaVersions) {
  const json real = json::parse(plane().kubectl({"get", "--raw", "/apis/autoscaling"}).out);
  std::vector<std::string> versions;
  for (const json& v : real["versions"]) versions.push_back(v["version"]);
  std::sort(versions.begin(), versions.end());
  EXPECT_THAT(versions, ::testing::ElementsAre("v1", "v2beta1", "v2beta2"));
  EXPECT_NE(
      plane().kubectl({"get", "--raw", "/apis/autoscaling/v2/horizontalpodautoscalers"}).exit_code,
      0);

  KubeApiServer::Options options;
  options.hpa_versions = versions;
  auto test_server = KubeApiServer::Start(options);
  ASSERT_TRUE(test_server.ok());
  auto client = kube::KubeClient::Create({.server = (*test_server)->url()});
  ASSERT_TRUE(client.ok());
  auto listed = (*client)->ListHpas("payments");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ((*test_server)->CountRequests("GET", "/apis/autoscaling/v2beta2/"), 1);
}

// The target cache reads each target's replicas from a watch of the
// Deployments and StatefulSets, not from /scale: what WatchWorkloads keeps of
// each must be what the real /scale subresource says, selector included
// (matchLabels and matchExpressions, as the server formats them), and a list
// longer than a page (limit and continue) must come whole.
TEST_F(ClusterTest, AWatchedWorkloadCarriesTheScaleTheRealServerServes) {
  json deployment = Workload("Deployment", "selected", 3);
  deployment["spec"]["selector"]["matchExpressions"] = {
      {{"key", "track"}, {"operator", "In"}, {"values", {"stable", "canary"}}},
      {{"key", "zone"}, {"operator", "NotIn"}, {"values", {"b"}}},
      {{"key", "app"}, {"operator", "Exists"}},
      {{"key", "legacy"}, {"operator", "DoesNotExist"}}};
  deployment["spec"]["template"]["metadata"]["labels"]["track"] = "stable";
  Apply(deployment);
  Apply(Workload("StatefulSet", "stateful", 2));
  Apply(Workload("Deployment", "another", 0));
  Apply(Workload("Deployment", "third", 0));

  // Pages of 2: the three Deployments come in two.
  kube::ClientOptions options;
  options.qps = 0;
  options.list_page = 2;
  auto client = kube::KubeClient::Create(plane().Admin(), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  for (kube::WorkloadKind kind :
       {kube::WorkloadKind::kDeployment, kube::WorkloadKind::kStatefulSet}) {
    std::mutex mu;
    std::optional<kube::WorkloadList> listed;
    auto watch =
        (*client)->WatchWorkloads(kind, ns_, {.on_list = [&](const kube::WorkloadList& list) {
                                    std::lock_guard lock(mu);
                                    listed = list;
                                  }});
    ASSERT_TRUE(WaitFor(
        [&] {
          std::lock_guard lock(mu);
          return listed.has_value();
        },
        std::chrono::seconds(20)));
    std::lock_guard lock(mu);
    EXPECT_EQ(listed->items.size(), kind == kube::WorkloadKind::kDeployment ? 3u : 1u);
    for (const kube::Workload& w : listed->items) {
      StatusOr<kube::Scale> scale =
          (*client)->GetScale({.kind = kind, .namespace_name = ns_, .name = w.metadata.name});
      ASSERT_TRUE(scale.ok()) << scale.status().ToString();
      EXPECT_EQ(w.scale.selector, scale->selector) << w.metadata.name;
      EXPECT_EQ(w.scale.spec_replicas, scale->spec_replicas) << w.metadata.name;
      EXPECT_EQ(w.scale.resource_version, scale->resource_version) << w.metadata.name;
    }
  }
}

}  // namespace
}  // namespace groupscaler::testing
