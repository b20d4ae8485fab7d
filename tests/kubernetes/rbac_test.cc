// Every rule the chart grants is needed: for each one, the controller runs
// with the chart's rules less that one, and the feature it serves fails
// visibly (a condition, an Event or a log line). The chart's own rules are
// read from the installed chart, so a rule added there without a case here
// fails ChartRulesAreAllCovered.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "kubernetes/cluster_test.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

struct RbacCase {
  const char* name;
  // The rule removed: its apiGroup and first resource; with `verb`, only
  // that verb of it.
  const char* api_group;
  const char* resource;
  const char* verb = "";
  // What fails, as a condition of the autoscaler "app" (type, status, reason)
  // or, when condition_type is empty, a line in the controller's log.
  const char* condition_type = "";
  const char* condition_status = "";
  const char* condition_reason = "";
  const char* log_line = "";
};

const RbacCase kCases[] = {
    {.name = "AutoscalersCannotBeListed",
     .api_group = "groupscaler.io",
     .resource = "consumergroupautoscalers",
     .verb = "list",
     .log_line = "listing consumergroupautoscalers failed"},
    {.name = "AutoscalersCannotBeWatched",
     .api_group = "groupscaler.io",
     .resource = "consumergroupautoscalers",
     .verb = "watch",
     .log_line = "watch of consumergroupautoscalers failed"},
    {.name = "StatusCannotBeWritten",
     .api_group = "groupscaler.io",
     .resource = "consumergroupautoscalers/status",
     .log_line = "cannot write status"},
    {.name = "TargetsCannotBeListed",
     .api_group = "apps",
     .resource = "deployments",
     .verb = "list",
     .condition_type = "TargetFound",
     .condition_status = "Unknown",
     .condition_reason = "ScaleUnreadable"},
    {.name = "TargetsCannotBeWatched",
     .api_group = "apps",
     .resource = "deployments",
     .verb = "watch",
     .log_line = "watch of deployments failed"},
    {.name = "ScaleCannotBeWritten",
     .api_group = "apps",
     .resource = "deployments/scale",
     .verb = "patch",
     .condition_type = "Ready",
     .condition_status = "False",
     .condition_reason = "ScaleFailed"},
    {.name = "HpasCannotBeListed",
     .api_group = "autoscaling",
     .resource = "horizontalpodautoscalers",
     .condition_type = "ConflictingHPA",
     .condition_status = "Unknown",
     .condition_reason = "HPAsUnreadable"},
    {.name = "SecretCannotBeRead",
     .api_group = "",
     .resource = "secrets",
     .condition_type = "KafkaReachable",
     .condition_status = "Unknown",
     .condition_reason = "SecretUnreadable"},
    {.name = "EventsCannotBeRecorded",
     .api_group = "",
     .resource = "events",
     .log_line = "cannot record event"},
    {.name = "LeaseCannotBeTaken",
     .api_group = "coordination.k8s.io",
     .resource = "leases",
     .log_line = "is forbidden to this identity"},
};

bool IsRule(const json& rule, const std::string& api_group, const std::string& resource) {
  return rule["apiGroups"][0] == api_group && rule["resources"][0] == resource;
}

// `rules` less the one for `api_group`/`resource`, or only its `verb`.
json Without(const json& rules, const RbacCase& c) {
  json out = json::array();
  for (const json& r : rules) {
    if (!IsRule(r, c.api_group, c.resource)) {
      out.push_back(r);
      continue;
    }
    if (std::string(c.verb).empty()) continue;
    json rule = r;
    rule["verbs"] = json::array();
    for (const json& verb : r["verbs"]) {
      if (verb != c.verb) rule["verbs"].push_back(verb);
    }
    if (!rule["verbs"].empty()) out.push_back(rule);
  }
  return out;
}

class RbacTest : public ClusterTest, public ::testing::WithParamInterface<RbacCase> {
 protected:
  // The chart's rules: the controller's ClusterRole and its leader-election Role.
  void ReadChartRules() {
    InstallChart();
    const RunResult cluster_role = plane().kubectl({"get", "clusterrole", kRelease, "-o", "json"});
    ASSERT_EQ(cluster_role.exit_code, 0) << cluster_role.err;
    rules_ = json::parse(cluster_role.out)["rules"];
    const RunResult role =
        plane().kubectl({"-n", kReleaseNamespace, "get", "role",
                         std::string(kRelease) + "-leader-election", "-o", "json"});
    ASSERT_EQ(role.exit_code, 0) << role.err;
    lease_rules_ = json::parse(role.out)["rules"];
  }

