// metrics::Metrics as a MetricsSink: which series a sample produces, with
// which labels and values, and which it removes. Read back through the text
// exposition, as Prometheus reads it.

#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

// After gtest: cpprestsdk defines a macro U that breaks gtest's headers.
#include <cpprest/http_client.h>

#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "scrape.h"

namespace groupscaler::metrics {
namespace {

using controller::AutoscalerSample;
using controller::KafkaErrorKind;
using controller::ReconcileResult;
using testing::CountSeries;
using ::testing::HasSubstr;
using testing::PromtoolCheck;
using testing::Value;

constexpr const char* kApp = R"(group="app-group",name="app",namespace="payments")";

std::string Series(const std::string& name, const std::string& labels = kApp) {
  return name + "{" + labels + "}";
}

// A sample of an autoscaler observed with every field known.
AutoscalerSample Full() {
  return {.namespace_name = "payments",
          .name = "app",
          .spec_valid = true,
          .group = "app-group",
          .kafka_reachable = true,
          .observed_at = Timestamp{std::chrono::milliseconds(1'800'000'000'500)},
          .figures = {.partitions = 3,
                      .ceiling = 3,
                      .current_replicas = 2,
                      .desired_replicas = 3,
                      .members = 2,
                      .total_lag = 2500,
                      .max_time_lag_seconds = 12.5,
                      .rebalances_caused = 4},
          .topics = {{.topic = "orders", .lag = 2000, .produce_rate = 40.5, .consume_rate = 30},
                     {.topic = "refunds", .lag = 500}},
          .partitions = {{.topic = "orders", .partition = 0, .lag = 1500},
                         {.topic = "orders", .partition = 1, .lag = 500},
                         {.topic = "refunds", .partition = 0, .lag = 500}},
          .at_ceiling = true,
          .idle_members = false,
          .stalled_partitions = 1};
}

TEST(Metrics, FullSampleExportsEverySeries) {
  Metrics m({.partition_lag = true});
  m.RecordAutoscaler(Full());
  const std::string text = m.Scrape();
  struct Want {
    std::string series;
    double value;
  };
  for (
      const Want& w : std::vector<Want>{
          {Series("groupscaler_consumer_group_lag_messages"), 2500},
          {Series("groupscaler_topic_lag_messages",
                  R"(group="app-group",name="app",namespace="payments",topic="orders")"),
           2000},
          {Series("groupscaler_topic_lag_messages",
                  R"(group="app-group",name="app",namespace="payments",topic="refunds")"),
           500},
          {Series(
               "groupscaler_partition_lag_messages",
               R"(group="app-group",name="app",namespace="payments",partition="0",topic="orders")"),
           1500},
          {Series(
               "groupscaler_partition_lag_messages",
               R"(group="app-group",name="app",namespace="payments",partition="1",topic="orders")"),
           500},
          {Series("groupscaler_partitions"), 3},
          {Series("groupscaler_replica_ceiling"), 3},
          {Series("groupscaler_current_replicas"), 2},
          {Series("groupscaler_desired_replicas"), 3},
          {Series("groupscaler_group_members"), 2},
          {Series("groupscaler_produce_rate_messages_per_second",
                  R"(group="app-group",name="app",namespace="payments",topic="orders")"),
           40.5},
          {Series("groupscaler_consume_rate_messages_per_second",
                  R"(group="app-group",name="app",namespace="payments",topic="orders")"),
           30},
          {Series("groupscaler_scale_events_total",
                  R"(direction="up",group="app-group",name="app",namespace="payments")"),
           0},
          {Series("groupscaler_scale_events_total",
                  R"(direction="down",group="app-group",name="app",namespace="payments")"),
           0},
          {Series("groupscaler_at_partition_ceiling"), 1},
          {Series("groupscaler_idle_members"), 0},
          {Series("groupscaler_spec_valid", R"(name="app",namespace="payments")"), 1},
          {Series("groupscaler_kafka_reachable"), 1},
          {Series("groupscaler_last_observation_timestamp_seconds"), 1'800'000'000.5},
          {Series("groupscaler_max_time_lag_seconds"), 12.5},
          {Series("groupscaler_stalled_partitions"), 1},
          {Series("groupscaler_rebalances_caused_total"), 4},
      }) {
    EXPECT_EQ(Value(text, w.series), w.value) << w.series << "\n" << text;
  }
  // Rates only where known: refunds has none.
  EXPECT_EQ(CountSeries(text, "groupscaler_produce_rate_messages_per_second"), 1);
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 3);
}

TEST(Metrics, PartitionLagOnlyWithTheOption) {
  Metrics m;
  m.RecordAutoscaler(Full());
  const std::string text = m.Scrape();
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 0);
  EXPECT_EQ(CountSeries(text, "groupscaler_topic_lag_messages"), 2);
}

TEST(Metrics, UnknownLagRemovesTheSeriesNeverZero) {
  Metrics m({.partition_lag = true});
  m.RecordAutoscaler(Full());
  // Kafka became unreachable: what the reconciler reports then.
  m.RecordAutoscaler(
      {.namespace_name = "payments",
       .name = "app",
       .spec_valid = true,
       .group = "app-group",
       .kafka_reachable = false,
       .figures = {.current_replicas = 2, .desired_replicas = 2, .rebalances_caused = 4}});
  const std::string text = m.Scrape();
  for (const char* gone :
       {"groupscaler_consumer_group_lag_messages", "groupscaler_topic_lag_messages",
        "groupscaler_partition_lag_messages", "groupscaler_partitions",
        "groupscaler_replica_ceiling", "groupscaler_group_members",
        "groupscaler_produce_rate_messages_per_second",
        "groupscaler_consume_rate_messages_per_second", "groupscaler_at_partition_ceiling",
        "groupscaler_idle_members", "groupscaler_max_time_lag_seconds",
        "groupscaler_stalled_partitions"}) {
    EXPECT_EQ(CountSeries(text, gone), 0) << gone << "\n" << text;
  }
  EXPECT_EQ(Value(text, Series("groupscaler_kafka_reachable")), 0);
  EXPECT_EQ(Value(text, Series("groupscaler_desired_replicas")), 2);
  // The last success stays: it is what an alert on staleness needs.
  EXPECT_EQ(Value(text, Series("groupscaler_last_observation_timestamp_seconds")), 1'800'000'000.5);
  EXPECT_EQ(Value(text, Series("groupscaler_rebalances_caused_total")), 4);
}

TEST(Metrics, TopicsAndPartitionsNoLongerObservedAreRemoved) {
  Metrics m({.partition_lag = true});
  m.RecordAutoscaler(Full());
  AutoscalerSample s = Full();
  s.topics = {{.topic = "orders", .lag = 100}};
  s.partitions = {{.topic = "orders", .partition = 1, .lag = 100}};
  m.RecordAutoscaler(s);
  const std::string text = m.Scrape();
  EXPECT_EQ(CountSeries(text, "groupscaler_topic_lag_messages"), 1);
  EXPECT_EQ(
      Value(text, Series("groupscaler_topic_lag_messages",
                         R"(group="app-group",name="app",namespace="payments",topic="orders")")),
      100);
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 1);
  EXPECT_EQ(CountSeries(text, "groupscaler_produce_rate_messages_per_second"), 0);
  EXPECT_EQ(CountSeries(text, "groupscaler_consume_rate_messages_per_second"), 0);
}

TEST(Metrics, InvalidSpecExportsOnlySpecValid) {
  Metrics m;
  m.RecordAutoscaler(Full());
  m.RecordAutoscaler({.namespace_name = "payments", .name = "app", .spec_valid = false});
  const std::string text = m.Scrape();
  EXPECT_EQ(Value(text, Series("groupscaler_spec_valid", R"(name="app",namespace="payments")")), 0);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("app-group"))) << text;
  EXPECT_EQ(CountSeries(text, "groupscaler_scale_events_total"), 0) << text;
}

