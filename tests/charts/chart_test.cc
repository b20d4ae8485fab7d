// The Helm chart, rendered by the real helm binary (scripts/setup puts it in
// .tools/bin): lint, least-privilege RBAC, a hardened Deployment, leader
// election with more than one replica, watch-one-namespace mode, the values
// schema, and the generated plain-kubectl manifests in sync.

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "support/subprocess.h"

namespace groupscaler {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSourceDir = GROUPSCALER_SOURCE_DIR;
const std::string kHelm = kSourceDir + "/.tools/bin/helm";
const std::string kChart = kSourceDir + "/charts/groupscaler";

testing::RunResult Helm(std::vector<std::string> args) {
  args.insert(args.begin(), kHelm);
  return testing::RunProcess(args, std::chrono::seconds(60));
}

// `helm template` with `sets`, parsed into its documents.
std::vector<YAML::Node> Render(const std::vector<std::string>& sets = {},
                               const std::string& namespace_name = "ops") {
  std::vector<std::string> args = {"template", "gs", kChart, "--namespace", namespace_name};
  for (const std::string& set : sets) {
    args.push_back("--set");
    args.push_back(set);
  }
  const testing::RunResult r = Helm(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<YAML::Node> docs;
  for (const YAML::Node& doc : YAML::LoadAll(r.out)) {
    if (doc.IsMap()) docs.push_back(doc);
  }
  return docs;
}

std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& docs, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const YAML::Node& d : docs) {
    if (d["kind"].as<std::string>() == kind) out.push_back(d);
  }
  return out;
}

using Permission = std::tuple<std::string, std::string, std::string>;  // group, resource, verb

std::set<Permission> Permissions(const YAML::Node& role) {
  std::set<Permission> out;
  for (const auto& rule : role["rules"]) {
    for (const auto& group : rule["apiGroups"]) {
      for (const auto& resource : rule["resources"]) {
        for (const auto& verb : rule["verbs"]) {
          out.insert({group.as<std::string>(), resource.as<std::string>(), verb.as<std::string>()});
        }
      }
    }
  }
  return out;
}

const std::set<Permission> kWatchPermissions = {
    {"groupscaler.io", "consumergroupautoscalers", "get"},
    {"groupscaler.io", "consumergroupautoscalers", "list"},
    {"groupscaler.io", "consumergroupautoscalers", "watch"},
    {"groupscaler.io", "consumergroupautoscalers/status", "patch"},
    {"apps", "deployments/scale", "get"},
    {"apps", "deployments/scale", "patch"},
    {"apps", "statefulsets/scale", "get"},
    {"apps", "statefulsets/scale", "patch"},
    {"apps", "deployments", "get"},
    {"apps", "statefulsets", "get"},
    {"autoscaling", "horizontalpodautoscalers", "list"},
    {"", "secrets", "get"},
    {"", "events", "create"},
    {"", "events", "patch"},
};

std::vector<std::string> Args(const std::vector<YAML::Node>& docs) {
  const auto deployments = OfKind(docs, "Deployment");
  EXPECT_EQ(deployments.size(), 1u);
  return deployments.at(0)["spec"]["template"]["spec"]["containers"][0]["args"]
      .as<std::vector<std::string>>();
}

TEST(Chart, LintsStrict) {
  const testing::RunResult r = Helm({"lint", "--strict", kChart});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(Chart, RendersEveryObject) {
  const auto docs = Render();
  for (const char* kind : {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                           "RoleBinding", "Service", "Deployment"}) {
    EXPECT_FALSE(OfKind(docs, kind).empty()) << kind;
  }
  const testing::RunResult crds =
      Helm({"template", "gs", kChart, "--include-crds", "--namespace", "ops"});
  EXPECT_THAT(crds.out, HasSubstr("name: consumergroupautoscalers.groupscaler.io"));
}

TEST(Chart, ClusterRoleIsExactlyLeastPrivilege) {
  const auto roles = OfKind(Render(), "ClusterRole");
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(Permissions(roles[0]), kWatchPermissions);
}

TEST(Chart, LeasesOnlyInItsOwnNamespace) {
  const auto roles = OfKind(Render(), "Role");
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(roles[0]["metadata"]["namespace"].as<std::string>(), "ops");
  EXPECT_EQ(Permissions(roles[0]), (std::set<Permission>{
                                       {"coordination.k8s.io", "leases", "get"},
                                       {"coordination.k8s.io", "leases", "create"},
                                       {"coordination.k8s.io", "leases", "update"},
                                   }));
}

TEST(Chart, DeploymentIsHardened) {
  const auto deployments = OfKind(Render(), "Deployment");
  ASSERT_EQ(deployments.size(), 1u);
  const YAML::Node pod = deployments[0]["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  const YAML::Node c = pod["containers"][0];
  EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].as<bool>());
  EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>());
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"].as<std::vector<std::string>>(),
            std::vector<std::string>{"ALL"});
  EXPECT_TRUE(c["resources"]["requests"]["memory"].IsScalar());
  EXPECT_TRUE(c["resources"]["limits"]["memory"].IsScalar());
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"].as<std::string>(), "health");
  const auto args = Args(deployments);
  EXPECT_EQ(args.at(0), "controller");
  EXPECT_THAT(args, Contains("--health-probe-bind-address=:8081"));
  EXPECT_THAT(args, Contains("--metrics-bind-address=:8080"));
}

