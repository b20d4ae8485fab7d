// manifests/crd.yaml against the rest of the project: the schema holds
// exactly the fields the spec parser reads (the bundled example sets every
// one), its defaults are the parser's defaults, and every CEL rule rejects
// what the controller's own validation rejects. The chart's crds/ holds an
// identical copy (scripts/gen-manifests writes it).

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
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
  EXPECT_FALSE(p["lagSecondsThreshold"]["default"]);
  EXPECT_EQ(s.policy.lag_seconds_threshold, std::nullopt);
  // policy defaults to {} so that the API server fills in its fields too.
  EXPECT_TRUE(p["policy"]["default"].IsMap());
  EXPECT_EQ(p["policy"]["default"].size(), 0u);
  const YAML::Node policy = p["policy"]["properties"];
  EXPECT_EQ(policy["type"]["default"].as<std::string>(),
            s.policy.policy_type == policy::PolicyType::kLag ? "lag" : "throughput");
  EXPECT_EQ(policy["targetDrainSeconds"]["default"].as<int64_t>(), s.policy.target_drain_seconds);
  EXPECT_FALSE(policy["perReplicaRateHint"]["default"]);
  EXPECT_EQ(s.policy.per_replica_rate_hint, std::nullopt);
  EXPECT_EQ(policy["rateWindowSeconds"]["default"].as<int64_t>(), s.policy.rate_window_seconds);
  EXPECT_EQ(policy["rebalanceSettleSeconds"]["default"].as<int64_t>(),
            s.policy.rebalance_settle_seconds);
  EXPECT_EQ(policy["emergencyLagFactor"]["default"].as<double>(), s.policy.emergency_lag_factor);
  EXPECT_EQ(policy["stallSeconds"]["default"].as<int64_t>(), s.policy.stall_seconds);
}

// A document setting `path` ("policy.stallSeconds") to `value` in an
// otherwise valid spec.
std::string WithField(const std::string& path, const std::string& value) {
  std::string nested = value;
  std::string rest = path;
  std::vector<std::string> parts;
  for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
    parts.push_back(rest.substr(0, dot));
  }
  parts.push_back(rest);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) nested = "{" + *it + ": " + nested + "}";
  // Unwrap the outermost braces: the first part is a field of spec.
  nested = nested.substr(1, nested.size() - 2);
  std::string text =
      "apiVersion: groupscaler.io/v1alpha1\n"
      "kind: ConsumerGroupAutoscaler\n"
      "spec:\n"
      "  scaleTargetRef: {kind: Deployment, name: d}\n"
      "  kafka: {bootstrapServers: [k:9092], groupId: g, topics: [t]}\n";
  if (path != "maxReplicas") text += "  maxReplicas: 1000\n";
  if (path != "minReplicas") text += "  minReplicas: 0\n";
  return text + "  " + nested + "\n";
}

// Numeric properties with schema bounds, outside lists: (path, schema).
void BoundedFields(const YAML::Node& schema, const std::string& prefix,
                   std::vector<std::pair<std::string, YAML::Node>>* out) {
  if (!schema["properties"]) return;
  for (const auto& property : schema["properties"]) {
    const std::string path = prefix + property.first.as<std::string>();
    const YAML::Node& field = property.second;
    if (field["minimum"] || field["maximum"]) out->emplace_back(path, field);
    BoundedFields(field, path + ".", out);
  }
}

std::string Print(double v, bool integer) {
  if (integer) return std::to_string(static_cast<int64_t>(v));
  std::ostringstream out;
  out << std::setprecision(17) << v;
  return out.str();
}

// Every schema bound is the parser's: the bound itself is accepted (unless
// exclusive), one step beyond it rejected at the field's line.
TEST(Crd, SchemaBoundsMatchTheParser) {
  std::vector<std::pair<std::string, YAML::Node>> fields;
  BoundedFields(SpecSchema(), "", &fields);
  ASSERT_GE(fields.size(), 10u);
  for (const auto& [path, field] : fields) {
    SCOPED_TRACE(path);
    const bool integer = field["type"].as<std::string>() == "integer";
    const double step = integer ? 1 : 1e-6;
    for (const char* side : {"minimum", "maximum"}) {
      if (!field[side]) continue;
      const bool is_min = std::string(side) == "minimum";
      const double bound = field[side].as<double>();
      const bool exclusive = field[is_min ? "exclusiveMinimum" : "exclusiveMaximum"] &&
                             field[is_min ? "exclusiveMinimum" : "exclusiveMaximum"].as<bool>();
      const double inside = exclusive ? (is_min ? bound + step : bound * (1 - 1e-9)) : bound;
      const double outside = exclusive ? bound : (is_min ? bound - step : bound + step);
      const auto accepted = ParseAutoscaler(WithField(path, Print(inside, integer)), "b.yaml");
      EXPECT_TRUE(accepted.ok()) << side << " " << Print(inside, integer) << ": "
                                 << accepted.status().message();
      const auto rejected = ParseAutoscaler(WithField(path, Print(outside, integer)), "b.yaml");
      EXPECT_FALSE(rejected.ok()) << side << " " << Print(outside, integer);
    }
  }
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

// The whole file, byte for byte.
std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(Crd, ChartHoldsAnIdenticalCopy) {
  const std::string copy = kSourceDir + "/charts/groupscaler/crds/consumergroupautoscalers.yaml";
  EXPECT_FALSE(std::filesystem::is_symlink(copy))
      << copy << " is a symbolic link: helm warns of it and a packaged chart loses it";
  const std::string crd = ReadFile(kSourceDir + "/manifests/crd.yaml");
  ASSERT_FALSE(crd.empty());
  EXPECT_TRUE(ReadFile(copy) == crd)
      << copy << " differs from manifests/crd.yaml: run scripts/gen-manifests";
}

}  // namespace
}  // namespace groupscaler::spec