TEST(Metrics, FamiliesWithoutSeriesAreLeftOut) {
  Metrics m;
  m.RecordAutoscaler({.namespace_name = "payments", .name = "app", .spec_valid = false});
  const std::string text = m.Scrape();
  EXPECT_THAT(text, HasSubstr("# TYPE groupscaler_spec_valid gauge\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("groupscaler_consumer_group_lag_messages"))) << text;
  EXPECT_THAT(text, ::testing::Not(HasSubstr("groupscaler_scale_events_total"))) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m;
  AutoscalerSample s = Full();
  s.group = "a\"quoted\" \\ group\nover two lines";  // a Kafka group id may hold anything
  m.RecordAutoscaler(s);
  const std::string text = m.Scrape();
  EXPECT_EQ(Value(text, Series("groupscaler_consumer_group_lag_messages",
                               R"(group="a\"quoted\" \\ group\nover two lines",name="app",)"
                               R"(namespace="payments")")),
            2500)
      << text;
  const groupscaler::testing::RunResult lint = PromtoolCheck(text);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(lint.out + lint.err, "");
}

// How often each line of `text` that starts with `prefix` comes, by the
// line without its value (a series) or whole (a comment).
std::map<std::string, int> Lines(const std::string& text, const std::string& prefix) {
  std::map<std::string, int> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(prefix)) continue;
    ++out[line.starts_with("#") ? line : line.substr(0, line.rfind(' '))];
  }
  return out;
}

