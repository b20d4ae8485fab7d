// The controller's side of the metrics: what the reconciler, the work queue,
// the Kafka instrumentation and the Kubernetes client report, read back
// through a real metrics::Metrics.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/fakes.h"
#include "controller/kafka_metrics.h"
#include "controller/metrics_sink.h"
#include "controller/reconcile_report.h"
#include "controller/reconciler.h"
#include "controller/work_queue.h"
#include "kube/rest_client.h"
#include "metrics/metrics.h"
#include "scrape.h"
#include "support/fake_lag_reader.h"
#include "support/subprocess.h"

namespace groupscaler::controller {
namespace {

using metrics::testing::CountSeries;
using metrics::testing::Value;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------
// AddDecision (and FiguresOf), through SampleOf: which decision fields become
// which sample fields.

policy::Decision Observed() {
  return {.current = 2,
          .desired = 3,
          .ceiling = 4,
          .partitions = 4,
          .total_lag = 70,
          .lag_known = true,
          .flags = {.at_ceiling = false, .idle_members = true},
          .partition_lags = {{.topic = "b", .partition = 0, .lag = 10},
                             {.topic = "a", .partition = 0, .lag = 20},
                             {.topic = "a", .partition = 1, .lag = 40},
                             {.topic = "b", .partition = 1, .lag = 0, .known = false}},
          .rebalances_caused = 2};
}

// The sample of a reconcile that decided `d`, on a successful observation
// (`observed`) or a failed one.
AutoscalerSample SampleOfDecision(policy::Decision d, bool observed) {
  return SampleOf({.kafka_reachable = observed, .decision = std::move(d)});
}

TEST(AddDecision, ObservedDecisionGivesLagByTopicAndPartition) {
  const AutoscalerSample s = SampleOfDecision(Observed(), /*observed=*/true);
  EXPECT_EQ(s.figures.total_lag, 70);
  EXPECT_EQ(s.figures.partitions, 4);
  EXPECT_EQ(s.figures.ceiling, 4);
  EXPECT_EQ(s.at_ceiling, false);
  EXPECT_EQ(s.idle_members, true);
  EXPECT_EQ(s.stalled_partitions, 0);
  EXPECT_EQ(s.figures.rebalances_caused, 2);
  EXPECT_EQ(s.figures.max_time_lag_seconds, std::nullopt) << "unset until the policy knows it";
  ASSERT_EQ(s.topics.size(), 2u);
  EXPECT_EQ(s.topics[0].topic, "a");
  EXPECT_EQ(s.topics[0].lag, 60);
  EXPECT_EQ(s.topics[1].topic, "b");
  EXPECT_EQ(s.topics[1].lag, 10) << "the unknown partition is left out";
  EXPECT_EQ(s.topics[0].produce_rate, std::nullopt);
  EXPECT_EQ(s.partitions.size(), 3u);
}

TEST(AddDecision, UnknownLagGivesNoLagAtAll) {
  policy::Decision d = Observed();
  d.lag_known = false;
  const AutoscalerSample s = SampleOfDecision(d, /*observed=*/true);
  EXPECT_EQ(s.figures.total_lag, std::nullopt);
  EXPECT_TRUE(s.topics.empty());
  EXPECT_TRUE(s.partitions.empty());
  EXPECT_EQ(s.figures.partitions, 4);
}

TEST(AddDecision, FailedObservationGivesOnlyTheRebalanceCount) {
  const AutoscalerSample s = SampleOfDecision(Observed(), /*observed=*/false);
  EXPECT_EQ(s.figures.rebalances_caused, 2);
  EXPECT_EQ(s.figures.total_lag, std::nullopt);
  EXPECT_EQ(s.figures.partitions, std::nullopt);
  EXPECT_EQ(s.figures.ceiling, std::nullopt);
  EXPECT_EQ(s.at_ceiling, std::nullopt);
  EXPECT_EQ(s.stalled_partitions, std::nullopt);
  EXPECT_TRUE(s.topics.empty());
}

TEST(AddDecision, RatesTimeLagAndStalls) {
  policy::Decision d = Observed();
  d.topic_rates = {{.topic = "a", .produce_rate = 5.5, .consume_rate = 4},
                   {.topic = "c"},  // not known yet: no topic entry at all
                   {.topic = "b", .consume_rate = 1}};
  d.max_time_lag_seconds = 42;
  d.stalled_partitions = {{"a", 1}};
  const AutoscalerSample s = SampleOfDecision(d, /*observed=*/true);
  ASSERT_EQ(s.topics.size(), 2u);
  EXPECT_EQ(s.topics[0].produce_rate, 5.5);
  EXPECT_EQ(s.topics[0].consume_rate, 4);
  EXPECT_EQ(s.topics[1].produce_rate, std::nullopt);
  EXPECT_EQ(s.topics[1].consume_rate, 1);
  EXPECT_EQ(s.figures.max_time_lag_seconds, 42);
  EXPECT_EQ(s.stalled_partitions, 1);
}

// ---------------------------------------------------------------------------
// The verb of a Kubernetes request.

TEST(RequestVerb, FromMethodAndPath) {
  struct Case {
    std::string method;
    std::string path;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/apis/groupscaler.io/v1alpha1/consumergroupautoscalers", "LIST"},
           {"GET", "/apis/groupscaler.io/v1alpha1/namespaces/p/consumergroupautoscalers", "LIST"},
           {"GET", "/apis/groupscaler.io/v1alpha1/namespaces/p/consumergroupautoscalers/x", "GET"},
           {"GET", "/apis/apps/v1/namespaces/p/deployments/x/scale", "GET"},
           {"GET", "/apis/autoscaling/v2/namespaces/p/horizontalpodautoscalers?limit=500", "LIST"},
           {"GET", "/api/v1/namespaces/p/secrets/s", "GET"},
           {"GET", "/api/v1/namespaces", "LIST"},
           {"GET", "/api/v1/namespaces/p", "GET"},
           {"GET", "/apis/groupscaler.io/v1alpha1/consumergroupautoscalers?watch=1&rv=5", "WATCH"},
           {"GET", "/api/v1/namespaces/p/events?watch=true", "WATCH"},
           {"GET", "/api/v1/namespaces/p/events?watch=false", "LIST"},
           {"PATCH", "/apis/apps/v1/namespaces/p/deployments/x/scale", "PATCH"},
           {"POST", "/api/v1/namespaces/p/events", "POST"},
           {"PUT", "/apis/coordination.k8s.io/v1/namespaces/p/leases/l", "PUT"},
           {"GET", "/version", "GET"},
       }) {
    EXPECT_EQ(kube::RequestVerb(c.method, c.path), c.want) << c.method << " " << c.path;
  }
}

// ---------------------------------------------------------------------------
// Kafka errors by kind.

kafka::GroupObservation Group(std::vector<policy::PartitionObservation> partitions,
                              bool failed = false,
                              std::vector<kafka::TopicError> topic_errors = {}) {
  kafka::GroupObservation g{.group_id = "g"};
  g.observation.partitions = std::move(partitions);
  g.observation.failed = failed;
  g.topic_errors = std::move(topic_errors);
  return g;
}

TEST(CountKafkaErrors, ByKind) {
  const policy::PartitionObservation ok{.topic = "t", .partition = 0, .log_end_offset = 5};
  const policy::PartitionObservation bad{.topic = "t", .partition = 1, .failed = true};
  struct Case {
    std::string name;
    StatusOr<std::vector<kafka::GroupObservation>> result;
    std::map<std::string, double> want;  // kind -> count; the others 0
  };
  const std::vector<Case> cases = {
      {"AllWell", std::vector<kafka::GroupObservation>{Group({ok})}, {}},
      {"Unreachable", UnavailableError("all brokers down"), {{"unreachable", 1}}},
      {"Deadline", DeadlineExceededError("no answer"), {{"timeout", 1}}},
      {"Auth", PermissionDeniedError("SASL"), {{"auth", 1}}},
      {"OtherCycleError", InternalError("?"), {{"other", 1}}},
      {"CommittedOffsetsUnreadable",
       std::vector<kafka::GroupObservation>{Group({ok}, /*failed=*/true)},
       {{"coordinator", 1}}},
      {"SomePartitionsUnreadable",
       std::vector<kafka::GroupObservation>{Group({ok, bad})},
       {{"topic", 1}}},
      {"TopicErrors",
       std::vector<kafka::GroupObservation>{
           Group({}, /*failed=*/true,
                 {{"missing", NotFoundError("no such topic")},
                  {"secret", PermissionDeniedError("TOPIC_AUTHORIZATION_FAILED")}})},
       {{"topic", 1}, {"auth", 1}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    metrics::Metrics m;
    CountKafkaErrors(c.result, m);
    const std::string text = m.Scrape();
    for (const char* kind : {"unreachable", "timeout", "coordinator", "topic", "auth", "other"}) {
      const double want = c.want.contains(kind) ? c.want.at(kind) : 0;
      EXPECT_EQ(Value(text, std::string(R"(groupscaler_kafka_errors_total{kind=")") + kind + "\"}"),
                want)
          << kind;
    }
  }
}

// ---------------------------------------------------------------------------
// KafkaMetrics: errors per cycle and requests polled as deltas.

// What a CountingReader answers, kept by the test beyond the reader's life.
struct Counts {
  std::mutex mu;
  kafka::RequestCounts counts;
  int snapshots = 0;
};

// A reader whose request counts the test sets; cycles go to a FakeLagReader.
class CountingReader final : public groupscaler::testing::ForwardingLagReader {
 public:
  CountingReader(std::shared_ptr<groupscaler::testing::FakeLagReader> observe,
                 std::shared_ptr<Counts> counts)
      : ForwardingLagReader(observe.get()),
        observe_(std::move(observe)),
        counts_(std::move(counts)) {}

  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(milliseconds) override {
    std::lock_guard lock(counts_->mu);
    ++counts_->snapshots;
    return counts_->counts;
  }

 private:
  std::shared_ptr<groupscaler::testing::FakeLagReader> observe_;  // kept alive for the base
  std::shared_ptr<Counts> counts_;
};

struct Instrumented {
  std::shared_ptr<groupscaler::testing::FakeLagReader> fake =
      std::make_shared<groupscaler::testing::FakeLagReader>();
  std::shared_ptr<Counts> counts = std::make_shared<Counts>();

  void Set(kafka::RequestCounts c) {
    std::lock_guard lock(counts->mu);
    counts->counts = std::move(c);
  }
  int snapshots() {
    std::lock_guard lock(counts->mu);
    return counts->snapshots;
  }
  // A reader from `kafka_metrics`' factory over this fake.
  std::unique_ptr<kafka::LagReader> Make(KafkaMetrics& kafka_metrics) {
    kafka::LagReaderFactory factory = kafka_metrics.Instrument(
        [this](const kafka::ClusterConfig&) -> StatusOr<std::unique_ptr<kafka::LagReader>> {
          return std::unique_ptr<kafka::LagReader>(std::make_unique<CountingReader>(fake, counts));
        });
    StatusOr<std::unique_ptr<kafka::LagReader>> reader = factory({.bootstrap_servers = {"b:9092"}});
    return reader.ok() ? std::move(reader).value() : nullptr;
  }
};

TEST(KafkaMetrics, CountsErrorsOfEveryCycleAndPollsRequestDeltas) {
  metrics::Metrics m;
  KafkaMetrics kafka_metrics(&m, {.poll_interval = milliseconds(0)});
  Instrumented world;
  std::unique_ptr<kafka::LagReader> reader = world.Make(kafka_metrics);
  ASSERT_NE(reader, nullptr);

  world.fake->FailCycles(DeadlineExceededError("slow"));
  EXPECT_FALSE(reader->Observe({{.group_id = "g", .topics = {"t"}}}, seconds(1)).ok());
  EXPECT_EQ(Value(m.Scrape(), R"(groupscaler_kafka_errors_total{kind="timeout"})"), 1);

  world.Set({.by_api = {{"Metadata", 1}, {"OffsetFetch", 3}}});
  kafka_metrics.PollRequests();
  world.Set({.by_api = {{"Metadata", 1}, {"OffsetFetch", 5}, {"ListOffsets", 2}}});
  kafka_metrics.PollRequests();
  std::string text = m.Scrape();
  EXPECT_EQ(Value(text, R"(groupscaler_kafka_requests_total{api="Metadata"})"), 1);
  EXPECT_EQ(Value(text, R"(groupscaler_kafka_requests_total{api="OffsetFetch"})"), 5);
  EXPECT_EQ(Value(text, R"(groupscaler_kafka_requests_total{api="ListOffsets"})"), 2);

  // A closed reader is no longer polled; what it reported stays.
  reader.reset();
  kafka_metrics.PollRequests();
  EXPECT_EQ(world.snapshots(), 2);
  EXPECT_EQ(Value(m.Scrape(), R"(groupscaler_kafka_requests_total{api="OffsetFetch"})"), 5);
}

// Waits (at most 5 s, for the poller's thread) until `series` shows in `m`.
std::optional<double> WaitForSeries(const metrics::Metrics& m, const std::string& series) {
  (void)groupscaler::testing::WaitFor([&] { return Value(m.Scrape(), series).has_value(); },
                                      seconds(5));
  return Value(m.Scrape(), series);
}

TEST(KafkaMetrics, ThreadPollsANewReaderRightAfterItsFirstCycle) {
  metrics::Metrics m;
  Instrumented world;
  world.Set({.by_api = {{"Metadata", 4}}});
  KafkaMetrics kafka_metrics(&m, {.poll_interval = std::chrono::hours(1)});
  std::unique_ptr<kafka::LagReader> reader = world.Make(kafka_metrics);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(world.snapshots(), 0) << "not before its first cycle";
  world.fake->SetObservations({});
  (void)reader->Observe({{.group_id = "g", .topics = {"t"}}}, seconds(1));
  EXPECT_EQ(WaitForSeries(m, R"(groupscaler_kafka_requests_total{api="Metadata"})"), 4);
  (void)reader->Observe({{.group_id = "g", .topics = {"t"}}}, seconds(1));
  EXPECT_EQ(world.snapshots(), 1) << "later cycles wait for the interval";
}

TEST(KafkaMetrics, ThreadPollsEveryReaderEveryInterval) {
  metrics::Metrics m;
  Instrumented world;
  world.Set({.by_api = {{"Metadata", 4}}});
  ManualClock clock(Timestamp{seconds(1000)});
  KafkaMetrics kafka_metrics(&m, {.poll_interval = seconds(30), .clock = &clock});
  std::unique_ptr<kafka::LagReader> reader = world.Make(kafka_metrics);
  ASSERT_NE(reader, nullptr);
  const std::string series = R"(groupscaler_kafka_requests_total{api="Metadata"})";
  for (int polls = 1; polls <= 2; ++polls) {
    world.Set({.by_api = {{"Metadata", 4 * polls}}});
    // The poller sleeps out the interval on the clock, and polls only then.
    ASSERT_TRUE(groupscaler::testing::WaitFor([&] { return clock.Sleepers() == 1; }, seconds(5)));
    EXPECT_EQ(world.snapshots(), polls - 1);
    clock.Advance(seconds(30));
    EXPECT_TRUE(groupscaler::testing::WaitFor(
        [&] { return Value(m.Scrape(), series) == 4 * polls; }, seconds(5)))
        << "poll " << polls;
  }
  EXPECT_EQ(world.snapshots(), 2);
}

// ---------------------------------------------------------------------------
// The work queue's depth and waits.

TEST(WorkQueueMetrics, DepthIsKeysDueAndWaitIsFromTheDueTime) {
  metrics::Metrics m;
  ManualClock clock(Timestamp{seconds(1000)});
  WorkQueue queue(&clock, {}, &m);
  queue.Add("a");
  queue.Add("b");
  queue.AddAfter("later", seconds(60));
  EXPECT_EQ(Value(m.Scrape(), "groupscaler_workqueue_depth"), 2) << "'later' is not due";

  clock.Advance(milliseconds(1500));
  ASSERT_EQ(queue.TryGet(), "a");
  std::string text = m.Scrape();
  EXPECT_EQ(Value(text, "groupscaler_workqueue_depth"), 1);
  EXPECT_EQ(Value(text, "groupscaler_workqueue_queue_duration_seconds_count"), 1);
  EXPECT_EQ(Value(text, "groupscaler_workqueue_queue_duration_seconds_sum"), 1.5);

  queue.Done("a", Outcome::RequeueAfter(seconds(10)));
  ASSERT_EQ(queue.TryGet(), "b");
  EXPECT_EQ(Value(m.Scrape(), "groupscaler_workqueue_depth"), 0);
  queue.Done("b", Outcome::Forget());

  clock.Advance(seconds(60));  // 'a' and 'later' are due now
  ASSERT_TRUE(queue.TryGet().has_value());
  text = m.Scrape();
  EXPECT_EQ(Value(text, "groupscaler_workqueue_depth"), 1);
  EXPECT_EQ(Value(text, "groupscaler_workqueue_queue_duration_seconds_count"), 3);
}

// ---------------------------------------------------------------------------
// The reconciler's reports, over the controller's fakes.

json Cr(const std::string& name, const std::string& group) {
  return fakes::Cr(
      name,
      {{"kafka", {{"groupId", group}}}, {"alignment", "none"}, {"pollIntervalSeconds", nullptr}});
}

struct World {
  metrics::Metrics metrics{{.partition_lag = true}};
  ManualClock clock{Timestamp{seconds(1'800'000'000)}};
  fakes::FakeAutoscalerClient autoscalers;
  fakes::FakeScaleClient scales;
  fakes::FakeEventRecorder events;
  fakes::FakeSecretReader secrets;
  fakes::FakeHpaLister hpas;
  fakes::FakeLagReader kafka;
  std::atomic<int> readers_alive{0};
  kafka::LagReaderPool pool{[this](const kafka::ClusterConfig& c) {
    return fakes::MakeProxyReader(&kafka, &readers_alive, c);
  }};
  Reconciler reconciler{{.autoscalers = &autoscalers,
                         .scales = &scales,
                         .events = &events,
                         .secrets = &secrets,
                         .hpas = &hpas,
                         .readers = &pool,
                         .clock = &clock,
                         .metrics = &metrics}};
};

constexpr const char* kLabels = R"({group="app-group",name="app",namespace="payments"})";

TEST(ReconcilerMetrics, LagReplicasAndTheirDisappearance) {
  World w;
  w.autoscalers.Put(Cr("app", "app-group"));
  w.scales.Set("payments", "app", 1);
  w.kafka.SetLag("app-group", "orders", {1500, 1000, 500});  // 3000: 3 replicas

  EXPECT_FALSE(w.reconciler.Reconcile("payments/app").failed);
  std::string text = w.metrics.Scrape();
  const std::string l = kLabels;
  EXPECT_EQ(Value(text, "groupscaler_consumer_group_lag_messages" + l), 3000) << text;
  EXPECT_EQ(
      Value(
          text,
          R"(groupscaler_topic_lag_messages{group="app-group",name="app",namespace="payments",topic="orders"})"),
      3000);
  EXPECT_EQ(
      Value(
          text,
          R"(groupscaler_partition_lag_messages{group="app-group",name="app",namespace="payments",partition="0",topic="orders"})"),
      1500);
  EXPECT_EQ(Value(text, "groupscaler_partitions" + l), 3);
  EXPECT_EQ(Value(text, "groupscaler_replica_ceiling" + l), 3);
  EXPECT_EQ(Value(text, "groupscaler_current_replicas" + l), 1) << "read before scaling";
  EXPECT_EQ(Value(text, "groupscaler_desired_replicas" + l), 3);
  EXPECT_EQ(Value(text, "groupscaler_kafka_reachable" + l), 1);
  EXPECT_EQ(Value(text, "groupscaler_at_partition_ceiling" + l), 1);
  EXPECT_EQ(Value(text, "groupscaler_last_observation_timestamp_seconds" + l), 1'800'000'000);
  EXPECT_EQ(
      Value(
          text,
          R"(groupscaler_scale_events_total{direction="up",group="app-group",name="app",namespace="payments"})"),
      1);
  EXPECT_EQ(Value(text, R"(groupscaler_spec_valid{name="app",namespace="payments"})"), 1);
  EXPECT_EQ(Value(text, R"(groupscaler_reconciles_total{result="success"})"), 1);
  EXPECT_EQ(CountSeries(text, "groupscaler_group_members"), 0) << "the fake reports no members";

  // Kafka goes down: the lag is unknown, so absent; the hold is counted.
  w.kafka.SetDown(true);
  w.clock.Advance(seconds(10));
  EXPECT_FALSE(w.reconciler.Reconcile("payments/app").failed);
  text = w.metrics.Scrape();
  EXPECT_EQ(CountSeries(text, "groupscaler_consumer_group_lag_messages"), 0) << text;
  EXPECT_EQ(CountSeries(text, "groupscaler_topic_lag_messages"), 0);
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 0);
  EXPECT_EQ(CountSeries(text, "groupscaler_partitions"), 0);
  EXPECT_EQ(Value(text, "groupscaler_kafka_reachable" + l), 0);
  EXPECT_EQ(Value(text, "groupscaler_current_replicas" + l), 3);
  EXPECT_EQ(Value(text, "groupscaler_last_observation_timestamp_seconds" + l), 1'800'000'000);
  EXPECT_EQ(Value(text, R"(groupscaler_reconciles_total{result="hold"})"), 1);

  // Deleted: every series of it goes.
  w.autoscalers.Remove("payments/app");
  EXPECT_FALSE(w.reconciler.Reconcile("payments/app").failed);
  text = w.metrics.Scrape();
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr(R"(name="app")"))) << text;
  EXPECT_EQ(Value(text, R"(groupscaler_reconciles_total{result="success"})"), 2);
}

TEST(ReconcilerMetrics, InvalidSpecAndMissingTargetAreHolds) {
  World w;
  json bad = Cr("bad", "bad-group");
  bad["spec"]["maxReplicas"] = 0;
  w.autoscalers.Put(bad);
  w.autoscalers.Put(Cr("orphan", "orphan-group"));  // no Deployment
  w.kafka.SetLag("orphan-group", "orders", {5});

  EXPECT_FALSE(w.reconciler.Reconcile("payments/bad").failed);
  EXPECT_FALSE(w.reconciler.Reconcile("payments/orphan").failed);
  const std::string text = w.metrics.Scrape();
  EXPECT_EQ(Value(text, R"(groupscaler_spec_valid{name="bad",namespace="payments"})"), 0);
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("bad-group")));
  EXPECT_EQ(Value(text, R"(groupscaler_spec_valid{name="orphan",namespace="payments"})"), 1);
  EXPECT_EQ(CountSeries(text, "groupscaler_current_replicas"), 0) << "the target is missing";
  EXPECT_EQ(
      Value(
          text,
          R"(groupscaler_kafka_reachable{group="orphan-group",name="orphan",namespace="payments"})"),
      1);
  EXPECT_EQ(CountSeries(text, "groupscaler_consumer_group_lag_messages"), 0)
      << "no decision while held: the lag is not computed";
  EXPECT_EQ(Value(text, R"(groupscaler_reconciles_total{result="hold"})"), 2);
  EXPECT_EQ(Value(text, "groupscaler_reconcile_duration_seconds_count"), 2);
}

}  // namespace
}  // namespace groupscaler::controller
