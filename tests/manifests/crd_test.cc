// manifests/crd.yaml against the rest of the project: the schema holds
// exactly the fields the spec parser reads (the bundled example sets every
// one), its defaults are the parser's defaults, and every CEL rule rejects
// what the controller's own validation rejects.

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "spec/autoscaler_spec.h"

namespace groupscaler::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kSourceDir = GROUPSCALER_SOURCE_DIR;

YAML::Node Crd() { return YAML::LoadFile(kSourceDir + "/manifests/crd.yaml"); }

YAML::Node Version() { return Crd()["spec"]["versions"][0]; }

YAML::Node SpecSchema() { return Version()["schema"]["openAPIV3Schema"]["properties"]["spec"]; }

// Dotted paths of every property in a schema ("behavior.scaleUp.policies[].type").
void SchemaPaths(const YAML::Node& schema, const std::string& prefix, std::set<std::string>* out) {
  if (schema["properties"]) {
    for (const auto& property : schema["properties"]) {
      const std::string path = prefix + property.first.as<std::string>();
      out->insert(path);
      SchemaPaths(property.second, path + ".", out);
    }
  }
  if (schema["items"])
    SchemaPaths(schema["items"], prefix.substr(0, prefix.size() - 1) + "[].", out);
}

// Dotted paths of every key in a document, in the same spelling.
void DocumentPaths(const YAML::Node& node, const std::string& prefix, std::set<std::string>* out) {
  if (node.IsMap()) {
    for (const auto& entry : node) {
      const std::string path = prefix + entry.first.as<std::string>();
      out->insert(path);
      DocumentPaths(entry.second, path + ".", out);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      DocumentPaths(item, prefix.substr(0, prefix.size() - 1) + "[].", out);
    }
  }
}

TEST(Crd, NamesTheResource) {
  const YAML::Node crd = Crd();
  EXPECT_EQ(crd["metadata"]["name"].as<std::string>(), "consumergroupautoscalers.groupscaler.io");
  EXPECT_EQ(crd["spec"]["group"].as<std::string>(), "groupscaler.io");
  EXPECT_EQ(crd["spec"]["scope"].as<std::string>(), "Namespaced");
  EXPECT_EQ(crd["spec"]["names"]["kind"].as<std::string>(), kKind);
  EXPECT_EQ(crd["spec"]["names"]["shortNames"].as<std::vector<std::string>>(),
            std::vector<std::string>{"cga"});
  EXPECT_EQ(std::string(kApiVersion),
            crd["spec"]["group"].as<std::string>() + "/" + Version()["name"].as<std::string>());
  EXPECT_TRUE(Version()["subresources"]["status"].IsMap());
}

TEST(Crd, PrinterColumns) {
  std::vector<std::string> names;
  for (const auto& column : Version()["additionalPrinterColumns"]) {
    names.push_back(column["name"].as<std::string>());
  }
  EXPECT_THAT(names, ElementsAre("Target", "Group", "Lag", "Partitions", "Replicas", "Desired",
                                 "Reason", "Age"));
}

TEST(Crd, SchemaHasExactlyTheExampleFields) {
  std::set<std::string> schema;
  SchemaPaths(SpecSchema(), "", &schema);
  const YAML::Node example =
      YAML::LoadFile(kSourceDir + "/manifests/examples/consumergroupautoscaler.yaml");
  std::set<std::string> document;
  DocumentPaths(example["spec"], "", &document);
  EXPECT_EQ(schema, document) << "the example must set every field the CRD defines, and no other";
}

TEST(Crd, ExampleParsesForTheController) {
  const auto parsed = LoadAutoscalerFile(
      kSourceDir + "/manifests/examples/consumergroupautoscaler.yaml", Use::kController);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->kafka.group_id, "mt-c400-consumer");
}