TEST(Metrics, ScrapeOfManyAutoscalersHasEverySeriesOnceAndParses) {
  constexpr int kAutoscalers = 2000;
  Metrics m({.partition_lag = true});
  for (int i = 0; i < kAutoscalers; ++i) {
    AutoscalerSample s = Full();
    s.name = "app-" + std::to_string(i);
    s.topics[1].produce_rate = 1;
    s.topics[1].consume_rate = 2;
    s.partitions.push_back({.topic = "refunds", .partition = 1, .lag = 0});
    m.RecordAutoscaler(s);
  }
  ASSERT_TRUE(m.Serve("127.0.0.1:0").ok());
  const testing::HttpAnswer answer =
      testing::HttpGet(m.port(), "/metrics", std::chrono::seconds(30));
  ASSERT_EQ(answer.code, 200);
  const std::string& text = answer.body;
  EXPECT_EQ(text, m.Scrape()) << "Scrape() is what /metrics serves";

  // Series per autoscaler, by family: 2 topics, 4 partitions.
  const std::map<std::string, int> families = {
      {"groupscaler_consumer_group_lag_messages", 1},
      {"groupscaler_topic_lag_messages", 2},
      {"groupscaler_partition_lag_messages", 4},
      {"groupscaler_partitions", 1},
      {"groupscaler_replica_ceiling", 1},
      {"groupscaler_current_replicas", 1},
      {"groupscaler_desired_replicas", 1},
      {"groupscaler_group_members", 1},
      {"groupscaler_produce_rate_messages_per_second", 2},
      {"groupscaler_consume_rate_messages_per_second", 2},
      {"groupscaler_scale_events_total", 2},
      {"groupscaler_at_partition_ceiling", 1},
      {"groupscaler_idle_members", 1},
      {"groupscaler_spec_valid", 1},
      {"groupscaler_kafka_reachable", 1},
      {"groupscaler_last_observation_timestamp_seconds", 1},
      {"groupscaler_max_time_lag_seconds", 1},
      {"groupscaler_stalled_partitions", 1},
      {"groupscaler_rebalances_caused_total", 1},
  };
  int series = 0;
  for (const auto& [name, per_autoscaler] : families) {
    EXPECT_EQ(CountSeries(text, name), kAutoscalers * per_autoscaler) << name;
    series += kAutoscalers * per_autoscaler;
  }
  const std::map<std::string, int> lines = Lines(text, "groupscaler_");
  int autoscaler_series = 0;
  for (const auto& [line, count] : lines) {
    EXPECT_EQ(count, 1) << line;
    autoscaler_series += line.find("name=\"app-") != std::string::npos;
  }
  EXPECT_EQ(autoscaler_series, series);
  for (const auto& [line, count] : Lines(text, "# TYPE ")) EXPECT_EQ(count, 1) << line;
  // And the controller's 10, but for the Kafka and API requests, none yet.
  EXPECT_EQ(Lines(text, "# TYPE ").size(), families.size() + 8);

  const groupscaler::testing::RunResult lint = PromtoolCheck(text);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(lint.out + lint.err, "");
}

TEST(Metrics, ChangedGroupMovesEverySeries) {
  Metrics m({.partition_lag = true});
  m.RecordAutoscaler(Full());
  AutoscalerSample s = Full();
  s.group = "renamed";
  m.RecordAutoscaler(s);
  const std::string text = m.Scrape();
  EXPECT_THAT(text, ::testing::Not(HasSubstr("app-group"))) << text;
  EXPECT_EQ(Value(text, Series("groupscaler_consumer_group_lag_messages",
                               R"(group="renamed",name="app",namespace="payments")")),
            2500);
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 3);
}

