// Transaction markers on one real Kafka broker: a transactional producer's
// commit and abort markers take offsets that no read_committed consumer is
// given. `groupscaler lag` reads a group that consumed every record as
// caught up, whichever consumer committed (librdkafka's, which may commit
// below the last marker, or Kafka's Java client, which commits past it),
// while a group behind keeps its exact lag in records; an open
// transaction's records count from its commit on. Kafka's own tool counts
// offsets, markers included: the test shows where it differs.

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka_real/clients.h"
#include "support/kafka_broker.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

KafkaCluster* kafka = nullptr;

// One broker, PLAINTEXT only.
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new KafkaClusterEnvironment("kafka_txn", {.brokers = 1, .listeners = {}}, &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }

// A librdkafka producer with a transactional.id, its transactions
// initialised.
std::unique_ptr<RecordingClient> TransactionalProducer() {
  auto producer = NewRecordingClient(
      RD_KAFKA_PRODUCER, {{"bootstrap.servers", Plaintext()}, {"transactional.id", Unique("tx")}});
  if (producer == nullptr) return nullptr;
  rd_kafka_error_t* error = rd_kafka_init_transactions(producer->rk.get(), 60'000);
  EXPECT_EQ(error, nullptr) << rd_kafka_error_string(error);
  if (error != nullptr) rd_kafka_error_destroy(error);
  return producer;
}

enum class End { kCommit, kAbort, kOpen };

// One transaction of `counts[p]` records to each partition p, written to the
// log (flushed) before it ends as `end` says.
void Transaction(rd_kafka_t* rk, const std::string& topic, const std::vector<int>& counts,
                 End end) {
  rd_kafka_error_t* error = rd_kafka_begin_transaction(rk);
  ASSERT_EQ(error, nullptr) << rd_kafka_error_string(error);
  for (int32_t p = 0; p < static_cast<int32_t>(counts.size()); ++p) {
    for (int i = 0; i < counts[p]; ++i) {
      const std::string value = "record-" + std::to_string(i);
      ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(p),
                                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }
  // Aborting purges what is still queued: flush, so that the aborted
  // records are in the log.
  ASSERT_EQ(rd_kafka_flush(rk, 30'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  if (end == End::kOpen) return;
  error = end == End::kCommit ? rd_kafka_commit_transaction(rk, 30'000)
                              : rd_kafka_abort_transaction(rk, 30'000);
  ASSERT_EQ(error, nullptr) << rd_kafka_error_string(error);
}

// The latest offset of `topic`/`partition` as ListOffsets answers under
// `isolation` ("read_uncommitted": the high watermark; "read_committed":
// the last stable offset).
int64_t LatestOffset(const std::string& topic, int32_t partition, const std::string& isolation) {
  auto client = NewRecordingClient(
      RD_KAFKA_CONSUMER, {{"bootstrap.servers", Plaintext()}, {"isolation.level", isolation}});
  if (client == nullptr) return -1;
  kafka::RdKafkaPtr& rk = client->rk;
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)> list(
      rd_kafka_topic_partition_list_new(1), rd_kafka_topic_partition_list_destroy);
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset =
      RD_KAFKA_OFFSET_END;
  EXPECT_EQ(rd_kafka_offsets_for_times(rk.get(), list.get(), 10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  return list->elems[0].offset;
}

// Kafka's Java client (kafka-clients 4.4) as a read_committed consumer of
// `group`: reads until `count` records came, polls a little more, commits
// its position (commitSync) and leaves.
constexpr char kJavaConsumer[] = R"(
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.KafkaConsumer;

public class TxnConsumer {
  public static void main(String[] args) {
    Properties p = new Properties();
    p.put("bootstrap.servers", args[0]);
    p.put("group.id", args[1]);
    p.put("isolation.level", "read_committed");
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    int wanted = Integer.parseInt(args[3]), got = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(args[2]));
      long deadline = System.currentTimeMillis() + 60000;
      while (got < wanted && System.currentTimeMillis() < deadline) {
        got += consumer.poll(Duration.ofMillis(200)).count();
      }
      consumer.poll(Duration.ofMillis(200));
      consumer.commitSync();
    }
    System.out.println("consumed " + got);
  }
}
)";

// Runs kJavaConsumer; what it printed.
std::string JavaConsume(const std::string& group, const std::string& topic, int count) {
  const std::filesystem::path source = kafka->dir() / "TxnConsumer.java";
  std::ofstream(source) << kJavaConsumer;
  const RunResult r = kafka->RunJava(
      source.string(), {Plaintext(), group, topic, std::to_string(count)}, milliseconds(120'000));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return r.out;
}

// `groupscaler lag --output json` of `group` on `topic`.
json LagJson(const std::string& group, const std::string& topic) {
  const RunResult r = RunProcess({GROUPSCALER_PATH, "lag", "--bootstrap-servers", Plaintext(),
                                  "--group", group, "--topic", topic, "--output", "json"},
                                 milliseconds(30'000));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json();
}

// partition -> (committed offset or null, lag) in LagJson's output.
std::map<int, std::pair<json, int64_t>> ByPartition(const json& lag) {
  std::map<int, std::pair<json, int64_t>> out;
  for (const json& t : lag["topics"]) {
    for (const json& p : t["partitions"]) {
      out[p["partition"].get<int>()] = {p["committedOffset"], p["lag"].get<int64_t>()};
    }
  }
  return out;
}

// kafka-consumer-groups --describe of `group`: partition -> its LAG column.
std::map<int, std::string> ToolLag(const std::string& group) {
  const RunResult r = kafka->RunTool(kConsumerGroupCommand, {"--describe", "--group", group});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<int, std::string> lags;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string g, topic, partition, committed, end, lag;
    if (!(fields >> g >> topic >> partition >> committed >> end >> lag) || g != group) continue;
    lags[std::stoi(partition)] = lag;
  }
  return lags;
}

// Three committed transactions of 5 records per partition: each partition
// holds records at 0-4, 6-10, 12-16 and commit markers at 5, 11 and 17.
class CommittedTransactions : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kafka->CreateTopic(topic_, 2, 1).ok());
    auto producer = TransactionalProducer();
    ASSERT_NE(producer, nullptr);
    for (int t = 0; t < 3; ++t) Transaction(producer->rk.get(), topic_, {5, 5}, End::kCommit);
  }
  const std::string topic_ = Unique("txn");
};

TEST_F(CommittedTransactions, EveryConsumerThatReadEverythingIsCaughtUp) {
  // Markers take offsets: 15 records, log end 18, read either way.
  EXPECT_EQ(LatestOffset(topic_, 0, "read_uncommitted"), 18);
  EXPECT_EQ(LatestOffset(topic_, 0, "read_committed"), 18);

  const std::string librdkafka = Unique("librdkafka"), java = Unique("java");
  EXPECT_EQ(Consume({{"bootstrap.servers", Plaintext()}}, topic_, librdkafka, 30).values.size(),
            30u);
  EXPECT_THAT(JavaConsume(java, topic_, 30), ::testing::HasSubstr("consumed 30"));
  // A consumer that stopped at its last record, as librdkafka's may (it
  // commits after the last record it was given; whether it has passed the
  // final marker by then depends on its fetches). Kafka's Java client
  // commits its position, past every marker it fetched.
  const std::string stopped = Unique("stopped");
  ASSERT_TRUE(CommitOffsets(Plaintext(), stopped, {{topic_, 0, 17}, {topic_, 1, 17}}).ok());

  for (const std::string& group : {librdkafka, java, stopped}) {
    SCOPED_TRACE(group);
    const json lag = LagJson(group, topic_);
    EXPECT_EQ(lag["totalLag"], 0) << lag.dump(1);
    const std::map<int, std::string> tool = ToolLag(group);
    for (const auto& [partition, committed_lag] : ByPartition(lag)) {
      const int64_t committed = committed_lag.first.get<int64_t>();
      EXPECT_TRUE(committed == 17 || committed == 18) << committed;
      // Kafka's tool counts the marker.
      EXPECT_EQ(tool.at(partition), std::to_string(18 - committed));
    }
  }
}

TEST_F(CommittedTransactions, AGroupBehindKeepsItsLagInRecords) {
  const std::string group = Unique("behind");
  // Partition 0 at 10: records 10 and 12-16 are left, 8 offsets within the
  // counted gap. Partition 1 at 0: 18 offsets, beyond it, counted as
  // offsets (its three markers included).
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, {{topic_, 0, 10}, {topic_, 1, 0}}).ok());
  const json lag = LagJson(group, topic_);
  const auto ours = ByPartition(lag);
  EXPECT_EQ(ours.at(0).second, 6) << lag.dump(1);
  EXPECT_EQ(ours.at(1).second, 18);
  EXPECT_EQ(lag["totalLag"], 24);
  EXPECT_EQ(ToolLag(group), (std::map<int, std::string>{{0, "8"}, {1, "18"}}));
}

// Records at 0-4, the commit marker at 5, aborted records at 6-9 and the
// abort marker at 10.
TEST(AbortedTransaction, ItsRecordsAndMarkerAreNoLag) {
  const std::string topic = Unique("aborted"), java = Unique("java"), stopped = Unique("stopped");
  ASSERT_TRUE(kafka->CreateTopic(topic, 1, 1).ok());
  auto producer = TransactionalProducer();
  ASSERT_NE(producer, nullptr);
  Transaction(producer->rk.get(), topic, {5}, End::kCommit);
  Transaction(producer->rk.get(), topic, {4}, End::kAbort);
  EXPECT_EQ(LatestOffset(topic, 0, "read_uncommitted"), 11);

  EXPECT_THAT(JavaConsume(java, topic, 5), ::testing::HasSubstr("consumed 5"));
  ASSERT_TRUE(CommitOffsets(Plaintext(), stopped, {{topic, 0, 5}}).ok());
  // The Java client's position passes the aborted records and the markers
  // it has fetched: 10 or 11, as its last fetches went.
  for (const std::string& group : {java, stopped}) {
    const json lag = LagJson(group, topic);
    EXPECT_EQ(lag["totalLag"], 0) << group << lag.dump(1);
  }
  EXPECT_EQ(ToolLag(stopped).at(0), "6");
}

// An open transaction's records are not readable by a read_committed
// consumer yet: the log end is the last stable offset until it commits.
TEST(OpenTransaction, ItsRecordsCountOnceItCommits) {
  const std::string topic = Unique("open"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 1, 1).ok());
  auto producer = TransactionalProducer();
  ASSERT_NE(producer, nullptr);
  Transaction(producer->rk.get(), topic, {5}, End::kCommit);  // 0-4, marker 5
  Transaction(producer->rk.get(), topic, {3}, End::kOpen);    // 6-8, open
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, {{topic, 0, 5}}).ok());
  EXPECT_EQ(LatestOffset(topic, 0, "read_uncommitted"), 9);
  EXPECT_EQ(LatestOffset(topic, 0, "read_committed"), 6);

  json lag = LagJson(group, topic);
  EXPECT_EQ(lag["totalLag"], 0) << lag.dump(1);
  EXPECT_EQ(lag["topics"][0]["partitions"][0]["logEndOffset"], 6);
  EXPECT_EQ(ToolLag(group).at(0), "4");  // the high watermark's count

  rd_kafka_error_t* error = rd_kafka_commit_transaction(producer->rk.get(), 30'000);
  ASSERT_EQ(error, nullptr) << rd_kafka_error_string(error);
  lag = LagJson(group, topic);
  EXPECT_EQ(lag["totalLag"], 3) << lag.dump(1);
  EXPECT_EQ(lag["topics"][0]["partitions"][0]["logEndOffset"], 10);
  EXPECT_EQ(ToolLag(group).at(0), "5");
}

}  // namespace
}  // namespace groupscaler::testing
