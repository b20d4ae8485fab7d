#include "kafka_real/clients.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iostream>
#include <utility>

namespace groupscaler::testing {

long RssMib(pid_t pid) {
  const long kib = RssKib(pid);
  return kib < 0 ? -1 : kib / 1024;
}

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

void ReportStart(const std::string& what, double seconds, const KafkaCluster& cluster) {
  std::cout << what << ": started in " << seconds << " s; RSS";
  for (int id = 0; id < cluster.brokers(); ++id) std::cout << " " << RssMib(cluster.pid(id));
  std::cout << " MiB" << std::endl;
}

void KafkaClusterEnvironment::SetUp() {
  dir_ = std::filesystem::temp_directory_path() / (name_ + "_" + std::to_string(getpid()));
  const auto start = SteadyClock::now();
  auto cluster = KafkaCluster::Start(dir_, options_);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  cluster_ = std::move(cluster).value();
  *published_ = cluster_.get();
  ReportStart(std::to_string(options_.brokers) + "-broker cluster", SecondsSince(start), *cluster_);
}

void KafkaClusterEnvironment::TearDown() {
  *published_ = nullptr;
  cluster_.reset();
  if (!::testing::UnitTest::GetInstance()->Failed()) std::filesystem::remove_all(dir_);
}

void OAuthServerEnvironment::SetUp() {
  auto server = OAuthServer::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  server_ = std::move(server).value();
  *published_ = server_.get();
}

void OAuthServerEnvironment::TearDown() {
  *published_ = nullptr;
  server_.reset();
}

KafkaCluster::Options::OAuth BrokerOAuthFor(const OAuthServer::Options& options) {
  const int jwks_port = options.https ? options.http_port : options.port;
  return {.jwks_url = "http://127.0.0.1:" + std::to_string(jwks_port) + "/jwks",
          .issuer = options.issuer,
          .audience = options.audience};
}

std::string Unique(const std::string& what) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = what + "-" + info->test_suite_name() + "-" + info->name();
  std::replace(name.begin(), name.end(), '/', '-');
  return name + "-" + std::to_string(getpid());
}

namespace {

void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* self = static_cast<RecordingClient*>(opaque);
  std::lock_guard<std::mutex> lock(self->mu);
  self->errors.push_back(static_cast<rd_kafka_resp_err_t>(err));
  self->reasons += std::string(reason) + "\n";
}

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<RecordingClient*>(opaque);
  std::lock_guard<std::mutex> lock(self->mu);
  ++(m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? self->delivered : self->failed);
}

}  // namespace

bool RecordingClient::HasError(rd_kafka_resp_err_t err) {
  std::lock_guard<std::mutex> lock(mu);
  return std::find(errors.begin(), errors.end(), err) != errors.end();
}

std::string RecordingClient::Reasons() {
  std::lock_guard<std::mutex> lock(mu);
  return reasons;
}

std::unique_ptr<RecordingClient> NewRecordingClient(rd_kafka_type_t type,
                                                    const KafkaClientConfig& config) {
  auto client = std::make_unique<RecordingClient>();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] : config) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << name << "=" << value << ": " << err;
    }
  }
  // Without it, destroying a client waits for its threads' poll timeouts.
  rd_kafka_conf_set(conf, "internal.termination.signal", std::to_string(SIGIO).c_str(), err,
                    sizeof(err));
  rd_kafka_conf_set_error_cb(conf, &OnError);
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  rd_kafka_conf_set_opaque(conf, client.get());
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    ADD_FAILURE() << "rd_kafka_new: " << err;
    return nullptr;
  }
  if (type == RD_KAFKA_CONSUMER) rd_kafka_poll_set_consumer(rk);
  client->rk.reset(rk);
  return client;
}

Produced Produce(const KafkaClientConfig& base, const std::string& topic,
                 const std::vector<std::string>& values) {
  KafkaClientConfig config = base;
  config.push_back({"acks", "all"});
  config.push_back({"linger.ms", "0"});
  config.push_back({"message.timeout.ms", "40000"});
  auto producer = NewRecordingClient(RD_KAFKA_PRODUCER, config);
  if (producer == nullptr) return {};
  rd_kafka_t* rk = producer->rk.get();
  for (const std::string& value : values) {
    EXPECT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  EXPECT_EQ(rd_kafka_flush(rk, 45000), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::lock_guard<std::mutex> lock(producer->mu);
  return {producer->delivered, producer->failed, producer->reasons};
}

Consumed Consume(const KafkaClientConfig& base, const std::string& topic, const std::string& group,
                 size_t count) {
  KafkaClientConfig config = base;
  config.push_back({"group.id", group});
  config.push_back({"auto.offset.reset", "earliest"});
  config.push_back({"enable.auto.commit", "false"});
  auto consumer = NewRecordingClient(RD_KAFKA_CONSUMER, config);
  Consumed consumed;
  if (consumer == nullptr) return consumed;
  rd_kafka_t* rk = consumer->rk.get();
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  EXPECT_EQ(rd_kafka_subscribe(rk, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(topics);
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (consumed.values.size() < count && SteadyClock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      consumed.values.insert(std::string(static_cast<const char*>(m->payload), m->len));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ADD_FAILURE() << "consume " << topic << ": " << rd_kafka_message_errstr(m);
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_EQ(rd_kafka_commit(rk, nullptr, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_consumer_close(rk);
  consumed.errors = consumer->Reasons();
  return consumed;
}

std::vector<std::string> Values(const std::string& prefix, int n) {
  std::vector<std::string> values;
  for (int i = 0; i < n; ++i) values.push_back(prefix + "-" + std::to_string(i));
  return values;
}

rd_kafka_resp_err_t Metadata(RecordingClient& client, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(client.rk.get(), 0, nullptr, &md, timeout_ms);
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_poll(client.rk.get(), 0);  // serves the error callbacks
  return err;
}

// A fresh client knows only `asked`, so the answer is that broker's.
int32_t LeaderOf(const KafkaCluster& cluster, int asked, const std::string& topic,
                 std::vector<int32_t>* isr) {
  auto client = NewRecordingClient(
      RD_KAFKA_PRODUCER, {{"bootstrap.servers", cluster.address(asked, KafkaListener::kPlaintext)},
                          {"log_level", "0"}});
  const rd_kafka_metadata_t* md = nullptr;
  if (client == nullptr ||
      rd_kafka_metadata(client->rk.get(), 1, nullptr, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return -1;
  }
  int32_t leader = -1;
  for (int t = 0; t < md->topic_cnt; ++t) {
    if (md->topics[t].topic != topic || md->topics[t].partition_cnt < 1) continue;
    const rd_kafka_metadata_partition_t& p = md->topics[t].partitions[0];
    leader = p.leader;
    if (isr != nullptr) isr->assign(p.isrs, p.isrs + p.isr_cnt);
  }
  rd_kafka_metadata_destroy(md);
  return leader;
}

std::multiset<std::string> AllValues(const std::vector<std::string>& prefixes, int n) {
  std::multiset<std::string> all;
  for (const std::string& prefix : prefixes) {
    for (const std::string& v : Values(prefix, n)) all.insert(v);
  }
  return all;
}

}  // namespace groupscaler::testing