TEST(Metrics, ForgetRemovesOnlyThatAutoscaler) {
  Metrics m({.partition_lag = true});
  m.RecordAutoscaler(Full());
  AutoscalerSample other = Full();
  other.name = "other";
  m.RecordAutoscaler(other);
  m.ForgetAutoscaler("payments", "app");
  const std::string text = m.Scrape();
  EXPECT_THAT(text, ::testing::Not(HasSubstr(R"(name="app")"))) << text;
  EXPECT_EQ(CountSeries(text, "groupscaler_partition_lag_messages"), 3);
  EXPECT_EQ(CountSeries(text, "groupscaler_scale_events_total"), 2);
  EXPECT_EQ(Value(text, Series("groupscaler_spec_valid", R"(name="other",namespace="payments")")),
            1);
  m.ForgetAutoscaler("payments", "never-seen");  // harmless
}

// A process that loses the Lease exports no per-autoscaler series: the new
// leader's are the current ones. The controller's own series stay.
TEST(Metrics, LosingTheLeaseDropsEveryAutoscalersSeries) {
  Metrics m({.partition_lag = true});
  m.SetLeader(true);
  m.RecordAutoscaler(Full());
  m.SetLeader(true);
  EXPECT_EQ(CountSeries(m.Scrape(), "groupscaler_spec_valid"), 1);
  m.SetLeader(false);
  const std::string text = m.Scrape();
  EXPECT_THAT(text, ::testing::Not(HasSubstr(R"(name="app")"))) << text;
  EXPECT_EQ(Value(text, "groupscaler_leader"), 0);
  EXPECT_EQ(CountSeries(text, "groupscaler_build_info"), 1);
}

TEST(Metrics, ScaleEventsAndRebalancesCount) {
  Metrics m;
  AutoscalerSample s = Full();
  s.scaled = 1;
  m.RecordAutoscaler(s);
  m.RecordAutoscaler(s);
  s.scaled = -1;
  s.figures.rebalances_caused = 7;
  m.RecordAutoscaler(s);
  std::string text = m.Scrape();
  const std::string up =
      Series("groupscaler_scale_events_total",
             R"(direction="up",group="app-group",name="app",namespace="payments")");
  const std::string down =
      Series("groupscaler_scale_events_total",
             R"(direction="down",group="app-group",name="app",namespace="payments")");
  EXPECT_EQ(Value(text, up), 2);
  EXPECT_EQ(Value(text, down), 1);
  EXPECT_EQ(Value(text, Series("groupscaler_rebalances_caused_total")), 7);
  // A new object under the same name: its decision history starts over.
  s.figures.rebalances_caused = 1;
  s.scaled = 0;
  m.RecordAutoscaler(s);
  text = m.Scrape();
  EXPECT_EQ(Value(text, Series("groupscaler_rebalances_caused_total")), 1);
}

TEST(Metrics, ControllerSeries) {
  Metrics m({.version = "9.8.7"});
  m.RecordReconcile(ReconcileResult::kSuccess, std::chrono::milliseconds(20));
  m.RecordReconcile(ReconcileResult::kSuccess, std::chrono::milliseconds(30));
  m.RecordReconcile(ReconcileResult::kHold, std::chrono::seconds(2));
  m.SetWorkQueueDepth(5);
  m.SetWorkers(3);
  m.ObserveWorkQueueWait(std::chrono::milliseconds(250));
  m.AddKafkaRequests({.by_api = {{"OffsetFetch", 3}, {"Metadata", 1}}});
  m.AddKafkaRequests({.by_api = {{"OffsetFetch", 2}}});
  m.CountKafkaError(KafkaErrorKind::kTimeout);
  m.CountKubeRequest("PATCH", "200");
  m.CountKubeRequest("PATCH", "200");
  m.CountKubeRequest("GET", "error");
  m.SetLeader(true);
  const std::string text = m.Scrape();
  struct Want {
    std::string series;
    double value;
  };
  for (const Want& w : std::vector<Want>{
           {R"(groupscaler_reconciles_total{result="success"})", 2},
           {R"(groupscaler_reconciles_total{result="hold"})", 1},
           {R"(groupscaler_reconciles_total{result="error"})", 0},
           {"groupscaler_reconcile_duration_seconds_count", 3},
           {"groupscaler_reconcile_duration_seconds_sum", 2.05},
           {R"(groupscaler_reconcile_duration_seconds_bucket{le="0.025"})", 1},
           {R"(groupscaler_reconcile_duration_seconds_bucket{le="2.5"})", 3},
           {"groupscaler_workqueue_depth", 5},
           {"groupscaler_workers", 3},
           {"groupscaler_workqueue_queue_duration_seconds_count", 1},
           {"groupscaler_workqueue_queue_duration_seconds_sum", 0.25},
           {R"(groupscaler_kafka_requests_total{api="OffsetFetch"})", 5},
           {R"(groupscaler_kafka_requests_total{api="Metadata"})", 1},
           {R"(groupscaler_kafka_errors_total{kind="timeout"})", 1},
           {R"(groupscaler_kafka_errors_total{kind="unreachable"})", 0},
           {R"(groupscaler_kafka_errors_total{kind="coordinator"})", 0},
           {R"(groupscaler_kafka_errors_total{kind="topic"})", 0},
           {R"(groupscaler_kafka_errors_total{kind="auth"})", 0},
           {R"(groupscaler_kafka_errors_total{kind="other"})", 0},
           {R"(groupscaler_kube_api_requests_total{code="200",verb="PATCH"})", 2},
           {R"(groupscaler_kube_api_requests_total{code="error",verb="GET"})", 1},
           {"groupscaler_leader", 1},
           {R"(groupscaler_build_info{version="9.8.7"})", 1},
       }) {
    EXPECT_THAT(Value(text, w.series), ::testing::Optional(::testing::DoubleNear(w.value, 1e-9)))
        << w.series << "\n"
        << text;
  }
  m.SetLeader(false);
  EXPECT_EQ(Value(m.Scrape(), "groupscaler_leader"), 0);
}

