// The librdkafka LagReader against librdkafka's mock cluster on loopback TCP:
// real producers write known counts, real clients commit known offsets, and
// the observer must report exactly that truth.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "common/manual_clock.h"
#include "kafka/api_versions_probe.h"
#include "kafka/rdkafka_lag_reader.h"
#include "policy/policy.h"
#include "support/fake_lag_reader.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"
#include "support/timing.h"

namespace groupscaler::kafka {
namespace {

using std::chrono::milliseconds;
using testing::Commit;
using ::testing::HasSubstr;
using testing::MockCluster;
using ::testing::Not;

constexpr int16_t kApiListOffsets = 2;
constexpr int16_t kApiMetadata = 3;
constexpr int16_t kApiOffsetFetch = 9;
constexpr milliseconds kCycle{5000};

// The world every test starts from: 3 brokers; topics of 1, 6 and 12
// partitions with known counts (some partitions empty); group "orders" with
// known commits (some partitions never committed, one beyond the log end).
struct World {
  std::unique_ptr<MockCluster> cluster;
  std::map<std::string, std::vector<int64_t>> counts = {
      {"one", {7}},
      {"six", {5, 0, 12, 3, 9, 1}},
      {"twelve", {0, 4, 6, 9, 2, 2, 8, 1, 3, 15, 5, 7}},
  };
  // group -> (topic, partition) -> committed
  std::map<std::string, std::map<policy::TopicPartition, int64_t>> commits = {
      {"orders",
       {{{"one", 0}, 7},
        {{"six", 0}, 2},
        {{"six", 2}, 12},
        {{"six", 3}, 0},
        {{"six", 5}, 4},  // beyond the end (1)
        {{"twelve", 1}, 1},
        {{"twelve", 3}, 9},
        {{"twelve", 9}, 10},
        {{"twelve", 11}, 20}}},  // beyond the end (7)
  };

  std::string bootstrap() const { return cluster->bootstrap_servers(); }
  ClusterConfig config() const { return {.bootstrap_servers = Split(bootstrap()), .auth = {}}; }