  // A ServiceAccount "ctl" in ns_ bound to `rules` (cluster-wide) and to
  // `lease_rules` in ns_; its kubeconfig.
  std::filesystem::path ServiceAccountWith(const json& rules, const json& lease_rules) {
    const std::string name = "rbac-" + ns_;
    const json subject = {{{"kind", "ServiceAccount"}, {"name", "ctl"}, {"namespace", ns_}}};
    Apply({{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "ctl"}}}});
    Apply({{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", "ClusterRole"},
           {"metadata", {{"name", name}, {"namespace", nullptr}}},
           {"rules", rules}});
    Apply({{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", "ClusterRoleBinding"},
           {"metadata", {{"name", name}, {"namespace", nullptr}}},
           {"roleRef",
            {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
           {"subjects", subject}});
    Apply({{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", "Role"},
           {"metadata", {{"name", "leases"}}},
           {"rules", lease_rules}});
    Apply({{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", "RoleBinding"},
           {"metadata", {{"name", "leases"}}},
           {"roleRef",
            {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "leases"}}},
           {"subjects", subject}});
    auto path = plane().ServiceAccountKubeconfig(ns_, "ctl");
    EXPECT_TRUE(path.ok()) << path.status().ToString();
    return path.ok() ? *path : std::filesystem::path();
  }

  // The scenario every case runs: a Deployment with lag to scale, its
  // autoscaler reading an auth Secret, and the controller watching ns_ with
  // leader election in ns_.
  Subprocess* RunScenario(const std::filesystem::path& kubeconfig) {
    const std::string topic = TopicWithLag("app", 4, 2000);
    Apply({{"apiVersion", "v1"},
           {"kind", "Secret"},
           {"metadata", {{"name", "kafka-client"}}},
           {"stringData", {{"sasl", "none"}}}});
    Apply(Workload("Deployment", "app", 1));
    Apply(Autoscaler("app", topic, {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}}));
    return StartController(
        kubeconfig, {"--namespace=" + ns_, "--leader-elect", "--leader-election-namespace=" + ns_});
  }

  json rules_;
  json lease_rules_;
};

TEST_P(RbacTest, WithoutTheRuleItsFeatureFailsVisibly) {
  const RbacCase& c = GetParam();
  ASSERT_NO_FATAL_FAILURE(ReadChartRules());
  const bool lease = std::string(c.resource) == "leases";
  const json rules = lease ? rules_ : Without(rules_, c);
  const json lease_rules = lease ? Without(lease_rules_, c) : lease_rules_;
  ASSERT_NE(json({rules, lease_rules}), json({rules_, lease_rules_}))
      << "the chart has no rule for " << c.api_group << "/" << c.resource << " " << c.verb;
  Subprocess* controller = RunScenario(ServiceAccountWith(rules, lease_rules));
  ASSERT_NE(controller, nullptr);

  if (std::string(c.condition_type).empty()) {
    EXPECT_TRUE(WaitFor([&] { return controller->log().find(c.log_line) != std::string::npos; },
                        seconds(40)))
        << controller->log();
  } else {
    json condition;
    EXPECT_TRUE(WaitFor(
        [&] {
          condition = Condition("app", c.condition_type);
          return condition.is_object() && condition["status"] == c.condition_status &&
                 condition["reason"] == c.condition_reason;
        },
        seconds(40)))
        << Status("app").dump() << "\n"
        << controller->log();
    EXPECT_THAT(condition.value("message", ""), ::testing::HasSubstr("forbidden"));
  }
  const std::string user = "system:serviceaccount:" + ns_ + ":ctl";
  EXPECT_THAT(Audit(user, 403), ::testing::Not(::testing::IsEmpty()));
}

INSTANTIATE_TEST_SUITE_P(ChartRules, RbacTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<RbacCase>& info) {
                           return std::string(info.param.name);
                         });

// With all of the chart's rules, the same scenario scales and is refused
// nothing; and every rule of the chart has a case above.
class ChartRbacTest : public RbacTest {};

TEST_F(ChartRbacTest, ChartRulesAreAllCoveredAndTogetherRefuseNothing) {
  ASSERT_NO_FATAL_FAILURE(ReadChartRules());
  std::set<std::string> covered;  // "group/resource" (whole rule) or "group/resource verb"
  for (const RbacCase& c : kCases) {
    std::string key = std::string(c.api_group) + "/" + c.resource;
    if (!std::string(c.verb).empty()) key += std::string(" ") + c.verb;
    covered.insert(key);
  }
  for (const json& rules : {rules_, lease_rules_}) {
    for (const json& r : rules) {
      const std::string rule =
          r["apiGroups"][0].get<std::string>() + "/" + r["resources"][0].get<std::string>();
      bool every_verb = true;
      for (const json& verb : r["verbs"]) {
        every_verb = every_verb && covered.contains(rule + " " + verb.get<std::string>());
      }
      EXPECT_TRUE(covered.contains(rule) || every_verb)
          << "no case removes the chart's rule " << r.dump();
    }
  }
  Subprocess* controller = RunScenario(ServiceAccountWith(rules_, lease_rules_));
  ASSERT_NE(controller, nullptr);
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "app") == 4; }, seconds(60)))
      << controller->log();
  EXPECT_THAT(Audit("system:serviceaccount:" + ns_ + ":ctl", 403), ::testing::IsEmpty());
}

}  // namespace
}  // namespace groupscaler::testing
