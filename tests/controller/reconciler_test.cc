#include "controller/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "controller/status_patch.h"
#include "fakes.h"
#include "kafka/lag_reader.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr const char* kNs = "payments";

using fakes::Cr;

// The world a reconcile sees, all fakes, and the Reconciler over them.
struct World {
  ManualClock clock{Timestamp{seconds(1'800'000'000)}};
  fakes::FakeAutoscalerClient autoscalers;
  fakes::FakeScaleClient scales;
  fakes::FakeEventRecorder events;
  fakes::FakeSecretReader secrets;
  fakes::FakeHpaLister hpas;
  fakes::FakeLagReader kafka;
  std::atomic<int> readers_alive{0};
  kafka::LagReaderPool registry{[this](const kafka::ClusterConfig& c) {
    return fakes::MakeProxyReader(&kafka, &readers_alive, c);
  }};
  Reconciler reconciler{{.autoscalers = &autoscalers,
                         .scales = &scales,
                         .events = &events,
                         .secrets = &secrets,
                         .hpas = &hpas,
                         .readers = &registry,
                         .clock = &clock}};

  Outcome Reconcile(const std::string& name) {
    return reconciler.Reconcile(std::string(kNs) + "/" + name);
  }
  json Condition(const std::string& name, const std::string& type) {
    return autoscalers.Condition(std::string(kNs) + "/" + name, type);
  }
  std::string ConditionStatus(const std::string& name, const std::string& type) {
    json c = Condition(name, type);
    return c.is_null() ? "" : c["status"].get<std::string>();
  }
  json Status(const std::string& name) { return autoscalers.Status(std::string(kNs) + "/" + name); }
  int32_t Replicas(const std::string& name) {
    return scales.Replicas(std::string(kNs) + "/" + name).value_or(-1);
  }
};

struct ReconcileCase {
  std::string name;
  json spec = json::object();           // merged into Cr("app")'s spec
  std::vector<int64_t> lags;            // per partition of "orders"
  std::optional<int32_t> replicas = 2;  // nullopt: the Deployment is missing
  std::function<void(World&)> setup;
  // Wanted after one reconcile.
  int32_t want_replicas = 2;
  int want_scale_patches = 0;
  std::vector<std::string> want_events;                // reasons, in order
  std::map<std::string, std::string> want_conditions;  // type -> status
  std::string want_reason;
  std::optional<int64_t> want_total_lag;  // nullopt: must be absent
  bool want_failed = false;
};

void PrintTo(const ReconcileCase& c, std::ostream* os) { *os << c.name; }

class ReconcileTable : public ::testing::TestWithParam<ReconcileCase> {};

TEST_P(ReconcileTable, OneReconcile) {
  const ReconcileCase& c = GetParam();
  World w;
  w.autoscalers.Put(Cr("app", c.spec));
  if (c.replicas) w.scales.Set(kNs, "app", *c.replicas);
  w.kafka.SetLag("app", "orders", c.lags);
  if (c.setup) c.setup(w);

  const Outcome outcome = w.Reconcile("app");

  EXPECT_EQ(outcome.failed, c.want_failed);
  // The poll interval: the next look on success, the longest backoff on a
  // failure.
  EXPECT_EQ(outcome.requeue_after, milliseconds(seconds(10)));
  if (c.replicas) {
    EXPECT_EQ(w.Replicas("app"), c.want_replicas);
  }
  EXPECT_EQ(w.scales.patches(), c.want_scale_patches);
  std::vector<std::string> reasons;
  for (const kube::Event& e : w.events.events()) reasons.push_back(e.reason);
  EXPECT_EQ(reasons, c.want_events);
  for (const auto& [type, status] : c.want_conditions) {
    EXPECT_EQ(w.ConditionStatus("app", type), status) << type;
  }
  const json status = w.Status("app");
  if (!c.want_reason.empty()) {
    EXPECT_EQ(status.value("reason", ""), c.want_reason);
  }
  if (c.want_total_lag) {
    EXPECT_EQ(status.value("totalLag", int64_t{-1}), *c.want_total_lag);
  } else if (status.is_object()) {
    EXPECT_FALSE(status.contains("totalLag")) << status.dump();
  }
  if (status.is_object()) {
    EXPECT_EQ(status.value("observedGeneration", 0), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReconcileTable,
    ::testing::Values(
        ReconcileCase{.name = "LagRisesScalesUp",
                      .lags = {500, 500, 500, 500, 500, 500},  // 3000 over 6 partitions
                      .want_replicas = 3,
                      .want_scale_patches = 1,
                      .want_events = {"ScaledUp"},
                      .want_conditions = {{"Ready", "True"},
                                          {"Active", "True"},
                                          {"KafkaReachable", "True"},
                                          {"TargetFound", "True"},
                                          {"SpecValid", "True"},
                                          {"AtPartitionCeiling", "False"}},
                      .want_reason = "ScaleUp",
                      .want_total_lag = 3000},
        ReconcileCase{.name = "DesiredEqualsCurrentNoPatch",
                      .lags = {1000, 1000, 0, 0, 0, 0},
                      .want_replicas = 2,
                      .want_conditions = {{"Ready", "True"}},
                      .want_reason = "Steady",
                      .want_total_lag = 2000},
        ReconcileCase{.name = "PartitionCeilingHolds",
                      .lags = {10000, 10000, 10000, 10000},
                      .replicas = 4,
                      .want_replicas = 4,
                      .want_conditions = {{"AtPartitionCeiling", "True"}, {"Ready", "True"}},
                      .want_total_lag = 40000},
        ReconcileCase{.name = "LagAboveCeilingScalesOnlyToPartitions",
                      .lags = {10000, 10000, 10000, 10000},
                      .replicas = 3,
                      .want_replicas = 4,
                      .want_scale_patches = 1,
                      .want_events = {"ScaledUp"},
                      .want_conditions = {{"AtPartitionCeiling", "True"}},
                      .want_total_lag = 40000},
        ReconcileCase{.name = "KafkaDownHoldsReplicas",
                      .lags = {5000, 5000},
                      .setup = [](World& w) { w.kafka.SetDown(true); },
                      .want_replicas = 2,
                      .want_events = {"KafkaUnreachable"},
                      .want_conditions = {{"KafkaReachable", "False"},
                                          {"Ready", "False"},
                                          {"Active", "Unknown"}},
                      .want_total_lag = std::nullopt},
        ReconcileCase{.name = "TargetMissing",
                      .lags = {5000, 5000},
                      .replicas = std::nullopt,
                      .want_events = {"TargetNotFound"},
                      .want_conditions = {{"TargetFound", "False"}, {"Ready", "False"}},
                      .want_reason = "TargetNotFound"},
        ReconcileCase{.name = "AuthSecretMissingHolds",
                      .spec = {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}},
                      .lags = {5000, 5000},
                      .want_replicas = 2,
                      .want_events = {"SecretNotFound"},
                      .want_conditions = {{"Ready", "False"}, {"KafkaReachable", "Unknown"}},
                      .want_reason = "SecretNotFound"},
        ReconcileCase{.name = "AuthSecretPresentScales",
                      .spec = {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}},
                      .lags = {1500, 1500},
                      .setup =
                          [](World& w) {
                            w.secrets.Set(
                                kNs, "kafka-client",
                                {{"sasl", "plain"}, {"username", "u"}, {"password", "p"}});
                          },
                      .want_replicas = 2,
                      .want_conditions = {{"Ready", "True"}, {"KafkaReachable", "True"}},
                      .want_total_lag = 3000},
        ReconcileCase{.name = "AuthSecretWithUnknownKeyRejected",
                      .spec = {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}},
                      .lags = {5000, 5000},
                      .setup =
                          [](World& w) {
                            w.secrets.Set(kNs, "kafka-client", {{"sasll", "x"}});
                          },
                      .want_replicas = 2,
                      .want_events = {"InvalidKafkaSettings"},
                      .want_conditions = {{"Ready", "False"}},
                      .want_reason = "InvalidKafkaSettings"},
        ReconcileCase{.name = "ConflictingHpaHolds",
                      .lags = {5000, 5000},
                      .setup =
                          [](World& w) {
                            w.hpas.Set({{.namespace_name = kNs,
                                         .name = "app-hpa",
                                         .target_api_version = "apps/v1",
                                         .target_kind = "Deployment",
                                         .target_name = "app"}});
                          },
                      .want_replicas = 2,
                      .want_events = {"ConflictingHPA"},
                      .want_conditions = {{"Ready", "False"}},
                      .want_reason = "ConflictingHPA"},
        ReconcileCase{.name = "InvalidSpecNoRetryStorm",
                      .spec = {{"minReplicas", 5}, {"maxReplicas", 2}},
                      .lags = {5000, 5000},
                      .want_replicas = 2,
                      .want_events = {"InvalidSpec"},
                      .want_conditions = {{"SpecValid", "False"}, {"Ready", "False"}},
                      .want_reason = "InvalidSpec"},
        ReconcileCase{
            .name = "ApiServerErrorBacksOff",
            .lags = {5000, 5000},
            .setup = [](World& w) { w.autoscalers.FailGets(UnavailableError("HTTP 500")); },
            .want_replicas = 2,
            .want_failed = true},
        // A failed write of the scale is said (condition, Warning) and backs off.
        ReconcileCase{.name = "ScalePatchErrorBacksOff",
                      .lags = {1000, 1000, 1000, 1000},
                      .setup = [](World& w) { w.scales.FailPatches(UnavailableError("HTTP 503")); },
                      .want_replicas = 2,
                      .want_events = {"ScaleFailed"},
                      .want_conditions = {{"Ready", "False"}},
                      .want_reason = "ScaleFailed",
                      .want_failed = true},
        // The scale cannot be read (RBAC, say): said, never read as "not found".
        ReconcileCase{
            .name = "ScaleReadForbiddenIsACondition",
            .lags = {1000, 1000, 1000, 1000},
            .setup = [](World& w) { w.scales.FailGets(PermissionDeniedError("forbidden")); },
            .want_replicas = 2,
            .want_events = {"ScaleUnreadable"},
            .want_conditions = {{"Ready", "False"}, {"TargetFound", "Unknown"}},
            .want_reason = "ScaleUnreadable",
            .want_failed = true},
        ReconcileCase{.name = "SecretForbiddenHolds",
                      .spec = {{"kafka", {{"authSecretRef", {{"name", "kafka-client"}}}}}},
                      .lags = {5000, 5000},
                      .setup = [](World& w) { w.secrets.Fail(PermissionDeniedError("forbidden")); },
                      .want_replicas = 2,
                      .want_events = {"SecretUnreadable"},
                      .want_conditions = {{"Ready", "False"}, {"KafkaReachable", "Unknown"}},
                      .want_reason = "SecretUnreadable"},
        // HPAs that cannot be listed turn the conflict check off, visibly;
        // scaling goes on.
        ReconcileCase{.name = "HpasUnreadableIsSaidAndScalingGoesOn",
                      .lags = {1000, 1000, 1000, 1000},
                      .setup = [](World& w) { w.hpas.Fail(PermissionDeniedError("forbidden")); },
                      .want_replicas = 4,
                      .want_scale_patches = 1,
                      .want_events = {"HPAsUnreadable", "ScaledUp"},
                      .want_conditions = {{"Ready", "True"}, {"ConflictingHPA", "Unknown"}},
                      .want_total_lag = 4000},
        // A status the server refuses does not turn the reconcile into an
        // error: the scale happened, the next poll comes as usual.
        ReconcileCase{.name = "StatusWriteErrorDoesNotFailTheReconcile",
                      .lags = {1000, 1000, 1000, 1000},
                      .setup =
                          [](World& w) {
                            w.autoscalers.FailStatusPatches(
                                InvalidArgumentError("HTTP 422 Invalid"));
                          },
                      .want_replicas = 4,
                      .want_scale_patches = 1,
                      .want_events = {"ScaledUp"}}),
    [](const ::testing::TestParamInfo<ReconcileCase>& info) { return info.param.name; });

TEST(Reconciler, ScaledUpEventNamesBothCountsAndTheDecision) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 3);
  w.kafka.SetLag("app", "orders", {1000, 1000, 1000, 1000});
  (void)w.Reconcile("app");
  const std::vector<kube::Event> events = w.events.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, kube::EventType::kNormal);
  EXPECT_THAT(events[0].message, ::testing::StartsWith("3→4: "));
  EXPECT_EQ(events[0].involved.kind, "ConsumerGroupAutoscaler");
  EXPECT_EQ(events[0].involved.name, "app");
  EXPECT_TRUE(w.Status("app").contains("lastScaleTime"));
}

