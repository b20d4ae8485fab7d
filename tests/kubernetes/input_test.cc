// Bad input, Secrets, HPAs and Events on a real API server, with the
// controller running as the chart ServiceAccount: what the server accepts
// but the controller rejects becomes a condition and an Event, other
// autoscalers carry on, and repeated Events are one object with a count.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kubernetes/cluster_test.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class InputTest : public ClusterTest {
 protected:
  // The condition `type` of `name` once it has `status`; null on timeout.
  json ConditionOnceIs(const std::string& name, const std::string& type, const std::string& status,
                       seconds timeout = seconds(30)) {
    json c;
    WaitFor(
        [&] {
          c = Condition(name, type);
          return c.is_object() && c["status"] == status;
        },
        timeout);
    return c.is_object() && c["status"] == status ? c : json(nullptr);
  }

  // Events about `name` with `reason`.
  std::vector<json> EventsWithReason(const std::string& name, const std::string& reason) {
    std::vector<json> out;
    for (json& e : Events(name)) {
      if (e["reason"] == reason) out.push_back(std::move(e));
    }
    return out;
  }
};

TEST_F(InputTest, ASpecOnlyCelWouldRejectIsAConditionAndAnEventAndOthersCarryOn) {
  const std::string topic = TopicWithLag("good", 4, 2000);
  Apply(Workload("Deployment", "good", 1));
  Apply(Workload("Deployment", "bad", 1));
  Apply(Autoscaler("good", topic));
  // minReplicas > maxReplicas: a CEL rule on 1.25+, accepted by 1.20.
  Apply(Autoscaler("bad", topic, {{"minReplicas", 5}, {"maxReplicas", 2}}));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  const json spec_valid = ConditionOnceIs("bad", "SpecValid", "False");
  ASSERT_TRUE(spec_valid.is_object()) << Status("bad").dump() << controller->log();
  EXPECT_EQ(spec_valid["reason"], "InvalidSpec");
  EXPECT_THAT(spec_valid["message"].get<std::string>(), ::testing::HasSubstr("minReplicas"));
  EXPECT_TRUE(
      WaitFor([&] { return !EventsWithReason("bad", "InvalidSpec").empty(); }, seconds(10)));
  EXPECT_EQ(Replicas("deployment", "bad"), 1);
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "good") == 4; }, seconds(30)));
  EXPECT_THAT(Audit(ChartUser(), 403), ::testing::IsEmpty());
}

TEST_F(InputTest, TheAuthSecretIsReadUnderRbacAndAMissingOneHoldsOnlyItsAutoscaler) {
  const std::string topic = TopicWithLag("withsecret", 4, 2000);
  Apply({{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"metadata", {{"name", "kafka-client"}}},
         {"stringData", {{"sasl", "none"}, {"tls", "disable"}}}});
  Apply(Workload("Deployment", "withsecret", 1));
  Apply(Workload("Deployment", "nosecret", 1));
  Apply(Autoscaler("withsecret", topic,
                   {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}}));
  Apply(Autoscaler("nosecret", topic, {{"kafka", {{"authSecretRef", {{"name", "absent"}}}}}}));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "withsecret") == 4; }, seconds(40)))
      << Status("withsecret").dump() << controller->log();
  const json kafka = ConditionOnceIs("nosecret", "KafkaReachable", "Unknown");
  ASSERT_TRUE(kafka.is_object()) << Status("nosecret").dump();
  EXPECT_EQ(kafka["reason"], "SecretNotFound");
  EXPECT_TRUE(WaitFor([&] { return !EventsWithReason("nosecret", "SecretNotFound").empty(); },
                      seconds(10)));
  EXPECT_EQ(Replicas("deployment", "nosecret"), 1);
  EXPECT_THAT(Audit(ChartUser(), 403), ::testing::IsEmpty());
}

TEST_F(InputTest, AnHpaOnTheSameTargetIsFoundThroughTheVersionTheServerServes) {
  const std::string topic = TopicWithLag("contested", 4, 2000);
  Apply(Workload("Deployment", "contested", 1));
  // autoscaling/v2 is not served by 1.20; v2beta2 is.
  Apply({{"apiVersion", "autoscaling/v2beta2"},
         {"kind", "HorizontalPodAutoscaler"},
         {"metadata", {{"name", "cpu"}}},
         {"spec",
          {{"scaleTargetRef",
            {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "contested"}}},
           {"minReplicas", 1},
           {"maxReplicas", 3},
           {"metrics",
            {{{"type", "Resource"},
              {"resource",
               {{"name", "cpu"},
                {"target", {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}}}}}});
  Apply(Autoscaler("contested", topic));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  const json hpa = ConditionOnceIs("contested", "ConflictingHPA", "True");
  ASSERT_TRUE(hpa.is_object()) << Status("contested").dump() << controller->log();
  EXPECT_THAT(hpa["message"].get<std::string>(), ::testing::HasSubstr("cpu"));
  EXPECT_EQ(Condition("contested", "Ready")["reason"], "ConflictingHPA");
  EXPECT_TRUE(WaitFor([&] { return !EventsWithReason("contested", "ConflictingHPA").empty(); },
                      seconds(10)));
  EXPECT_EQ(Replicas("deployment", "contested"), 1);

  // Without the HPA the check says so, and scaling starts: at the first
  // reconcile after the namespace's HPAs are listed again (once per 30 s).
  ASSERT_EQ(Kubectl({"delete", "hpa", "cpu"}).exit_code, 0);
  EXPECT_TRUE(ConditionOnceIs("contested", "ConflictingHPA", "False", seconds(60)).is_object());
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "contested") == 4; }, seconds(60)));
  // No request for a version the server does not serve.
  for (const json& r : Audit(ChartUser())) {
    EXPECT_EQ(r.value("requestURI", "").find("/apis/autoscaling/v2/"), std::string::npos);
  }
}

TEST_F(InputTest, ARepeatedWarningIsOneEventWithACount) {
  const std::string topic = TopicWithLag("flapping", 2, 10);
  Apply(Autoscaler("flapping", topic));
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  // The target is missing, appears, and goes again: the same warning twice.
  ASSERT_TRUE(WaitFor([&] { return EventsWithReason("flapping", "TargetNotFound").size() == 1; },
                      seconds(30)))
      << controller->log();
  Apply(Workload("Deployment", "flapping", 1));
  ASSERT_TRUE(ConditionOnceIs("flapping", "TargetFound", "True").is_object());
  ASSERT_EQ(Kubectl({"delete", "deployment", "flapping"}).exit_code, 0);
  ASSERT_TRUE(ConditionOnceIs("flapping", "TargetFound", "False").is_object());

  std::vector<json> events;
  EXPECT_TRUE(WaitFor(
      [&] {
        events = EventsWithReason("flapping", "TargetNotFound");
        return events.size() == 1 && events[0].value("count", 0) == 2;
      },
      seconds(20)))
      << json(events).dump();
  EXPECT_THAT(Audit(ChartUser(), 403), ::testing::IsEmpty());
}

}  // namespace
}  // namespace groupscaler::testing
