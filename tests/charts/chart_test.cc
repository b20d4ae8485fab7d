// The Helm chart, rendered by the real helm binary (scripts/setup puts it in
// .tools/bin): lint, least-privilege RBAC, a hardened Deployment, leader
// election with more than one replica, watch-one-namespace mode, the values
// schema, the default image tag, the optional ServiceMonitor, PrometheusRule and dashboard
// ConfigMap, every rendered object valid against the Kubernetes schemas (node and the npm package
// kubernetes-models, see validate_objects.js), and the generated plain-kubectl manifests in sync.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "support/subprocess.h"

namespace groupscaler {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSourceDir = GROUPSCALER_SOURCE_DIR;
const std::string kHelm = kSourceDir + "/.tools/bin/helm";
const std::string kChart = kSourceDir + "/charts/groupscaler";
const std::string kAllOptions = kSourceDir + "/tests/charts/all-options-values.yaml";
const std::string kNode = "/usr/bin/node";

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

// `helm template` with every option on (all-options-values.yaml).
std::vector<YAML::Node> RenderAllOptions() {
  const testing::RunResult r =
      Helm({"template", "gs", kChart, "--namespace", "ops", "-f", kAllOptions});
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
    {"groupscaler.io", "consumergroupautoscalers", "list"},
    {"groupscaler.io", "consumergroupautoscalers", "watch"},
    {"groupscaler.io", "consumergroupautoscalers/status", "patch"},
    {"apps", "deployments/scale", "patch"},
    {"apps", "statefulsets/scale", "patch"},
    {"apps", "deployments", "list"},
    {"apps", "deployments", "watch"},
    {"apps", "statefulsets", "list"},
    {"apps", "statefulsets", "watch"},
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
  // A symbolic link in the chart (the CRD once was one) is warned of on
  // every helm command and breaks a packaged chart.
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("symbolic link")));
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
  EXPECT_THAT(args, Contains("--kafka-metadata-max-age=60"));
}

// The image a default install runs is the one `docker build -t groupscaler:VERSION .` makes
// from this commit: the chart's appVersion is the project's version, and the default tag is
// that appVersion, never a moving tag such as latest.
TEST(Chart, DefaultImageTagIsTheAppVersion) {
  const YAML::Node chart = YAML::LoadFile(kChart + "/Chart.yaml");
  const std::string app_version = chart["appVersion"].as<std::string>();
  EXPECT_EQ(app_version, GROUPSCALER_VERSION);
  const auto deployments = OfKind(Render(), "Deployment");
  ASSERT_EQ(deployments.size(), 1u);
  EXPECT_EQ(deployments[0]["spec"]["template"]["spec"]["containers"][0]["image"].as<std::string>(),
            "groupscaler:" + app_version);
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
                      BadValueCase{"PortOutOfRange", "controller.healthPort=70000", "healthPort"},
                      BadValueCase{"MetadataMaxAgeAboveAnHour",
                                   "controller.kafkaMetadataMaxAge=7200", "kafkaMetadataMaxAge"},
                      BadValueCase{"BadScrapeInterval", "serviceMonitor.interval=often",
                                   "interval"},
                      BadValueCase{"UnknownDashboardValue", "grafanaDashboard.folder=x", "folder"}),
    [](const auto& info) { return info.param.name; });

TEST(Chart, LintsStrictWithEveryOptionOn) {
  const testing::RunResult r = Helm({"lint", "--strict", kChart, "-f", kAllOptions});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// Runs validate_objects.js on `yaml` (written to a temporary file).
testing::RunResult ValidateObjects(const std::string& yaml, const std::string& name) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("chart_test_" + std::to_string(getpid()) + "_" + name + ".yaml");
  std::ofstream(file) << yaml;
  testing::RunResult r =
      testing::RunProcess({kNode, kSourceDir + "/tests/charts/validate_objects.js",
                           kSourceDir + "/.tools/node_modules", file.string()},
                          std::chrono::seconds(60));
  std::filesystem::remove(file);
  return r;
}

struct RenderCase {
  std::string name;
  std::vector<std::string> args;
  std::vector<std::string> want_objects;
};

void PrintTo(const RenderCase& c, std::ostream* os) { *os << c.name; }

class SchemaValidationTest : public ::testing::TestWithParam<RenderCase> {};