TEST(Reconciler, StatusWrittenOnlyWhenSomethingChanged) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 2);
  w.kafka.SetLag("app", "orders", {1000, 1000});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.autoscalers.status_patches(), 1);
  // The second observation makes the produce and consume rates known.
  w.clock.Advance(seconds(10));
  (void)w.Reconcile("app");
  EXPECT_EQ(w.autoscalers.status_patches(), 2) << "rates became known";
  w.clock.Advance(seconds(10));
  (void)w.Reconcile("app");
  EXPECT_EQ(w.autoscalers.status_patches(), 2) << "nothing changed, nothing written";
  // The lag moves by 5%: within the tolerance, not worth a write.
  w.kafka.SetLag("app", "orders", {1000, 900});
  w.clock.Advance(seconds(10));
  (void)w.Reconcile("app");
  EXPECT_EQ(w.autoscalers.status_patches(), 2) << "lag 2000 -> 1900";
  EXPECT_EQ(w.Status("app")["totalLag"], 2000);
  w.kafka.SetLag("app", "orders", {1000, 500});
  w.clock.Advance(seconds(10));
  (void)w.Reconcile("app");
  EXPECT_EQ(w.autoscalers.status_patches(), 3) << "lag 2000 -> 1500";
  EXPECT_EQ(w.Status("app")["totalLag"], 1500);
  EXPECT_EQ(w.scales.patches(), 0);
}