  static std::vector<std::string> Split(const std::string& csv) {
    std::vector<std::string> out;
    std::stringstream in(csv);
    for (std::string s; std::getline(in, s, ',');) out.push_back(s);
    return out;
  }
};

World StartWorld() {
  World w;
  auto cluster = MockCluster::Start(3);
  EXPECT_TRUE(cluster.ok()) << cluster.status().ToString();
  w.cluster = std::move(cluster).value();
  std::map<std::string, int> topics;
  for (const auto& [topic, counts] : w.counts) topics[topic] = static_cast<int>(counts.size());
  EXPECT_TRUE(w.cluster->CreateTopics(topics).ok());
  Status produced = testing::ProduceCounts(w.bootstrap(), w.counts);
  EXPECT_TRUE(produced.ok()) << produced.ToString();
  for (const auto& [group, offsets] : w.commits) {
    std::vector<Commit> list;
    for (const auto& [tp, offset] : offsets) list.push_back({tp.topic, tp.partition, offset});
    Status s = testing::CommitOffsets(w.bootstrap(), group, list);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return w;
}

std::unique_ptr<LagReader> NewReader(const World& w, ReaderOptions options = {}) {
  options.statistics_interval = milliseconds(100);
  auto reader = NewRdKafkaLagReader(w.config(), options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return std::move(reader).value();
}

// Every partition of `topics` (those in the world), with offsets exactly as
// written and committed.
void ExpectTruth(const World& w, const GroupObservation& g, const std::vector<std::string>& topics,
                 std::string_view group) {
  SCOPED_TRACE("group " + std::string(group));
  EXPECT_EQ(g.group_id, group);
  EXPECT_FALSE(g.observation.failed) << g.observation.error;
  std::vector<policy::PartitionObservation> want;
  std::set<std::string> sorted(topics.begin(), topics.end());
  for (const std::string& topic : sorted) {
    auto counts = w.counts.find(topic);
    if (counts == w.counts.end()) continue;
    for (size_t p = 0; p < counts->second.size(); ++p) {
      policy::PartitionObservation po{.topic = topic,
                                      .partition = static_cast<int32_t>(p),
                                      .log_start_offset = 0,
                                      .log_end_offset = counts->second[p]};
      auto gc = w.commits.find(std::string(group));
      if (gc != w.commits.end()) {
        auto c = gc->second.find({topic, static_cast<int32_t>(p)});
        if (c != gc->second.end()) po.committed_offset = c->second;
      }
      want.push_back(po);
    }
  }
  ASSERT_EQ(g.observation.partitions.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& got = g.observation.partitions[i];
    SCOPED_TRACE(want[i].topic + "/" + std::to_string(want[i].partition));
    EXPECT_EQ(got.topic, want[i].topic);
    EXPECT_EQ(got.partition, want[i].partition);
    EXPECT_EQ(got.log_start_offset, want[i].log_start_offset);
    EXPECT_EQ(got.log_end_offset, want[i].log_end_offset);
    EXPECT_EQ(got.committed_offset, want[i].committed_offset);
    EXPECT_FALSE(got.failed);
  }
}

// ---------------------------------------------------------------------------

struct TruthCase {
  std::string name;
  std::string group;
  std::vector<std::string> topics;
  std::vector<std::string> missing;  // topics expected as NOT_FOUND topic errors
};
void PrintTo(const TruthCase& c, std::ostream* os) { *os << c.name; }

class GroundTruthTest : public ::testing::TestWithParam<TruthCase> {};

TEST_P(GroundTruthTest, ObservationEqualsWhatWasWrittenAndCommitted) {
  const TruthCase& c = GetParam();
  World w = StartWorld();
  std::unique_ptr<LagReader> reader = NewReader(w);
  auto result = reader->Observe({{c.group, c.topics}}, kCycle);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->size(), 1u);
  const GroupObservation& g = (*result)[0];
  ExpectTruth(w, g, c.topics, c.group);
  ASSERT_EQ(g.topic_errors.size(), c.missing.size());
  for (size_t i = 0; i < c.missing.size(); ++i) {
    EXPECT_EQ(g.topic_errors[i].topic, c.missing[i]);
    EXPECT_EQ(g.topic_errors[i].status.code(), StatusCode::kNotFound);
    EXPECT_THAT(g.topic_errors[i].status.message(), HasSubstr(c.missing[i]));
  }
  // The mock broker does not describe groups: members unknown, not zero.
  EXPECT_FALSE(g.observation.members.has_value());
  EXPECT_FALSE(g.member_list.has_value());
  EXPECT_EQ(g.members_unknown, "the broker does not describe groups");
}

INSTANTIATE_TEST_SUITE_P(
    Kafka, GroundTruthTest,
    ::testing::Values(TruthCase{"one_partition", "orders", {"one"}, {}},
                      TruthCase{"six_partitions", "orders", {"six"}, {}},
                      TruthCase{"twelve_partitions_commit_beyond_end", "orders", {"twelve"}, {}},
                      TruthCase{"several_topics", "orders", {"twelve", "one", "six"}, {}},
                      TruthCase{"missing_topic_others_observed",
                                "orders",
                                {"six", "no-such-topic"},
                                {"no-such-topic"}},
                      TruthCase{"never_committed_group", "fresh", {"six", "one"}, {}}),
    [](const auto& info) { return info.param.name; });

TEST(LagReader, OnlyMissingTopicsFailTheGroupNamingTheTopic) {
  World w = StartWorld();
  auto reader = NewReader(w);
  auto result = reader->Observe({{"orders", {"gone"}}, {"orders", {"six"}}}, kCycle);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const GroupObservation& g = (*result)[0];
  EXPECT_TRUE(g.observation.failed);
  EXPECT_THAT(g.observation.error, HasSubstr("gone"));
  EXPECT_TRUE(g.observation.partitions.empty());
  ExpectTruth(w, (*result)[1], {"six"}, "orders");
}

TEST(LagReader, NoCommitGivesEarliestAndLatestLagThroughThePolicy) {
  World w = StartWorld();
  auto reader = NewReader(w);
  auto result = reader->Observe({{"fresh", {"six"}}}, kCycle);
  ASSERT_TRUE(result.ok());
  const auto& partitions = (*result)[0].observation.partitions;
  ASSERT_EQ(partitions.size(), 6u);
  for (const auto& p : partitions) {
    ASSERT_FALSE(p.committed_offset.has_value());
    const auto earliest =
        policy::ComputePartitionLag(p, policy::OffsetResetPolicy::kEarliest, std::nullopt);
    const auto latest =
        policy::ComputePartitionLag(p, policy::OffsetResetPolicy::kLatest, std::nullopt);
    EXPECT_EQ(earliest.lag, w.counts["six"][p.partition]);
    EXPECT_EQ(latest.lag, 0);
    EXPECT_TRUE(earliest.committed_missing);
  }
}

TEST(LagReader, CommittedBeyondEndIsReportedRawAndClampedByThePolicy) {
  World w = StartWorld();
  auto reader = NewReader(w);
  auto result = reader->Observe({{"orders", {"twelve"}}}, kCycle);
  ASSERT_TRUE(result.ok());
  const auto& p11 = (*result)[0].observation.partitions.at(11);
  EXPECT_EQ(p11.committed_offset, 20);
  EXPECT_EQ(p11.log_end_offset, 7);
  const auto lag = policy::ComputePartitionLag(p11, policy::OffsetResetPolicy::kLatest, 7);
  EXPECT_EQ(lag.lag, 0);
  EXPECT_TRUE(lag.committed_beyond_end);
}

// The mock broker keeps at most 5 MiB per partition and deletes whole
// batches from the front, as retention does: 8 batches of 1 MB move the log
// start forward.
TEST(LagReader, CommittedBelowLogStartAfterRetention) {
  World w = StartWorld();
  ASSERT_TRUE(w.cluster->CreateTopic("retained", 1).ok());
  ASSERT_TRUE(testing::ProduceCounts(w.bootstrap(), "retained", {8}, 1'000'000,
                                     /*one_per_batch=*/true)
                  .ok());
  ASSERT_TRUE(testing::CommitOffsets(w.bootstrap(), "archiver", {{"retained", 0, 1}}).ok());
  auto truth = testing::QueryWatermarks(w.bootstrap(), "retained", 0);
  ASSERT_TRUE(truth.ok());
  ASSERT_GT(truth->low, 1) << "the mock no longer deletes old batches";
  ASSERT_EQ(truth->high, 8);

  auto reader = NewReader(w);
  auto result = reader->Observe({{"archiver", {"retained"}}}, kCycle);
  ASSERT_TRUE(result.ok());
  const auto& p = (*result)[0].observation.partitions.at(0);
  EXPECT_EQ(p.log_start_offset, truth->low);
  EXPECT_EQ(p.log_end_offset, 8);
  EXPECT_EQ(p.committed_offset, 1);
  // Deleted messages are not backlog: the consumer resumes where its
  // auto.offset.reset says.
  EXPECT_EQ(policy::ComputePartitionLag(p, policy::OffsetResetPolicy::kEarliest, 8).lag,
            8 - truth->low);
  EXPECT_EQ(policy::ComputePartitionLag(p, policy::OffsetResetPolicy::kLatest, 8).lag, 0);
}

TEST(LagReader, ManyGroupsInOneCycle) {
  World w = StartWorld();
  std::vector<GroupQuery> queries;
  for (int i = 0; i < 20; ++i) {
    const std::string group = std::string("g").append(std::to_string(i));
    std::vector<Commit> commits;
    for (int32_t p = 0; p < 6; ++p) {
      const int64_t offset = std::min<int64_t>(i % 5, w.counts["six"][p]);
      commits.push_back({"six", p, offset});
      w.commits[group][{"six", p}] = offset;
    }
    ASSERT_TRUE(testing::CommitOffsets(w.bootstrap(), group, commits).ok());
    queries.push_back({group, {"six", "twelve"}});
  }
  auto reader = NewReader(w);
  auto result = reader->Observe(queries, kCycle);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->size(), queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    ExpectTruth(w, (*result)[i], queries[i].topics, queries[i].group_id);
  }
}

TEST(LagReader, SecondCycleSeesNewOffsets) {
  World w = StartWorld();
  auto reader = NewReader(w);
  ASSERT_TRUE(reader->Observe({{"orders", {"six"}}}, kCycle).ok());
  ASSERT_TRUE(testing::ProduceCounts(w.bootstrap(), "six", {1, 1, 1, 1, 1, 1}).ok());
  ASSERT_TRUE(testing::CommitOffsets(w.bootstrap(), "orders", {{"six", 1, 1}}).ok());
  for (int64_t& c : w.counts["six"]) ++c;
  w.commits["orders"][{"six", 1}] = 1;
  auto result = reader->Observe({{"orders", {"six"}}}, kCycle);
  ASSERT_TRUE(result.ok());
  ExpectTruth(w, (*result)[0], {"six"}, "orders");
}

// The mock cannot add partitions to a topic; a topic created between cycles
// exercises the same path: it appears at the next metadata refresh, not
// before (the cache is what keeps Metadata requests off the hot path).
TEST(LagReader, NewTopicPickedUpAtNextMetadataRefresh) {
  World w = StartWorld();
  ManualClock clock(Timestamp{std::chrono::hours(1000)}, ManualClock::Sleeping::kAdvance);
  ReaderOptions options;
  options.clock = &clock;
  options.metadata_max_age = milliseconds(60'000);
  options.metadata_min_interval = milliseconds(5'000);
  auto reader = NewReader(w, options);
  const std::vector<GroupQuery> query = {{"orders", {"six", "later"}}};

  auto first = reader->Observe(query, kCycle);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ((*first)[0].topic_errors.size(), 1u);

  ASSERT_TRUE(w.cluster->CreateTopic("later", 3).ok());
  ASSERT_TRUE(testing::ProduceCounts(w.bootstrap(), "later", {2, 0, 5}).ok());
  w.counts["later"] = {2, 0, 5};

  clock.Advance(milliseconds(1'000));  // within metadata_min_interval: cached
  auto cached = reader->Observe(query, kCycle);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ((*cached)[0].topic_errors.size(), 1u);

  clock.Advance(milliseconds(5'000));  // a missing topic triggers a refresh now
  auto refreshed = reader->Observe(query, kCycle);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_TRUE((*refreshed)[0].topic_errors.empty());
  ExpectTruth(w, (*refreshed)[0], {"six", "later"}, "orders");
}

// ---------------------------------------------------------------------------
// Unreachable clusters: a failed observation within the deadline.

struct DownCase {
  std::string name;
  bool warm = false;  // a cycle succeeded before the brokers went down
  bool unreachable_address = false;
};
void PrintTo(const DownCase& c, std::ostream* os) { *os << c.name; }

class ClusterDownTest : public ::testing::TestWithParam<DownCase> {};

TEST_P(ClusterDownTest, FailsWithinTheDeadlineNeverZeroLag) {
  const DownCase& c = GetParam();
  World w = StartWorld();
  ClusterConfig config = w.config();
  if (c.unreachable_address) config.bootstrap_servers = {"127.0.0.1:1"};
  auto made = NewRdKafkaLagReader(config, {});
  ASSERT_TRUE(made.ok());
  std::unique_ptr<LagReader> reader = std::move(made).value();
  if (c.warm) {
    ASSERT_TRUE(reader->Observe({{"orders", {"six"}}}, kCycle).ok());
  }
  for (int32_t b = 1; b <= 3; ++b) ASSERT_TRUE(w.cluster->SetBrokerDown(b).ok());

  const milliseconds timeout(1500);
  const auto start = std::chrono::steady_clock::now();
  auto result = reader->Observe({{"orders", {"six"}}}, timeout);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_LT(elapsed, timeout + milliseconds(1000));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().code(),
              ::testing::AnyOf(StatusCode::kUnavailable, StatusCode::kDeadlineExceeded));
  const policy::Observation failed = FailedObservation(result.status());
  EXPECT_TRUE(failed.failed);
  EXPECT_TRUE(failed.partitions.empty());
  const policy::Decision d = policy::Decide(failed, {}, policy::Spec{}, Timestamp{});
  EXPECT_EQ(d.reason, policy::Reason::kObservationFailed);
}

INSTANTIATE_TEST_SUITE_P(Kafka, ClusterDownTest,
                         ::testing::Values(DownCase{"cold", false, false},
                                           DownCase{"warm", true, false},
                                           DownCase{"nothing_listening", false, true}),
                         [](const auto& info) { return info.param.name; });

TEST(LagReader, OneBrokerDownFailsOnlyItsPartitions) {
  World w = StartWorld();
  for (int32_t p = 0; p < 6; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(w.cluster->raw(), "six", p, p == 0 ? 1 : 2),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_mock_coordinator_set(w.cluster->raw(), "group", "orders", 3),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  auto reader = NewReader(w);
  ASSERT_TRUE(reader->Observe({{"orders", {"six"}}}, kCycle).ok());
  ASSERT_TRUE(w.cluster->SetBrokerDown(1).ok());

  const auto start = std::chrono::steady_clock::now();
  auto result = reader->Observe({{"orders", {"six"}}}, milliseconds(2000));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            milliseconds(2000) + groupscaler::testing::Overrun(milliseconds(1000)));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const auto& partitions = (*result)[0].observation.partitions;
  ASSERT_EQ(partitions.size(), 6u);
  EXPECT_TRUE(partitions[0].failed);
  for (int p = 1; p < 6; ++p) {
    EXPECT_FALSE(partitions[p].failed) << p;
    EXPECT_EQ(partitions[p].log_end_offset, w.counts["six"][p]);
  }
  // The policy does not read the failed partition as zero lag.
  EXPECT_FALSE(
      policy::ComputePartitionLag(partitions[0], policy::OffsetResetPolicy::kEarliest, std::nullopt)
          .known);
}

// ---------------------------------------------------------------------------
// Injected protocol errors: retried within the cycle, or reported.

struct InjectedCase {
  std::string name;
  int16_t api_key;
  std::vector<rd_kafka_resp_err_t> errors;
  bool recovered;  // the cycle still equals the truth
};
void PrintTo(const InjectedCase& c, std::ostream* os) { *os << c.name; }

class InjectedErrorTest : public ::testing::TestWithParam<InjectedCase> {};

TEST_P(InjectedErrorTest, RetriedOrReported) {
  const InjectedCase& c = GetParam();
  World w = StartWorld();
  ManualClock clock(Timestamp{std::chrono::hours(1000)}, ManualClock::Sleeping::kAdvance);
  ReaderOptions options;
  options.clock = &clock;
  auto reader = NewReader(w, options);
  // Warm up so that connections and the metadata cache exist and the
  // injected errors hit the cycle's own requests.
  ASSERT_TRUE(reader->Observe({{"orders", {"six"}}}, kCycle).ok());
  if (c.api_key == kApiMetadata) {
    // Force our metadata refresh in the next cycle: a missing topic, and
    // time past the minimum refresh interval.
    ASSERT_TRUE(w.cluster->CreateTopic("fresh-topic", 2).ok());
    clock.Advance(std::chrono::seconds(10));
  }
  w.cluster->PushRequestErrors(c.api_key, c.errors);
  std::vector<std::string> topics = {"six"};
  if (c.api_key == kApiMetadata) topics.push_back("fresh-topic");
  auto result = reader->Observe({{"orders", topics}}, kCycle);
  w.cluster->ClearRequestErrors(c.api_key);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const GroupObservation& g = (*result)[0];
  if (c.recovered) {
    w.counts["fresh-topic"] = {0, 0};
    if (c.api_key != kApiMetadata) topics = {"six"};
    ExpectTruth(w, g, topics, "orders");
    return;
  }
  // Reported: either the group failed, naming the group and the error, or
  // partitions are marked failed; never a silent zero.
  const std::string name = rd_kafka_err2name(c.errors.front());
  if (c.api_key == kApiOffsetFetch) {
    EXPECT_TRUE(g.observation.failed);
    EXPECT_THAT(g.observation.error, HasSubstr("orders"));
    EXPECT_THAT(g.observation.error, HasSubstr(name));
  } else {
    int failed = 0;
    for (const auto& p : g.observation.partitions) failed += p.failed;
    EXPECT_GT(failed, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kafka, InjectedErrorTest,
    ::testing::Values(InjectedCase{"metadata_leader_not_available_retried",
                                   kApiMetadata,
                                   {RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE},
                                   true},
                      InjectedCase{"list_offsets_not_leader_retried",
                                   kApiListOffsets,
                                   {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
                                   true},
                      InjectedCase{"list_offsets_unauthorized_reported",
                                   kApiListOffsets,
                                   {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED},
                                   false},
                      InjectedCase{"offset_fetch_coordinator_loading_retried",
                                   kApiOffsetFetch,
                                   {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS},
                                   true},
                      InjectedCase{"offset_fetch_not_coordinator_retried",
                                   kApiOffsetFetch,
                                   {RD_KAFKA_RESP_ERR_NOT_COORDINATOR},
                                   true},
                      InjectedCase{"offset_fetch_unauthorized_reported",
                                   kApiOffsetFetch,
                                   {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED},
                                   false}),
    [](const auto& info) { return info.param.name; });

// A coordinator still loading its offsets (its broker just started) answers
// COORDINATOR_LOAD_IN_PROGRESS for a while: asked again until the deadline,
// past kMaxAttempts. (Listing a group's committed topics, `groupscaler lag`
// without --topic, follows the same rule; the mock broker answers that
// request, OffsetFetch for every topic, with none.)
TEST(LagReader, ACoordinatorLoadingItsOffsetsIsAskedAgainUntilItAnswers) {
  World w = StartWorld();
  auto reader = NewReader(w);
  ASSERT_TRUE(reader->Observe({{"orders", {"six"}}}, kCycle).ok());
  const std::vector<rd_kafka_resp_err_t> loading(6, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
  w.cluster->PushRequestErrors(kApiOffsetFetch, loading);
  auto result = reader->Observe({{"orders", {"six"}}}, kCycle);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ExpectTruth(w, (*result)[0], {"six"}, "orders");
}

TEST(LagReader, TopicErrorInMetadataIsAPerTopicError) {
  World w = StartWorld();
  rd_kafka_mock_topic_set_error(w.cluster->raw(), "twelve",
                                RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto reader = NewReader(w);
  auto result = reader->Observe({{"orders", {"six", "twelve"}}}, kCycle);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const GroupObservation& g = (*result)[0];
  ASSERT_EQ(g.topic_errors.size(), 1u);
  EXPECT_EQ(g.topic_errors[0].topic, "twelve");
  EXPECT_EQ(g.topic_errors[0].status.code(), StatusCode::kPermissionDenied);
  ExpectTruth(w, g, {"six"}, "orders");
}

// ---------------------------------------------------------------------------
// Request accounting and sharing.

TEST(LagReader, SteadyStateRequestsDoNotGrowWithPartitions) {
  World w = StartWorld();
  auto reader = NewReader(w);
  std::vector<GroupQuery> queries;
  for (int i = 0; i < 5; ++i)
    queries.push_back({std::string("g").append(std::to_string(i)), {"six", "twelve"}});
  ASSERT_TRUE(reader->Observe(queries, kCycle).ok());  // warm: metadata, connections
  auto before = reader->RequestCountsSnapshot(milliseconds(3000));
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_TRUE(reader->Observe(queries, kCycle).ok());
  auto after = reader->RequestCountsSnapshot(milliseconds(3000));
  ASSERT_TRUE(after.ok());
  const RequestCounts cycle = after->Since(*before);
  SCOPED_TRACE(cycle.ToString());
  EXPECT_EQ(cycle.by_api.count("Metadata"), 0u);
  EXPECT_EQ(cycle.by_api.at("OffsetFetch"), 5);
  EXPECT_GE(cycle.by_api.at("ListOffsets"), 2);
  EXPECT_LE(cycle.by_api.at("ListOffsets"), 2 * 3);
  EXPECT_LE(cycle.Total(), 1 + 2 * 3 + 5);
}

TEST(LagReaderPool, OneReaderPerClusterClosedWhenUnused) {
  World w = StartWorld();
  LagReaderPool pool(RdKafkaLagReaderFactory());
  auto a = pool.Get(w.config());
  auto b = pool.Get(w.config());
  ClusterConfig other = w.config();
  other.auth = {{"sasl", "plain"}, {"username", "u"}, {"password", "p"}};
  auto c = pool.Get(other);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), c->get());
  EXPECT_EQ(pool.size(), 2u);
  *c = nullptr;
  EXPECT_EQ(pool.size(), 1u);
  ClusterConfig bad = w.config();
  bad.auth = {{"sasl", "kerberos"}};
  auto rejected = pool.Get(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_THAT(rejected.status().message(), HasSubstr("\"sasl\""));
}

TEST(LagReaderPool, SameServersInAnyOrderShareOneReader) {
  int made = 0;
  LagReaderPool pool([&](const ClusterConfig&) -> StatusOr<std::unique_ptr<LagReader>> {
    ++made;
    return std::unique_ptr<LagReader>(std::make_unique<testing::FakeLagReader>());
  });
  auto a = pool.Get({.bootstrap_servers = {"b-1:9092", "b-2:9092"}});
  auto b = pool.Get({.bootstrap_servers = {"b-2:9092", "b-1:9092"}});
  auto c = pool.Get({.bootstrap_servers = {"b-1:9092"}});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), c->get());
  EXPECT_EQ(made, 2);
}

TEST(LagReader, SecretsNeverReachLogsOrErrors) {
  World w = StartWorld();
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::debug);
  {
    ClusterConfig config = w.config();
    const std::string secret = "Pa55-Secret-Value-42";
    config.auth = {{"sasl", "plain"}, {"username", "svc"}, {"password", secret}};
    ReaderOptions options;
    options.extra_properties = {{"debug", "conf,security,broker"}};
    auto reader = NewRdKafkaLagReader(config, options);
    ASSERT_TRUE(reader.ok());
    // The mock broker speaks no SASL: the cycle fails, and librdkafka logs a lot.
    auto result = (*reader)->Observe({{"orders", {"six"}}}, milliseconds(1500));
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.status().message(), Not(HasSubstr(secret)));
    spdlog::default_logger()->flush();
    EXPECT_THAT(captured.str(), HasSubstr("librdkafka"));
    EXPECT_THAT(captured.str(), Not(HasSubstr(secret)));
  }
  spdlog::set_default_logger(previous);
}

// ---------------------------------------------------------------------------
// Real members of one shared group, each in its own process.

TEST(LagReader, MembersInSeparateProcessesCommitKnownOffsets) {
  World w = StartWorld();
  const std::map<int32_t, int64_t> offsets = {{0, 5}, {1, 0}, {2, 7}, {3, 3}, {4, 1}, {5, 1}};
  std::vector<std::string> argv = {KAFKA_GROUP_MEMBER_PATH, w.bootstrap(), "shared", "six"};
  for (const auto& [p, o] : offsets) {
    argv.push_back(std::to_string(p) + "=" + std::to_string(o));
    w.commits["shared"][{"six", p}] = o;
  }
  std::vector<std::unique_ptr<testing::Subprocess>> members;
  for (int i = 0; i < 2; ++i) {
    auto m = testing::Subprocess::Spawn(argv);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    members.push_back(std::move(m).value());
  }
  // Wait until both members hold partitions and together hold all six.
  std::vector<std::set<int>> assigned(members.size());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto covered = [&] {
    std::set<int> all;
    for (const auto& a : assigned) {
      if (a.empty()) return false;
      all.insert(a.begin(), a.end());
    }
    return all.size() == 6;
  };
  while (!covered() && std::chrono::steady_clock::now() < deadline) {
    for (size_t i = 0; i < members.size(); ++i) {
      auto line = members[i]->ReadLine(milliseconds(100));
      if (!line) continue;
      ASSERT_THAT(*line, Not(HasSubstr("commit-failed")));
      // Overtaken by a rebalance: owns nothing until its next assignment.
      if (line->rfind("commit-retry", 0) == 0) assigned[i].clear();
      if (line->rfind("assigned ", 0) == 0) {
        assigned[i].clear();
        std::stringstream in(line->substr(9));
        for (std::string p; std::getline(in, p, ',');) assigned[i].insert(std::stoi(p));
      }
    }
  }
  ASSERT_TRUE(covered()) << "the members never shared the partitions";

  auto reader = NewReader(w);
  auto result = reader->Observe({{"shared", {"six"}}}, kCycle);
  ASSERT_TRUE(result.ok());
  ExpectTruth(w, (*result)[0], {"six"}, "shared");

  for (auto& m : members) m->CloseStdin();
  for (auto& m : members) EXPECT_EQ(m->Wait(milliseconds(10'000)), 0);
}

// sasl=oauthbearer: the reader takes the client credentials at start (the
// grant is asked on its handle's token refresh), and refuses an oauthCaFile
// it cannot read there, naming the key.
TEST(LagReader, ClientCredentialsAreTakenAtStartAndAnUnreadableCaIsNot) {
  ClusterConfig config{.bootstrap_servers = {"127.0.0.1:1"},
                       .auth = {{"sasl", "oauthbearer"},
                                {"oauthTokenEndpointUri", "https://idp.example/token"},
                                {"oauthClientId", "groupscaler"},
                                {"oauthClientSecret", "Oidc-Secret-77"}}};
  auto reader = NewRdKafkaLagReader(config, {});
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  config.auth["oauthCaFile"] = ::testing::TempDir() + "/no-such-idp-ca.pem";
  auto refused = NewRdKafkaLagReader(config, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("\"oauthCaFile\""));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("Oidc-Secret-77")));
}

// The probe that keeps DescribeConsumerGroups away from brokers without
// DescribeGroups (see api_versions_probe.h), against the mock's real answer.
TEST(BrokerSupportsApi, ReadsTheBrokersApiVersions) {
  auto cluster = testing::MockCluster::Start(1);
  ASSERT_TRUE(cluster.ok());
  const std::string server = (*cluster)->bootstrap_servers();
  auto metadata = BrokerSupportsApi(server, /*Metadata=*/3, milliseconds(2000));
  ASSERT_TRUE(metadata.ok()) << metadata.status().ToString();
  EXPECT_TRUE(*metadata);
  auto describe = BrokerSupportsApi(server, kApiDescribeGroups, milliseconds(2000));
  ASSERT_TRUE(describe.ok());
  EXPECT_FALSE(*describe);

  const auto start = std::chrono::steady_clock::now();
  auto unreachable = BrokerSupportsApi("127.0.0.1:1", 3, milliseconds(500));
  EXPECT_FALSE(unreachable.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  EXPECT_FALSE(BrokerSupportsApi("no-port", 3, milliseconds(500)).ok());
}

}  // namespace
}  // namespace groupscaler::kafka
