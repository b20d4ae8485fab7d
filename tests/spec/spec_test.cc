#include "spec/autoscaler_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "policy/policy.h"

namespace groupscaler::spec {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Four lines, so a case's own lines start at line 5.
constexpr std::string_view kHead =
    "apiVersion: groupscaler.io/v1alpha1\n"
    "kind: ConsumerGroupAutoscaler\n"
    "spec:\n"
    "  maxReplicas: 12\n";

// What a document of kHead alone parses to.
AutoscalerSpec HeadSpec() {
  AutoscalerSpec spec;
  spec.policy.max_replicas = 12;
  return spec;
}

std::string Named(const std::string& name) { return name; }

// ---------------------------------------------------------------------------
// Every field, one case each: the document is kHead + `lines` (under spec:),
// the result must equal HeadSpec() changed by `expect`.

struct FieldCase {
  std::string name;
  std::string lines;
  std::function<void(AutoscalerSpec&)> expect;
  Use use = Use::kSimulate;
};

void PrintTo(const FieldCase& c, std::ostream* os) { *os << c.name; }

class FieldTest : public ::testing::TestWithParam<FieldCase> {};

TEST_P(FieldTest, ParsesIntoTheSpec) {
  const FieldCase& c = GetParam();
  StatusOr<AutoscalerSpec> parsed = ParseAutoscaler(std::string(kHead) + c.lines, "t.yaml", c.use);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  AutoscalerSpec expected = HeadSpec();
  c.expect(expected);
  EXPECT_EQ(parsed->policy, expected.policy);
  EXPECT_EQ(parsed->scale_target_ref, expected.scale_target_ref);
  EXPECT_EQ(parsed->kafka, expected.kafka);
  EXPECT_EQ(*parsed, expected);
}

constexpr std::string_view kKafka =
    "  kafka:\n"
    "    bootstrapServers: [\"b-1:9092\", \"b-2:9092\"]\n"
    "    groupId: orders\n"
    "    topics: [orders, refunds]\n";

void ExpectKafka(AutoscalerSpec& s) {
  s.has_kafka = true;
  s.kafka.bootstrap_servers = {"b-1:9092", "b-2:9092"};
  s.kafka.group_id = "orders";
  s.kafka.topics = {"orders", "refunds"};
}

INSTANTIATE_TEST_SUITE_P(
    Spec, FieldTest,
    ::testing::Values(
        FieldCase{.name = "Defaults",
                  .lines = "",
                  .expect =
                      [](AutoscalerSpec& s) {
                        // The documented defaults, spelled out so a change
                        // of a default fails here.
                        s.poll_interval_seconds = 10;
                        s.policy.min_replicas = 1;
                        s.policy.consumers_per_replica = 1;
                        s.policy.lag_threshold = 1000;
                        s.policy.activation_lag_threshold = 0;
                        s.policy.alignment = policy::Alignment::kBalanced;
                        s.policy.offset_reset_policy = policy::OffsetResetPolicy::kLatest;
                        s.policy.cooldown_seconds = 300;
                        s.policy.fallback.failure_threshold = 3;
                        s.policy.policy_type = policy::PolicyType::kThroughput;
                        s.policy.target_drain_seconds = 60;
                        s.policy.per_replica_rate_hint.reset();
                        s.policy.rate_window_seconds = 60;
                        s.policy.lag_seconds_threshold.reset();
                        s.policy.rebalance_settle_seconds = 30;
                        s.policy.emergency_lag_factor = 2.0;
                        s.policy.stall_seconds = 120;
                        s.has_kafka = false;
                        s.has_scale_target_ref = false;
                      }},
        FieldCase{.name = "MetadataNameAndNamespaceOthersIgnored",
                  .lines = "metadata:\n  name: orders\n  namespace: shop\n  labels: {a: b}\n"
                           "  uid: 1234\n",
                  .expect =
                      [](AutoscalerSpec& s) {
                        s.name = "orders";
                        s.namespace_name = "shop";
                      }},
        FieldCase{.name = "StatusIgnored",
                  .lines = "status:\n  totalLag: 12\n  anything: [1, 2]\n",
                  .expect = [](AutoscalerSpec&) {}},
        FieldCase{.name = "ScaleTargetRef",
                  .lines = "  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}\n",
                  .expect =
                      [](AutoscalerSpec& s) {
                        s.has_scale_target_ref = true;
                        s.scale_target_ref = {
                            .api_version = "apps/v1", .kind = "StatefulSet", .name = "db"};
                      }},
        FieldCase{.name = "ScaleTargetRefApiVersionDefaults",
                  .lines = "  scaleTargetRef: {kind: Deployment, name: web}\n",
                  .expect =
                      [](AutoscalerSpec& s) {
                        s.has_scale_target_ref = true;
                        s.scale_target_ref = {
                            .api_version = "apps/v1", .kind = "Deployment", .name = "web"};
                      }},
        FieldCase{.name = "Kafka", .lines = std::string(kKafka), .expect = ExpectKafka},
        FieldCase{.name = "KafkaOffsetResetEarliestAndAuthSecret",
                  .lines = std::string(kKafka) +
                           "    offsetResetPolicy: earliest\n    authSecretRef: {name: creds}\n",
                  .expect =
                      [](AutoscalerSpec& s) {
                        ExpectKafka(s);
                        s.kafka.auth_secret_ref = "creds";
                        s.policy.offset_reset_policy = policy::OffsetResetPolicy::kEarliest;
                      }},
        FieldCase{.name = "KafkaOffsetResetLatest",
                  .lines = std::string(kKafka) + "    offsetResetPolicy: latest\n",
                  .expect = ExpectKafka},
        FieldCase{
            .name = "ControllerUseWithTargetAndKafka",
            .lines = "  scaleTargetRef: {kind: Deployment, name: web}\n" + std::string(kKafka),
            .expect =
                [](AutoscalerSpec& s) {
                  ExpectKafka(s);
                  s.has_scale_target_ref = true;
                  s.scale_target_ref = {
                      .api_version = "apps/v1", .kind = "Deployment", .name = "web"};
                },
            .use = Use::kController},
        FieldCase{.name = "MinReplicasZero",
                  .lines = "  minReplicas: 0\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.min_replicas = 0; }},
        FieldCase{.name = "MinReplicas",
                  .lines = "  minReplicas: 3\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.min_replicas = 3; }},
        FieldCase{.name = "ConsumersPerReplica",
                  .lines = "  consumersPerReplica: 4\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.consumers_per_replica = 4; }},
        FieldCase{.name = "PollIntervalSeconds",
                  .lines = "  pollIntervalSeconds: 30\n",
                  .expect = [](AutoscalerSpec& s) { s.poll_interval_seconds = 30; }},
        FieldCase{.name = "LagThresholdBeyond32Bits",
                  .lines = "  lagThreshold: 5000000000\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.lag_threshold = 5000000000; }},
        FieldCase{.name = "ActivationLagThreshold",
                  .lines = "  activationLagThreshold: 50\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.activation_lag_threshold = 50; }},
        FieldCase{
            .name = "AlignmentNone",
            .lines = "  alignment: none\n",
            .expect = [](AutoscalerSpec& s) { s.policy.alignment = policy::Alignment::kNone; }},
        FieldCase{
            .name = "AlignmentDivisor",
            .lines = "  alignment: divisor\n",
            .expect = [](AutoscalerSpec& s) { s.policy.alignment = policy::Alignment::kDivisor; }},
        FieldCase{
            .name = "AlignmentBalanced",
            .lines = "  alignment: balanced\n",
            .expect = [](AutoscalerSpec& s) { s.policy.alignment = policy::Alignment::kBalanced; }},
        FieldCase{.name = "AllowIdleConsumers",
                  .lines = "  allowIdleConsumers: true\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.allow_idle_consumers = true; }},
        FieldCase{
            .name = "LimitToPartitionsWithLag",
            .lines = "  limitToPartitionsWithLag: True\n",
            .expect = [](AutoscalerSpec& s) { s.policy.limit_to_partitions_with_lag = true; }},
        FieldCase{.name = "CooldownSeconds",
                  .lines = "  cooldownSeconds: 0\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.cooldown_seconds = 0; }},
        FieldCase{.name = "Paused",
                  .lines = "  paused: true\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.paused = true; }},
        FieldCase{.name = "PausedFalse",
                  .lines = "  paused: false\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.paused = false; }},
        FieldCase{.name = "NullMeansUnset",
                  .lines = "  minReplicas:\n  lagThreshold: ~\n  behavior: null\n",
                  .expect = [](AutoscalerSpec&) {}},
        FieldCase{.name = "PlusSignInteger",
                  .lines = "  minReplicas: +2\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.min_replicas = 2; }},
        FieldCase{.name = "BehaviorScaleUp",
                  .lines = "  behavior:\n"
                           "    scaleUp:\n"
                           "      stabilizationWindowSeconds: 30\n"
                           "      selectPolicy: Min\n"
                           "      policies:\n"
                           "        - {type: Pods, value: 2, periodSeconds: 60}\n"
                           "        - {type: Percent, value: 50, periodSeconds: 30}\n",
                  .expect =
                      [](AutoscalerSpec& s) {
                        s.policy.behavior.scale_up =
                            policy::ScalingRules{.stabilization_window_seconds = 30,
                                                 .select_policy = policy::SelectPolicy::kMin,
                                                 .policies = std::vector<policy::ScalingPolicy>{
                                                     {.type = policy::ScalingPolicyType::kPods,
                                                      .value = 2,
                                                      .period_seconds = 60},
                                                     {.type = policy::ScalingPolicyType::kPercent,
                                                      .value = 50,
                                                      .period_seconds = 30}}};
                      }},
        FieldCase{
            .name = "BehaviorScaleDownDisabledWithoutPolicies",
            .lines = "  behavior:\n    scaleDown:\n      selectPolicy: Disabled\n",
            .expect =
                [](AutoscalerSpec& s) {
                  s.policy.behavior.scale_down.select_policy = policy::SelectPolicy::kDisabled;
                }},
        FieldCase{
            .name = "BehaviorSelectMax",
            .lines = "  behavior:\n    scaleDown: {selectPolicy: Max}\n",
            .expect =
                [](AutoscalerSpec& s) {
                  s.policy.behavior.scale_down.select_policy = policy::SelectPolicy::kMax;
                }},
        FieldCase{
            .name = "BehaviorWindowOnly",
            .lines = "  behavior:\n    scaleDown: {stabilizationWindowSeconds: 0}\n",
            .expect =
                [](AutoscalerSpec& s) {
                  s.policy.behavior.scale_down.stabilization_window_seconds = 0;
                }},
        FieldCase{
            .name = "Fallback",
            .lines = "  fallback: {failureThreshold: 5, replicas: 4}\n",
            .expect =
                [](AutoscalerSpec& s) {
                  s.policy.fallback.failure_threshold = 5;
                  s.policy.fallback.replicas = 4;
                }},
        FieldCase{
            .name = "PolicyThroughputEveryField",
            .lines = "  policy:\n"
                     "    type: throughput\n"
                     "    targetDrainSeconds: 120\n"
                     "    perReplicaRateHint: 250.5\n"
                     "    rateWindowSeconds: 30\n"
                     "    rebalanceSettleSeconds: 45\n"
                     "    emergencyLagFactor: 3\n"
                     "    stallSeconds: 600\n",
            .expect =
                [](AutoscalerSpec& s) {
                  s.policy.policy_type = policy::PolicyType::kThroughput;
                  s.policy.target_drain_seconds = 120;
                  s.policy.per_replica_rate_hint = 250.5;
                  s.policy.rate_window_seconds = 30;
                  s.policy.rebalance_settle_seconds = 45;
                  s.policy.emergency_lag_factor = 3.0;
                  s.policy.stall_seconds = 600;
                }},
        FieldCase{
            .name = "PolicyLagExplicit",
            .lines = "  policy: {type: lag, emergencyLagFactor: 1.5}\n",
            .expect =
                [](AutoscalerSpec& s) {
                  s.policy.policy_type = policy::PolicyType::kLag;
                  s.policy.emergency_lag_factor = 1.5;
                }},
        FieldCase{
            .name = "PolicyEmpty", .lines = "  policy: {}\n", .expect = [](AutoscalerSpec&) {}},
        FieldCase{.name = "LagSecondsThreshold",
                  .lines = "  lagSecondsThreshold: 90\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.lag_seconds_threshold = 90; }},
        FieldCase{.name = "FallbackThresholdOnly",
                  .lines = "  fallback: {failureThreshold: 2}\n",
                  .expect = [](AutoscalerSpec& s) { s.policy.fallback.failure_threshold = 2; }}),
    [](const auto& info) { return Named(info.param.name); });

// ---------------------------------------------------------------------------
// Errors: `SOURCE:LINE: ...` with the line of the offending field.

struct ErrorCase {
  std::string name;
  std::string text;  // the whole document
  int line;
  std::string what;  // a part of the message after SOURCE:LINE:
  Use use = Use::kSimulate;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTest, NamesFileLineAndProblem) {
  const ErrorCase& c = GetParam();
  StatusOr<AutoscalerSpec> parsed = ParseAutoscaler(c.text, "cga.yaml", c.use);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  const std::string message = parsed.status().message();
  EXPECT_THAT(message, StartsWith("cga.yaml:" + std::to_string(c.line) + ": ")) << message;
  EXPECT_THAT(message, HasSubstr(c.what)) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

std::string WithHead(std::string_view lines) { return std::string(kHead) + std::string(lines); }

INSTANTIATE_TEST_SUITE_P(
    Spec, ErrorTest,
    ::testing::Values(
        ErrorCase{.name = "Empty", .text = "", .line = 1, .what = "empty document"},
        ErrorCase{
            .name = "OnlyComments", .text = "# nothing\n", .line = 1, .what = "empty document"},
        ErrorCase{.name = "NotAMapping",
                  .text = "- a\n- b\n",
                  .line = 1,
                  .what = "must be a mapping, got a list"},
        ErrorCase{.name = "InvalidYaml",
                  .text = WithHead("  minReplicas: [1, 2\n  lagThreshold: 3\n"),
                  .line = 6,
                  .what = "invalid YAML"},
        ErrorCase{.name = "TwoDocuments",
                  .text = WithHead("---\nfoo: 1\n"),
                  .line = 6,
                  .what = "expected one document, found 2"},
        // Found by fuzz/spec_yaml: yaml-cpp 0.7's LoadAll never returned
        // (allocating without bound) on a stray ',' its parser cannot get
        // past (jbeder/yaml-cpp#1040); such a stream is now an error.
        ErrorCase{.name = "StrayCommaDoesNotHang",
                  .text = ",apiVersion: groupscaler.io/v1alpha1\n",
                  .line = 1,
                  .what = "invalid YAML: unexpected \",\""},
        ErrorCase{.name = "StrayCommaAfterADocumentDoesNotHang",
                  .text = WithHead("---\n,\n"),
                  .line = 6,
                  .what = "invalid YAML: unexpected \",\""},
        ErrorCase{.name = "ThreeDocuments",
                  .text = WithHead("---\nfoo: 1\n---\n- bar\n"),
                  .line = 6,
                  .what = "expected one document, found 3"},
        ErrorCase{.name = "MissingApiVersion",
                  .text = "kind: ConsumerGroupAutoscaler\nspec: {maxReplicas: 1}\n",
                  .line = 1,
                  .what = "missing required field \"apiVersion\""},
        ErrorCase{.name = "WrongApiVersion",
                  .text = "apiVersion: autoscaling/v2\nkind: ConsumerGroupAutoscaler\n",
                  .line = 1,
                  .what = "\"autoscaling/v2\" is not groupscaler.io/v1alpha1"},
        ErrorCase{.name = "WrongKind",
                  .text = "apiVersion: groupscaler.io/v1alpha1\nkind: HorizontalPodAutoscaler\n",
                  .line = 2,
                  .what = "is not ConsumerGroupAutoscaler"},
        ErrorCase{.name = "MissingSpec",
                  .text = "apiVersion: groupscaler.io/v1alpha1\nkind: ConsumerGroupAutoscaler\n",
                  .line = 1,
                  .what = "missing required field \"spec\""},
        ErrorCase{.name = "MissingMaxReplicas",
                  .text = "apiVersion: groupscaler.io/v1alpha1\nkind: ConsumerGroupAutoscaler\n"
                          "spec:\n  minReplicas: 1\n",
                  .line = 4,
                  .what = "spec: missing required field \"maxReplicas\""},
        ErrorCase{.name = "UnknownTopLevelField",
                  .text = WithHead("specs: {}\n"),
                  .line = 5,
                  .what = "unknown field \"specs\" (did you mean \"spec\"?)"},
        ErrorCase{.name = "UnknownSpecFieldTypo",
                  .text = WithHead("  minReplica: 2\n"),
                  .line = 5,
                  .what = "spec: unknown field \"minReplica\" (did you mean \"minReplicas\"?)"},
        ErrorCase{.name = "UnknownSpecFieldFarFromAny",
                  .text = WithHead("  color: blue\n"),
                  .line = 5,
                  .what = "spec: unknown field \"color\" (allowed: scaleTargetRef, kafka"},
        ErrorCase{.name = "UnknownNestedField",
                  .text = WithHead("  behavior:\n    scaleUp:\n      window: 3\n"),
                  .line = 7,
                  .what = "spec.behavior.scaleUp: unknown field \"window\""},
        ErrorCase{.name = "UnknownPolicyField",
                  .text = WithHead("  behavior:\n    scaleDown:\n      policies:\n"
                                   "        - type: Pods\n          value: 1\n"
                                   "          periodSecond: 15\n"),
                  .line = 10,
                  .what = "spec.behavior.scaleDown.policies[0]: unknown field \"periodSecond\""},
        ErrorCase{.name = "DuplicateField",
                  .text = WithHead("  maxReplicas: 3\n"),
                  .line = 5,
                  .what = "spec: duplicate field \"maxReplicas\""},
        ErrorCase{.name = "IntegerNotANumber",
                  .text = WithHead("  minReplicas: two\n"),
                  .line = 5,
                  .what = "spec.minReplicas: must be an integer, got \"two\""},
        ErrorCase{.name = "IntegerQuoted",
                  .text = WithHead("  lagThreshold: \"10\"\n"),
                  .line = 5,
                  .what = "spec.lagThreshold: must be an integer, got the string \"10\""},
        ErrorCase{.name = "IntegerFraction",
                  .text = WithHead("  cooldownSeconds: 1.5\n"),
                  .line = 5,
                  .what = "spec.cooldownSeconds: must be an integer"},
        ErrorCase{.name = "IntegerIsAList",
                  .text = WithHead("  minReplicas: [1]\n"),
                  .line = 5,
                  .what = "spec.minReplicas: must be an integer, got a list"},
        ErrorCase{.name = "Integer32Overflow",
                  .text = WithHead("  minReplicas: 3000000000\n"),
                  .line = 5,
                  .what = "spec.minReplicas: 3000000000 is out of range [-2147483648, 2147483647]"},
        ErrorCase{.name = "Integer64Overflow",
                  .text = WithHead("  lagThreshold: 99999999999999999999\n"),
                  .line = 5,
                  .what = "spec.lagThreshold: 99999999999999999999 is out of range"},
        ErrorCase{.name = "PollIntervalZero",
                  .text = WithHead("  pollIntervalSeconds: 0\n"),
                  .line = 5,
                  .what = "spec.pollIntervalSeconds: 0 is out of range [1, 86400]"},
        ErrorCase{.name = "BoolYesIsNotBool",
                  .text = WithHead("  paused: yes\n"),
                  .line = 5,
                  .what = "spec.paused: must be true or false, got \"yes\""},
        ErrorCase{.name = "BoolQuoted",
                  .text = WithHead("  allowIdleConsumers: \"true\"\n"),
                  .line = 5,
                  .what = "spec.allowIdleConsumers: must be true or false"},
        ErrorCase{.name = "BadAlignment",
                  .text = WithHead("  alignment: even\n"),
                  .line = 5,
                  .what = "spec.alignment: \"even\" is not one of none, balanced, divisor"},
        ErrorCase{.name = "EnumIsCaseSensitive",
                  .text = WithHead("  alignment: Balanced\n"),
                  .line = 5,
                  .what = "\"Balanced\" is not one of none, balanced, divisor"},
        ErrorCase{.name = "BadSelectPolicy",
                  .text = WithHead("  behavior:\n    scaleDown:\n      selectPolicy: max\n"),
                  .line = 7,
                  .what = "spec.behavior.scaleDown.selectPolicy: \"max\" is not one of Max, Min, "
                          "Disabled"},
        ErrorCase{.name = "BadPolicyType",
                  .text = WithHead("  behavior:\n    scaleUp:\n      policies:\n"
                                   "      - {type: Pod, value: 1, periodSeconds: 15}\n"),
                  .line = 8,
                  .what = "spec.behavior.scaleUp.policies[0].type: \"Pod\" is not one of Pods, "
                          "Percent"},
        ErrorCase{.name = "PolicyMissingValue",
                  .text = WithHead("  behavior:\n    scaleUp:\n      policies:\n"
                                   "      - {type: Pods, periodSeconds: 15}\n"),
                  .line = 8,
                  .what = "spec.behavior.scaleUp.policies[0]: missing required field \"value\""},
        ErrorCase{.name = "PoliciesNotAList",
                  .text = WithHead("  behavior:\n    scaleUp:\n      policies: Pods\n"),
                  .line = 7,
                  .what = "spec.behavior.scaleUp.policies: must be a list, got \"Pods\""},
        ErrorCase{.name = "BehaviorNotAMapping",
                  .text = WithHead("  behavior: fast\n"),
                  .line = 5,
                  .what = "spec.behavior must be a mapping, got \"fast\""},
        ErrorCase{.name = "BadOffsetResetPolicy",
                  .text = WithHead(std::string(kKafka) + "    offsetResetPolicy: none\n"),
                  .line = 9,
                  .what = "spec.kafka.offsetResetPolicy: \"none\" is not one of earliest, latest"},
        ErrorCase{.name = "BadTargetKind",
                  .text = WithHead("  scaleTargetRef:\n    kind: ReplicaSet\n    name: x\n"),
                  .line = 6,
                  .what = "spec.scaleTargetRef.kind: \"ReplicaSet\" is not one of Deployment, "
                          "StatefulSet"},
        ErrorCase{.name = "TargetMissingName",
                  .text = WithHead("  scaleTargetRef:\n    kind: Deployment\n"),
                  .line = 6,
                  .what = "spec.scaleTargetRef: missing required field \"name\""},
        ErrorCase{.name = "KafkaMissingGroupId",
                  .text = WithHead("  kafka:\n    bootstrapServers: [a:9092]\n    topics: [t]\n"),
                  .line = 6,
                  .what = "spec.kafka: missing required field \"groupId\""},
        ErrorCase{.name = "KafkaEmptyTopics",
                  .text = WithHead("  kafka:\n    bootstrapServers: [a:9092]\n    groupId: g\n"
                                   "    topics: []\n"),
                  .line = 8,
                  .what = "spec.kafka.topics: must not be empty"},
        ErrorCase{.name = "KafkaServersNotAList",
                  .text = WithHead("  kafka:\n    bootstrapServers: a:9092\n    groupId: g\n"
                                   "    topics: [t]\n"),
                  .line = 6,
                  .what = "spec.kafka.bootstrapServers: must be a list of strings"},
        ErrorCase{.name = "KafkaTopicNotAString",
                  .text = WithHead("  kafka:\n    bootstrapServers: [a:9092]\n    groupId: g\n"
                                   "    topics:\n    - {name: t}\n"),
                  .line = 9,
                  .what = "spec.kafka.topics[0]: must be a string, got a mapping"},
        ErrorCase{.name = "AuthSecretRefWithoutName",
                  .text = WithHead(std::string(kKafka) + "    authSecretRef: {}\n"),
                  .line = 9,
                  .what = "spec.kafka.authSecretRef: missing required field \"name\""},
        ErrorCase{.name = "ControllerNeedsScaleTargetRef",
                  .text = WithHead(std::string(kKafka)),
                  .line = 4,
                  .what = "spec: missing required field \"scaleTargetRef\"",
                  .use = Use::kController},
        ErrorCase{.name = "ControllerNeedsKafka",
                  .text = WithHead("  scaleTargetRef: {kind: Deployment, name: web}\n"),
                  .line = 4,
                  .what = "spec: missing required field \"kafka\"",
                  .use = Use::kController},
        ErrorCase{.name = "NonStringKey",
                  .text = WithHead("  [a, b]: 1\n"),
                  .line = 5,
                  .what = "spec: field names must be strings"},
        // Cross-field rules come from policy::ValidateSpec, at the line of the
        // field its message names.
        ErrorCase{.name = "ValidateMinAboveMax",
                  .text = WithHead("  pollIntervalSeconds: 5\n"
                                   "  minReplicas: 13\n"),
                  .line = 6,
                  .what = "spec.minReplicas must be <= spec.maxReplicas"},
        ErrorCase{.name = "ValidateNegativeMin",
                  .text = WithHead("  minReplicas: -1\n"),
                  .line = 5,
                  .what = "spec.minReplicas must be >= 0"},
        ErrorCase{.name = "ValidateZeroLagThreshold",
                  .text = WithHead("\n\n  lagThreshold: 0\n"),
                  .line = 7,
                  .what = "spec.lagThreshold must be > 0"},
        ErrorCase{.name = "ValidatePolicyValue",
                  .text = WithHead("  behavior:\n    scaleUp:\n      policies:\n"
                                   "      - type: Pods\n        value: 0\n"
                                   "        periodSeconds: 15\n"),
                  .line = 9,
                  .what = "spec.behavior.scaleUp.policies[0].value must be > 0"},
        ErrorCase{.name = "ValidateFallbackReplicas",
                  .text = WithHead("  fallback:\n    replicas: 50\n"),
                  .line = 6,
                  .what = "spec.fallback.replicas must be between"},
        ErrorCase{
            .name = "ValidateIdleAndLimitedTogether",
            .text = WithHead("  allowIdleConsumers: true\n  limitToPartitionsWithLag: true\n"),
            .line = 5,
            .what = "cannot both be true"},
        ErrorCase{.name = "BadPolicyKind",
                  .text = WithHead("  policy:\n    type: Throughput\n"),
                  .line = 6,
                  .what = "spec.policy.type: \"Throughput\" is not one of lag, throughput"},
        ErrorCase{.name = "UnknownPolicySectionField",
                  .text = WithHead("  policy:\n    targetDrainSecond: 5\n"),
                  .line = 6,
                  .what = "spec.policy: unknown field \"targetDrainSecond\" (did you mean "
                          "\"targetDrainSeconds\"?)"},
        ErrorCase{.name = "RateHintNotANumber",
                  .text = WithHead("  policy:\n    perReplicaRateHint: fast\n"),
                  .line = 6,
                  .what = "spec.policy.perReplicaRateHint: must be a number, got \"fast\""},
        ErrorCase{.name = "RateHintQuoted",
                  .text = WithHead("  policy:\n    perReplicaRateHint: \"5\"\n"),
                  .line = 6,
                  .what = "must be a number, got the string \"5\""},
        ErrorCase{.name = "RateHintInfinite",
                  .text = WithHead("  policy:\n    perReplicaRateHint: .inf\n"),
                  .line = 6,
                  .what = "must be a number"},
        ErrorCase{.name = "DrainSecondsFraction",
                  .text = WithHead("  policy:\n    targetDrainSeconds: 1.5\n"),
                  .line = 6,
                  .what = "spec.policy.targetDrainSeconds: must be an integer"},
        ErrorCase{.name = "ValidateRateHintZero",
                  .text = WithHead("  policy:\n    type: throughput\n    perReplicaRateHint: 0\n"),
                  .line = 7,
                  .what = "spec.policy.perReplicaRateHint must be > 0"},
        ErrorCase{.name = "ValidateDrainZero",
                  .text = WithHead("  policy:\n    targetDrainSeconds: 0\n"),
                  .line = 6,
                  .what = "spec.policy.targetDrainSeconds must be between 1 and 86400 (got 0)"},
        ErrorCase{.name = "ValidateRateWindow",
                  .text = WithHead("  policy:\n    rateWindowSeconds: 7200\n"),
                  .line = 6,
                  .what = "spec.policy.rateWindowSeconds must be between 1 and 3600"},
        ErrorCase{.name = "ValidateSettleNegative",
                  .text = WithHead("  policy:\n    rebalanceSettleSeconds: -5\n"),
                  .line = 6,
                  .what = "spec.policy.rebalanceSettleSeconds must be between 0 and 3600"},
        ErrorCase{.name = "ValidateEmergencyFactor",
                  .text = WithHead("  policy:\n\n    emergencyLagFactor: 0.5\n"),
                  .line = 7,
                  .what = "spec.policy.emergencyLagFactor must be between 1 and 1000 (got 0.5)"},
        ErrorCase{.name = "ValidateStallSeconds",
                  .text = WithHead("  policy:\n    stallSeconds: 0\n"),
                  .line = 6,
                  .what = "spec.policy.stallSeconds must be between 1 and 86400"},
        ErrorCase{.name = "ValidateLagSecondsThreshold",
                  .text = WithHead("  lagSecondsThreshold: 0\n"),
                  .line = 5,
                  .what = "spec.lagSecondsThreshold must be between 1 and 86400 (got 0)"},
        ErrorCase{.name = "JsonLines",
                  .text = "{\"apiVersion\": \"groupscaler.io/v1alpha1\",\n"
                          " \"kind\": \"ConsumerGroupAutoscaler\",\n"
                          " \"spec\": {\"maxReplicas\": 3,\n"
                          "          \"alignment\": \"odd\"}}\n",
                  .line = 4,
                  .what = "spec.alignment: \"odd\" is not one of"}),
    [](const auto& info) { return Named(info.param.name); });

// ---------------------------------------------------------------------------

TEST(SpecJsonTest, TheApiServersJsonParsesLikeYaml) {
  // What the API server sends: JSON, with metadata and status around spec.
  constexpr std::string_view kJson = R"({
    "apiVersion": "groupscaler.io/v1alpha1",
    "kind": "ConsumerGroupAutoscaler",
    "metadata": {"name": "orders", "namespace": "shop", "resourceVersion": "42",
                 "managedFields": [{"manager": "kubectl"}]},
    "spec": {
      "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders"},
      "kafka": {"bootstrapServers": ["k:9092"], "groupId": "orders", "topics": ["orders"]},
      "minReplicas": 0, "maxReplicas": 6, "lagThreshold": 500, "paused": false,
      "behavior": {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    },
    "status": {"totalLag": 7, "conditions": []}
  })";
  StatusOr<AutoscalerSpec> parsed = ParseAutoscaler(kJson, "shop/orders", Use::kController);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->name, "orders");
  EXPECT_EQ(parsed->namespace_name, "shop");
  EXPECT_EQ(parsed->scale_target_ref.name, "orders");
  EXPECT_EQ(parsed->kafka.group_id, "orders");
  EXPECT_EQ(parsed->policy.min_replicas, 0);
  EXPECT_EQ(parsed->policy.max_replicas, 6);
  EXPECT_EQ(parsed->policy.lag_threshold, 500);
  ASSERT_TRUE(parsed->policy.behavior.scale_down.policies.has_value());
  EXPECT_EQ(parsed->policy.behavior.scale_down.policies->size(), 1u);
  EXPECT_EQ((*parsed->policy.behavior.scale_down.policies)[0].period_seconds, 60);
}

TEST(SpecExampleTest, TheBundledExampleLoadsForControllerAndSimulator) {
  const std::string path =
      std::string(GROUPSCALER_SOURCE_DIR) + "/manifests/examples/consumergroupautoscaler.yaml";
  for (Use use : {Use::kController, Use::kSimulate}) {
    StatusOr<AutoscalerSpec> loaded = LoadAutoscalerFile(path, use);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    const AutoscalerSpec& s = *loaded;
    EXPECT_EQ(s.name, "mt-c400-consumer");
    EXPECT_EQ(s.namespace_name, "payments");
    EXPECT_EQ(
        s.scale_target_ref,
        (TargetRef{.api_version = "apps/v1", .kind = "Deployment", .name = "mt-c400-consumer"}));
    EXPECT_EQ(s.kafka.bootstrap_servers.size(), 2u);
    EXPECT_EQ(s.kafka.group_id, "mt-c400-consumer");
    EXPECT_EQ(s.kafka.topics, std::vector<std::string>{"mt-c400"});
    EXPECT_EQ(s.kafka.auth_secret_ref, "kafka-client");
    EXPECT_EQ(s.poll_interval_seconds, 10);
    EXPECT_EQ(s.policy.min_replicas, 1);
    EXPECT_EQ(s.policy.max_replicas, 12);
    EXPECT_EQ(s.policy.lag_threshold, 2000);
    EXPECT_EQ(s.policy.alignment, policy::Alignment::kBalanced);
    EXPECT_EQ(s.policy.behavior.scale_down.stabilization_window_seconds, 300);
    ASSERT_TRUE(s.policy.behavior.scale_up.policies.has_value());
    EXPECT_EQ(s.policy.behavior.scale_up.policies->size(), 2u);
    EXPECT_EQ(s.policy.fallback.replicas, 6);
    EXPECT_TRUE(policy::ValidateSpec(s.policy).ok());
  }
}

TEST(SpecFileTest, MissingFileNamesIt) {
  StatusOr<AutoscalerSpec> loaded = LoadAutoscalerFile("/nonexistent/cga.yaml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            "/nonexistent/cga.yaml: cannot read: No such file or directory");
}

TEST(SpecFileTest, DirectoryIsNotAFile) {
  StatusOr<AutoscalerSpec> loaded = LoadAutoscalerFile(::testing::TempDir());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("is a directory"));
}

TEST(SpecFileTest, FileErrorsCarryThePathAndLine) {
  const std::string path = ::testing::TempDir() + "/spec_test_bad.yaml";
  {
    std::ofstream out(path);
    out << kHead << "  alignment: sideways\n";
  }
  StatusOr<AutoscalerSpec> loaded = LoadAutoscalerFile(path, Use::kSimulate);
  std::filesystem::remove(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), StartsWith(path + ":5: spec.alignment: "));
}

TEST(SpecRobustnessTest, HostileInputsAreErrorsNotCrashes) {
  const std::string inputs[] = {
      std::string(100000, '['),
      std::string(50000, '{'),
      "a: &x [*x]\n",
      "apiVersion: *undefined\n",
      "\t\tspec: 1\n",
      std::string("\0\xff\xfe", 3),
      WithHead("  behavior: {scaleUp: {policies: [[[]]]}}\n"),
      WithHead("  kafka: {bootstrapServers: [~], groupId: g, topics: [t]}\n"),
      WithHead("  minReplicas: -\n"),
      WithHead("  minReplicas: ''\n"),
  };
  for (const std::string& input : inputs) {
    StatusOr<AutoscalerSpec> parsed = ParseAutoscaler(input, "x.yaml", Use::kSimulate);
    ASSERT_FALSE(parsed.ok()) << input.substr(0, 80);
    EXPECT_THAT(parsed.status().message(), StartsWith("x.yaml:"));
  }
}

}  // namespace
}  // namespace groupscaler::spec