TEST(Reconciler, SteadyStatusWrittenAgainOnceItsFiguresAreFiveMinutesOld) {
  World w;
  // The fake group never commits: a stall would be a change of its own.
  w.autoscalers.Put(Cr("app", {{"policy", {{"stallSeconds", 3600}}}}));
  w.scales.Set(kNs, "app", 2);
  w.kafka.SetLag("app", "orders", {1000, 1000});
  (void)w.Reconcile("app");
  w.clock.Advance(seconds(10));
  (void)w.Reconcile("app");
  ASSERT_EQ(w.autoscalers.status_patches(), 2) << "rates became known";
  const json written = w.Status("app");
  EXPECT_EQ(written["observedTime"], FormatRfc3339(w.clock.Now()));
  for (int i = 0; i < 29; ++i) {
    w.clock.Advance(seconds(10));
    (void)w.Reconcile("app");
  }
  EXPECT_EQ(w.autoscalers.status_patches(), 2);
  w.clock.Advance(seconds(10));
  (void)w.Reconcile("app");
  EXPECT_EQ(w.autoscalers.status_patches(), 3);
  json status = w.Status("app");
  EXPECT_EQ(status["observedTime"], FormatRfc3339(w.clock.Now()));
  status.erase("observedTime");
  json unchanged = written;
  unchanged.erase("observedTime");
  EXPECT_EQ(status, unchanged);
}