struct ReplicaCase {
  std::string name;
  std::string replicas;
  bool want_leader_election;
};

void PrintTo(const ReplicaCase& c, std::ostream* os) { *os << c.name; }

class LeaderElectionTest : public ::testing::TestWithParam<ReplicaCase> {};

TEST_P(LeaderElectionTest, OnWithMoreThanOneReplica) {
  const ReplicaCase& c = GetParam();
  const auto args = Args(Render({"replicaCount=" + c.replicas}));
  if (c.want_leader_election) {
    EXPECT_THAT(args, Contains("--leader-elect"));
    EXPECT_THAT(args, Contains("--leader-election-namespace=ops"));
  } else {
    EXPECT_THAT(args, Not(Contains("--leader-elect")));
  }
}

INSTANTIATE_TEST_SUITE_P(Values, LeaderElectionTest,
                         ::testing::Values(ReplicaCase{"OneReplica", "1", false},
                                           ReplicaCase{"TwoReplicas", "2", true},
                                           ReplicaCase{"ThreeReplicas", "3", true}),
                         [](const auto& info) { return info.param.name; });

TEST(Chart, WatchOneNamespaceUsesARole) {
  const auto docs = Render({"watchNamespace=payments"});
  EXPECT_TRUE(OfKind(docs, "ClusterRole").empty());
  EXPECT_TRUE(OfKind(docs, "ClusterRoleBinding").empty());
  const auto roles = OfKind(docs, "Role");
  ASSERT_EQ(roles.size(), 2u);
  int watch_roles = 0;
  for (const YAML::Node& role : roles) {
    if (role["metadata"]["namespace"].as<std::string>() != "payments") continue;
    ++watch_roles;
    EXPECT_EQ(Permissions(role), kWatchPermissions);
  }
  EXPECT_EQ(watch_roles, 1);
  EXPECT_THAT(Args(docs), Contains("--namespace=payments"));
}

struct BadValueCase {
  std::string name;
  std::string set;
  std::string want_error;
};

void PrintTo(const BadValueCase& c, std::ostream* os) { *os << c.name; }

class ValuesSchemaTest : public ::testing::TestWithParam<BadValueCase> {};

TEST_P(ValuesSchemaTest, RejectsBadValues) {
  const BadValueCase& c = GetParam();
  const testing::RunResult r = Helm({"template", "gs", kChart, "--set", c.set});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(c.want_error));
}

INSTANTIATE_TEST_SUITE_P(
    Values, ValuesSchemaTest,
    ::testing::Values(BadValueCase{"ReplicaCountNotANumber", "replicaCount=two", "replicaCount"},
                      BadValueCase{"ZeroReplicas", "replicaCount=0", "replicaCount"},
                      BadValueCase{"UnknownValue", "controller.bogus=1", "bogus"},
                      BadValueCase{"BadLogFormat", "controller.logFormat=xml", "logFormat"},
                      BadValueCase{"PortOutOfRange", "controller.healthPort=70000", "healthPort"}),
    [](const auto& info) { return info.param.name; });

TEST(Manifests, PlainInstallIsTheChartRendered) {
  std::ifstream file(kSourceDir + "/manifests/groupscaler.yaml");
  std::stringstream committed;
  committed << file.rdbuf();
  const testing::RunResult r =
      Helm({"template", "groupscaler", kChart, "--namespace", "groupscaler"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(committed.str(), HasSubstr(r.out))
      << "manifests/groupscaler.yaml is stale: run scripts/gen-manifests";
}

}  // namespace
}  // namespace groupscaler