TEST(Metrics, BuildInfoIsTheProjectVersion) {
  Metrics m;
  EXPECT_EQ(
      Value(m.Scrape(), R"(groupscaler_build_info{version=")" + std::string(Version()) + R"("})"),
      1);
  EXPECT_THAT(std::string(Version()), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
}

TEST(Metrics, ServesOverHttpOnAPickedPort) {
  Metrics m;
  ASSERT_EQ(m.port(), 0);
  ASSERT_TRUE(m.Serve("127.0.0.1:0").ok());
  ASSERT_GT(m.port(), 0);
  m.SetLeader(true);
  const testing::HttpAnswer answer = testing::HttpGet(m.port(), "/metrics");
  EXPECT_EQ(answer.code, 200);
  EXPECT_EQ(Value(answer.body, "groupscaler_leader"), 1) << answer.body;
  EXPECT_EQ(m.Serve("127.0.0.1:0").code(), StatusCode::kFailedPrecondition);
}

TEST(Metrics, GzipsForClientsThatAcceptIt) {
  Metrics m;
  for (int i = 0; i < 1000; ++i) {
    AutoscalerSample s = Full();
    s.name = "app-" + std::to_string(i);
    m.RecordAutoscaler(s);
  }
  ASSERT_TRUE(m.Serve("127.0.0.1:0").ok());
  web::http::client::http_client_config config;
  config.set_request_compressed_response(true);  // asks for gzip, and inflates the answer
  web::http::client::http_client client("http://127.0.0.1:" + std::to_string(m.port()), config);
  web::http::http_response response = client.request(web::http::methods::GET, "/metrics").get();
  EXPECT_EQ(response.status_code(), 200);
  EXPECT_EQ(response.headers().content_type(), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.headers()["Content-Encoding"], "gzip");
  EXPECT_EQ(response.extract_utf8string(true).get(), m.Scrape());
}

TEST(Metrics, BadAddressesAreRefusedWithTheReason) {
  // A port in use.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  struct Case {
    std::string name;
    std::string address;
    StatusCode want_code;
    std::string want_message;
  };
  for (const Case& c : std::vector<Case>{
           {"NoPort", "localhost", StatusCode::kInvalidArgument, "not host:port"},
           {"EmptyPort", "127.0.0.1:", StatusCode::kInvalidArgument, "not host:port"},
           {"PortTooLarge", ":65536", StatusCode::kInvalidArgument, "not host:port"},
           {"PortNotANumber", ":http", StatusCode::kInvalidArgument, "not host:port"},
           {"Ipv6", "[::1]:0", StatusCode::kInvalidArgument, "not host:port"},
           {"PortInUse", busy, StatusCode::kUnavailable, "Address already in use"},
           {"NotThisMachine", "192.0.2.1:0", StatusCode::kUnavailable,
            "Cannot assign requested address"},
       }) {
    SCOPED_TRACE(c.name);
    Metrics m;
    const Status s = m.Serve(c.address);
    EXPECT_EQ(s.code(), c.want_code) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(c.want_message));
    EXPECT_THAT(s.message(), HasSubstr(c.address));
    EXPECT_EQ(m.port(), 0);
  }
  ::close(fd);
}

}  // namespace
}  // namespace groupscaler::metrics