TEST(Reconciler, TransitionTimeMovesOnlyWhenAConditionFlips) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 2);
  w.kafka.SetLag("app", "orders", {1000, 1000});
  (void)w.Reconcile("app");
  const json first = w.Condition("app", "KafkaReachable")["lastTransitionTime"];
  w.clock.Advance(seconds(60));
  w.kafka.SetLag("app", "orders", {1000, 500});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.Condition("app", "KafkaReachable")["lastTransitionTime"], first);
  w.clock.Advance(seconds(60));
  w.kafka.SetDown(true);
  (void)w.Reconcile("app");
  EXPECT_EQ(w.ConditionStatus("app", "KafkaReachable"), "False");
  EXPECT_NE(w.Condition("app", "KafkaReachable")["lastTransitionTime"], first);
  EXPECT_EQ(w.Condition("app", "KafkaReachable")["observedGeneration"], 1);
}

TEST(Reconciler, WarningEventOncePerEpisode) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 2);
  w.kafka.SetLag("app", "orders", {1000, 1000});
  w.kafka.SetDown(true);
  for (int i = 0; i < 3; ++i) {
    (void)w.Reconcile("app");
    w.clock.Advance(seconds(10));
  }
  EXPECT_EQ(w.events.Count("KafkaUnreachable"), 1);
  w.kafka.SetDown(false);
  (void)w.Reconcile("app");
  EXPECT_EQ(w.ConditionStatus("app", "KafkaReachable"), "True");
  w.kafka.SetDown(true);
  (void)w.Reconcile("app");
  EXPECT_EQ(w.events.Count("KafkaUnreachable"), 2);
  EXPECT_EQ(w.Replicas("app"), 2);
}