// Schema defaults equal what the parser fills in when a field is absent.
TEST(Crd, DefaultsMatchTheParser) {
  const auto minimal = ParseAutoscaler(
      "apiVersion: groupscaler.io/v1alpha1\n"
      "kind: ConsumerGroupAutoscaler\n"
      "spec:\n"
      "  scaleTargetRef: {kind: Deployment, name: d}\n"
      "  kafka: {bootstrapServers: [k:9092], groupId: g, topics: [t]}\n"
      "  maxReplicas: 12\n",
      "minimal.yaml", Use::kController);
  ASSERT_TRUE(minimal.ok()) << minimal.status().message();
  const AutoscalerSpec& s = *minimal;
  const YAML::Node p = SpecSchema()["properties"];
  EXPECT_EQ(p["scaleTargetRef"]["properties"]["apiVersion"]["default"].as<std::string>(),
            s.scale_target_ref.api_version);
  EXPECT_EQ(
      p["kafka"]["properties"]["offsetResetPolicy"]["default"].as<std::string>(),
      s.policy.offset_reset_policy == policy::OffsetResetPolicy::kLatest ? "latest" : "earliest");
  EXPECT_EQ(p["minReplicas"]["default"].as<int>(), s.policy.min_replicas);
  EXPECT_EQ(p["consumersPerReplica"]["default"].as<int>(), s.policy.consumers_per_replica);
  EXPECT_EQ(p["pollIntervalSeconds"]["default"].as<int>(), s.poll_interval_seconds);
  EXPECT_EQ(p["lagThreshold"]["default"].as<int64_t>(), s.policy.lag_threshold);
  EXPECT_EQ(p["activationLagThreshold"]["default"].as<int64_t>(),
            s.policy.activation_lag_threshold);
  EXPECT_EQ(p["alignment"]["default"].as<std::string>(), "balanced");
  EXPECT_EQ(s.policy.alignment, policy::Alignment::kBalanced);
  EXPECT_EQ(p["allowIdleConsumers"]["default"].as<bool>(), s.policy.allow_idle_consumers);
  EXPECT_EQ(p["limitToPartitionsWithLag"]["default"].as<bool>(),
            s.policy.limit_to_partitions_with_lag);
  EXPECT_EQ(p["cooldownSeconds"]["default"].as<int64_t>(), s.policy.cooldown_seconds);
  EXPECT_EQ(p["fallback"]["properties"]["failureThreshold"]["default"].as<int>(),
            s.policy.fallback.failure_threshold);
  EXPECT_EQ(p["paused"]["default"].as<bool>(), s.policy.paused);
}

// Each CEL rule of the CRD, and a spec that breaks it: the controller's own
// validation must reject it too, since an API server without CEL (or an
// object stored before the rule) may still hand it over.
struct RuleCase {
  std::string name;
  std::string rule_fragment;  // identifies the CRD rule
  std::string spec_lines;     // replaces the valid spec
  std::string want_error;
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class CelRuleTest : public ::testing::TestWithParam<RuleCase> {};

std::vector<std::string> AllRules() {
  std::vector<std::string> rules;
  std::function<void(const YAML::Node&)> walk = [&](const YAML::Node& node) {
    if (node.IsMap()) {
      if (node["x-kubernetes-validations"]) {
        for (const auto& v : node["x-kubernetes-validations"]) {
          rules.push_back(v["rule"].as<std::string>());
        }
      }
      for (const auto& entry : node) walk(entry.second);
    } else if (node.IsSequence()) {
      for (const auto& item : node) walk(item);
    }
  };
  walk(SpecSchema());
  return rules;
}

TEST_P(CelRuleTest, ParserRejectsWhatTheRuleRejects) {
  const RuleCase& c = GetParam();
  const std::vector<std::string> rules = AllRules();
  EXPECT_TRUE(std::any_of(rules.begin(), rules.end(),
                          [&](const std::string& r) { return r.find(c.rule_fragment) != r.npos; }))
      << "no CRD rule contains " << c.rule_fragment;
  const auto parsed = ParseAutoscaler(
      "apiVersion: groupscaler.io/v1alpha1\n"
      "kind: ConsumerGroupAutoscaler\n"
      "spec:\n"
      "  scaleTargetRef: {kind: Deployment, name: d}\n" +
          c.spec_lines,
      "bad.yaml", Use::kController);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr(c.want_error));
}

const std::string kKafka = "  kafka: {bootstrapServers: [k:9092], groupId: g, topics: [t]}\n";

INSTANTIATE_TEST_SUITE_P(
    Rules, CelRuleTest,
    ::testing::Values(
        RuleCase{"MinAboveMax", "self.minReplicas <= self.maxReplicas",
                 kKafka + "  maxReplicas: 2\n  minReplicas: 3\n", "minReplicas"},
        RuleCase{"IdleAndLimitToLag", "self.allowIdleConsumers && self.limitToPartitionsWithLag",
                 kKafka + "  maxReplicas: 2\n  allowIdleConsumers: true\n"
                          "  limitToPartitionsWithLag: true\n",
                 "cannot both be true"},
        RuleCase{"FallbackOutOfRange", "self.fallback.replicas",
                 kKafka + "  maxReplicas: 2\n  fallback: {replicas: 3}\n", "fallback.replicas"},
        RuleCase{"ZeroLagThreshold", "self > 0", kKafka + "  maxReplicas: 2\n  lagThreshold: 0\n",
                 "lagThreshold"},
        RuleCase{"NoTopics", "size(self.topics) > 0",
                 "  kafka: {bootstrapServers: [k:9092], groupId: g, topics: []}\n"
                 "  maxReplicas: 2\n",
                 "topics"},
        RuleCase{"NoBootstrapServers", "size(self.bootstrapServers) > 0",
                 "  kafka: {bootstrapServers: [], groupId: g, topics: [t]}\n  maxReplicas: 2\n",
                 "bootstrapServers"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace groupscaler::spec