// Every rendered object, CRD included, against the Kubernetes OpenAPI schemas
// with unknown fields rejected.
TEST_P(SchemaValidationTest, EveryObjectIsValid) {
  const RenderCase& c = GetParam();
  std::vector<std::string> args = {"template",    "gs",  kChart,
                                   "--namespace", "ops", "--include-crds"};
  args.insert(args.end(), c.args.begin(), c.args.end());
  const testing::RunResult rendered = Helm(args);
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  const testing::RunResult r = ValidateObjects(rendered.out, c.name);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const std::string& object : c.want_objects) EXPECT_THAT(r.out, HasSubstr("ok " + object));
}

INSTANTIATE_TEST_SUITE_P(
    Values, SchemaValidationTest,
    ::testing::Values(RenderCase{"Defaults",
                                 {},
                                 {"apiextensions.k8s.io/v1 CustomResourceDefinition",
                                  "v1 ServiceAccount", "rbac.authorization.k8s.io/v1 ClusterRole ",
                                  "v1 Service ", "apps/v1 Deployment"}},
                      RenderCase{"EveryOptionOn",
                                 {"-f", kAllOptions},
                                 {"rbac.authorization.k8s.io/v1 Role payments/",
                                  "apps/v1 Deployment", "monitoring.coreos.com/v1 ServiceMonitor",
                                  "monitoring.coreos.com/v1 PrometheusRule",
                                  "v1 ConfigMap monitoring/gs-groupscaler-dashboard"}}),
    [](const auto& info) { return info.param.name; });

struct BrokenObjectCase {
  std::string name;
  std::string from;
  std::string to;
  std::string want_error;
};

void PrintTo(const BrokenObjectCase& c, std::ostream* os) { *os << c.name; }

class SchemaValidatorTest : public ::testing::TestWithParam<BrokenObjectCase> {};

// The validator itself catches a misspelt field, a mistyped value and a
// broken CRD schema or monitoring object.
TEST_P(SchemaValidatorTest, RejectsBrokenObjects) {
  const BrokenObjectCase& c = GetParam();
  const testing::RunResult rendered =
      Helm({"template", "gs", kChart, "--namespace", "ops", "--include-crds", "-f", kAllOptions});
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  std::string yaml = rendered.out;
  const size_t at = yaml.find(c.from);
  ASSERT_NE(at, std::string::npos) << c.from;
  yaml.replace(at, c.from.size(), c.to);
  const testing::RunResult r = ValidateObjects(yaml, c.name);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(c.want_error));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SchemaValidatorTest,
    ::testing::Values(
        BrokenObjectCase{"UnknownDeploymentField", "readOnlyRootFilesystem: true",
                         "readOnlyRootFileSystem: true",
                         "securityContext/readOnlyRootFileSystem: unknown field"},
        BrokenObjectCase{"MistypedPort", "containerPort: 9090", "containerPort: \"http\"",
                         "/containerPort type"},
        BrokenObjectCase{"UnknownCrdSchemaKeyword", "x-kubernetes-list-type: map",
                         "x-kubernetes-listtype: map", "x-kubernetes-listtype: unknown field"},
        BrokenObjectCase{"UnknownServiceMonitorField", "honorLabels: true", "honourLabels: true",
                         "/spec/endpoints/0/honourLabels: unknown field"},
        BrokenObjectCase{
            "RuleWithoutExpr", "expr: max by (namespace, name, group) (groupscaler_idle",
            "exp: max by (namespace, name, group) (groupscaler_idle", "/expr: required"}),
    [](const auto& info) { return info.param.name; });

TEST(Chart, MonitoringObjectsAreOffByDefault) {
  const auto docs = Render();
  EXPECT_TRUE(OfKind(docs, "ServiceMonitor").empty());
  EXPECT_TRUE(OfKind(docs, "PrometheusRule").empty());
  EXPECT_TRUE(OfKind(docs, "ConfigMap").empty());
}