TEST(Reconciler, InvalidSpecEventOncePerGeneration) {
  World w;
  w.autoscalers.Put(Cr("app", {{"minReplicas", 5}, {"maxReplicas", 2}}));
  w.scales.Set(kNs, "app", 2);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(w.Reconcile("app").failed);
  EXPECT_EQ(w.events.Count("InvalidSpec"), 1);
  EXPECT_EQ(w.autoscalers.status_patches(), 1);
  EXPECT_THAT(w.Condition("app", "SpecValid")["message"].get<std::string>(),
              HasSubstr("minReplicas"));
  w.autoscalers.Put(Cr("app", {{"minReplicas", 6}, {"maxReplicas", 2}}));  // generation 2
  (void)w.Reconcile("app");
  EXPECT_EQ(w.events.Count("InvalidSpec"), 2);
  EXPECT_EQ(w.Status("app")["observedGeneration"], 2);
  // Fixed: valid again, and scaling works.
  w.autoscalers.Put(Cr("app"));
  w.kafka.SetLag("app", "orders", {2000, 2000});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.ConditionStatus("app", "SpecValid"), "True");
  EXPECT_EQ(w.Replicas("app"), 2);
  EXPECT_EQ(w.Status("app")["totalLag"], 4000);
}

// The parsed spec is kept between reconciles; an edit is read at the next.
TEST(Reconciler, AnEditedSpecIsReadAtTheNextReconcile) {
  World w;
  w.autoscalers.Put(Cr("app", {{"maxReplicas", 1}}));
  w.scales.Set(kNs, "app", 1);
  w.kafka.SetLag("app", "orders", {1000, 1000, 1000, 1000, 1000, 1000});
  for (int i = 0; i < 2; ++i) {
    (void)w.Reconcile("app");
    w.clock.Advance(seconds(10));
  }
  EXPECT_EQ(w.Status("app")["ceiling"], 1);
  w.autoscalers.Put(Cr("app", {{"maxReplicas", 3}}));
  (void)w.Reconcile("app");
  EXPECT_EQ(w.Replicas("app"), 3);
  EXPECT_EQ(w.Status("app")["observedGeneration"], 2);
}

TEST(Reconciler, BadCrBesideGoodOnesDoesNotAffectThem) {
  World w;
  w.autoscalers.Put(Cr("good-1"));
  w.autoscalers.Put(Cr("bad", {{"lagThreshold", 0}}));
  w.autoscalers.Put(Cr("good-2"));
  for (const char* name : {"good-1", "bad", "good-2"}) w.scales.Set(kNs, name, 1);
  w.kafka.SetLag("good-1", "orders", {1000, 1000});
  w.kafka.SetLag("good-2", "orders", {1000, 1000, 1000});
  for (const char* name : {"good-1", "bad", "good-2"}) (void)w.Reconcile(name);
  EXPECT_EQ(w.Replicas("good-1"), 2);
  EXPECT_EQ(w.Replicas("good-2"), 3);
  EXPECT_EQ(w.Replicas("bad"), 1);
  EXPECT_EQ(w.ConditionStatus("bad", "SpecValid"), "False");
  EXPECT_EQ(w.events.Count("InvalidSpec", "bad"), 1);
  EXPECT_EQ(w.events.Count("InvalidSpec"), 1);
}

TEST(Reconciler, ReadersSharedPerClusterAndReleasedWhenUnused) {
  World w;
  w.autoscalers.Put(Cr("a"));
  w.autoscalers.Put(Cr("b"));
  w.autoscalers.Put(Cr("c", {{"kafka", {{"bootstrapServers", {"other:9092"}}}}}));
  for (const char* name : {"a", "b", "c"}) {
    w.scales.Set(kNs, name, 1);
    (void)w.Reconcile(name);
  }
  EXPECT_EQ(w.readers_alive.load(), 2);
  EXPECT_EQ(w.registry.size(), 2u);

  w.autoscalers.Remove(std::string(kNs) + "/c");
  EXPECT_EQ(w.Reconcile("c").requeue_after, std::nullopt);
  EXPECT_EQ(w.readers_alive.load(), 1);
  w.autoscalers.Remove(std::string(kNs) + "/a");
  (void)w.Reconcile("a");
  EXPECT_EQ(w.readers_alive.load(), 1) << "b still uses the cluster";
  w.autoscalers.Remove(std::string(kNs) + "/b");
  (void)w.Reconcile("b");
  EXPECT_EQ(w.readers_alive.load(), 0);
  EXPECT_EQ(w.reconciler.tracked(), 0u);
}

TEST(Reconciler, DeletedCrStopsScalingAndLeavesReplicas) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 2);
  w.kafka.SetLag("app", "orders", {2000, 2000, 2000});
  (void)w.Reconcile("app");
  ASSERT_EQ(w.Replicas("app"), 3);
  w.autoscalers.Remove(std::string(kNs) + "/app");
  w.kafka.SetLag("app", "orders", {0, 0, 0});
  w.clock.Advance(seconds(3600));
  const Outcome outcome = w.Reconcile("app");
  EXPECT_FALSE(outcome.failed);
  EXPECT_EQ(outcome.requeue_after, std::nullopt);
  EXPECT_EQ(w.Replicas("app"), 3);
  EXPECT_EQ(w.scales.patches(), 1);
}

TEST(Reconciler, FailedScalePatchIsRetriedFromTheSameHistory) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 1);
  w.kafka.SetLag("app", "orders", {1000, 1000, 1000});
  w.scales.FailPatches(UnavailableError("HTTP 503"));
  EXPECT_TRUE(w.Reconcile("app").failed);
  w.scales.FailPatches(std::nullopt);
  w.clock.Advance(milliseconds(5));
  EXPECT_FALSE(w.Reconcile("app").failed);
  EXPECT_EQ(w.Replicas("app"), 3);
  EXPECT_EQ(w.events.Count("ScaledUp"), 1);
}

TEST(Reconciler, AtPartitionCeilingWarnedWhileLagGrows) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 2);
  w.kafka.SetLag("app", "orders", {10000, 10000});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.ConditionStatus("app", "AtPartitionCeiling"), "True");
  EXPECT_EQ(w.events.Count("AtPartitionCeiling"), 0) << "not growing yet";
  w.clock.Advance(seconds(10));
  w.kafka.SetLag("app", "orders", {12000, 11000});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.events.Count("AtPartitionCeiling"), 1);
  w.clock.Advance(seconds(10));
  w.kafka.SetLag("app", "orders", {14000, 12000});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.events.Count("AtPartitionCeiling"), 1) << "once per episode";
  EXPECT_EQ(w.scales.patches(), 0);
}