TEST(Chart, ServiceMonitorScrapesTheMetricsService) {
  const auto docs = RenderAllOptions();
  const auto monitors = OfKind(docs, "ServiceMonitor");
  const auto services = OfKind(docs, "Service");
  ASSERT_EQ(monitors.size(), 1u);
  ASSERT_EQ(services.size(), 1u);
  const YAML::Node monitor = monitors[0];
  const YAML::Node service = services[0];
  EXPECT_EQ(monitor["metadata"]["labels"]["release"].as<std::string>(), "kube-prometheus-stack");
  for (const auto& label : monitor["spec"]["selector"]["matchLabels"]) {
    const std::string key = label.first.as<std::string>();
    ASSERT_TRUE(service["metadata"]["labels"][key]) << key;
    EXPECT_EQ(service["metadata"]["labels"][key].as<std::string>(), label.second.as<std::string>());
  }
  EXPECT_EQ(monitor["spec"]["namespaceSelector"]["matchNames"][0].as<std::string>(), "ops");
  const YAML::Node endpoint = monitor["spec"]["endpoints"][0];
  EXPECT_EQ(endpoint["port"].as<std::string>(),
            service["spec"]["ports"][0]["name"].as<std::string>());
  EXPECT_EQ(endpoint["path"].as<std::string>(), "/metrics");
  EXPECT_EQ(endpoint["interval"].as<std::string>(), "15s");
  // The metrics' own `namespace` label (the autoscaler's) must win over the
  // target's.
  EXPECT_TRUE(endpoint["honorLabels"].as<bool>());
  EXPECT_EQ(service["spec"]["ports"][0]["port"].as<int>(), 9090);
}

// YAML to JSON with every scalar a string: order-insensitive comparison.
nlohmann::json ToJson(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& kv : node) out[kv.first.as<std::string>()] = ToJson(kv.second);
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(ToJson(item));
    return out;
  }
  return node.IsNull() ? nlohmann::json() : nlohmann::json(node.as<std::string>());
}

TEST(Chart, PrometheusRuleHoldsTheAlertRulesFile) {
  const auto rules = OfKind(RenderAllOptions(), "PrometheusRule");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0]["metadata"]["labels"]["release"].as<std::string>(), "kube-prometheus-stack");
  const YAML::Node file = YAML::LoadFile(kChart + "/files/groupscaler-rules.yaml");
  EXPECT_EQ(ToJson(rules[0]["spec"]), ToJson(file));
  EXPECT_EQ(rules[0]["spec"]["groups"][0]["rules"].size(), 7u);
}

TEST(Chart, DashboardConfigMapHoldsTheDashboard) {
  const auto maps = OfKind(RenderAllOptions(), "ConfigMap");
  ASSERT_EQ(maps.size(), 1u);
  const YAML::Node meta = maps[0]["metadata"];
  EXPECT_EQ(meta["labels"]["grafana_dashboard"].as<std::string>(), "1");
  EXPECT_EQ(meta["namespace"].as<std::string>(), "monitoring");
  EXPECT_EQ(meta["annotations"]["grafana_folder"].as<std::string>(), "Kafka");
  std::ifstream file(kChart + "/files/groupscaler-dashboard.json");
  EXPECT_EQ(nlohmann::json::parse(maps[0]["data"]["groupscaler.json"].as<std::string>()),
            nlohmann::json::parse(file));
}

// The rows of the first markdown table under `heading` in README.md: the
// backquoted name in each row's first cell.
std::set<std::string> ReadmeTableNames(const std::string& heading) {
  std::ifstream in(kSourceDir + "/README.md");
  std::set<std::string> out;
  bool in_section = false;
  static const std::regex kRow(R"(^\| `([^`]+)` \|)");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("#")) in_section = line == heading;
    std::smatch m;
    if (in_section && std::regex_search(line, m, kRow)) out.insert(m[1]);
  }
  return out;
}

// The values.schema.json properties, nested ones as a.b; an object without
// its own `properties` (resources, podLabels, ...) is one value.
void SchemaValueNames(const nlohmann::json& schema, const std::string& prefix,
                      std::set<std::string>& out) {
  for (const auto& [name, property] : schema.at("properties").items()) {
    if (property.contains("properties")) {
      SchemaValueNames(property, prefix + name + ".", out);
    } else {
      out.insert(prefix + name);
    }
  }
}

TEST(Readme, ValuesTableIsTheValuesSchema) {
  std::ifstream file(kChart + "/values.schema.json");
  std::set<std::string> schema;
  SchemaValueNames(nlohmann::json::parse(file), "", schema);
  EXPECT_EQ(ReadmeTableNames("### Chart values"), schema);
}

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