// The demand reaching the ceiling is not enough: while fewer replicas run
// (here held back by the scale-up policy), more replicas can still help.
TEST(Reconciler, AtPartitionCeilingWarnedOnlyWithTheReplicasAtTheCeiling) {
  World w;
  w.autoscalers.Put(Cr(
      "app", {{"behavior",
               {{"scaleUp",
                 {{"stabilizationWindowSeconds", 0},
                  {"policies", {{{"type", "Pods"}, {"value", 1}, {"periodSeconds", 600}}}}}}}}}));
  w.scales.Set(kNs, "app", 2);
  std::vector<int64_t> lags(12, 1000);
  w.kafka.SetLag("app", "orders", lags);
  (void)w.Reconcile("app");
  ASSERT_EQ(w.Replicas("app"), 3) << "one pod per period";
  for (int i = 0; i < 3; ++i) {
    w.clock.Advance(seconds(10));
    for (int64_t& lag : lags) lag += 500;
    w.kafka.SetLag("app", "orders", lags);
    (void)w.Reconcile("app");
    EXPECT_EQ(w.ConditionStatus("app", "AtPartitionCeiling"), "True") << "the demand is there";
  }
  EXPECT_EQ(w.Replicas("app"), 3);
  EXPECT_EQ(w.events.Count("AtPartitionCeiling"), 0) << "3 of 12 replicas run";

  w.scales.Set(kNs, "app", 12);  // the replicas reach the ceiling
  for (int i = 0; i < 2; ++i) {
    w.clock.Advance(seconds(10));
    for (int64_t& lag : lags) lag += 500;
    w.kafka.SetLag("app", "orders", lags);
    (void)w.Reconcile("app");
  }
  EXPECT_EQ(w.events.Count("AtPartitionCeiling"), 1) << "12 of 12 run and lag still grows";
  for (const kube::Event& e : w.events.events()) {
    if (e.reason == "AtPartitionCeiling") {
      EXPECT_THAT(e.message, HasSubstr("still growing at the ceiling 12 (12 partitions"));
    }
  }
}

TEST(Reconciler, IdleMembersWarned) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 6);
  w.kafka.SetLag("app", "orders", {10, 10});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.events.Count("IdleMembers"), 1);
}

TEST(Reconciler, RecreatedObjectStartsAFreshHistory) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 1);
  w.kafka.SetLag("app", "orders", {1000, 1000});
  (void)w.Reconcile("app");
  EXPECT_EQ(w.reconciler.tracked(), 1u);
  w.autoscalers.Remove(std::string(kNs) + "/app");
  w.autoscalers.Put(Cr("app"));  // new uid
  EXPECT_FALSE(w.Reconcile("app").failed);
  EXPECT_EQ(w.reconciler.tracked(), 1u);
}

TEST(Reconciler, CancelledReconcilerWritesNothing) {
  World w;
  w.autoscalers.Put(Cr("app"));
  w.scales.Set(kNs, "app", 1);
  w.kafka.SetLag("app", "orders", {1000, 1000, 1000});
  w.reconciler.Cancel();
  EXPECT_EQ(w.Reconcile("app").requeue_after, std::nullopt);
  EXPECT_EQ(w.scales.patches(), 0);
  EXPECT_EQ(w.autoscalers.status_patches(), 0);
  EXPECT_TRUE(w.events.events().empty());
}

TEST(SplitKey, Cases) {
  EXPECT_EQ(SplitKey("ns/name"), std::make_pair(std::string("ns"), std::string("name")));
  EXPECT_EQ(SplitKey("nons"), std::nullopt);
  EXPECT_EQ(SplitKey("/x"), std::nullopt);
  EXPECT_EQ(SplitKey("x/"), std::nullopt);
  EXPECT_EQ(MakeKey("a", "b"), "a/b");
}

TEST(StatusPatch, UnknownLagRemovesTheFieldNeverWritesZero) {
  StatusReport report{.observed_generation = 3, .figures = {.total_lag = std::nullopt}};
  const std::optional<std::string> patch =
      StatusPatch(report, R"({"status":{"totalLag":5}})", Timestamp{});
  ASSERT_TRUE(patch.has_value());
  const json p = json::parse(*patch);
  EXPECT_TRUE(p["totalLag"].is_null());
  EXPECT_EQ(p["observedGeneration"], 3);
}

}  // namespace
}  // namespace groupscaler::controller
