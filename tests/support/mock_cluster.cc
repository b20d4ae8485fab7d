#include "support/mock_cluster.h"

#include <chrono>
#include <csignal>
#include <future>
#include <thread>

namespace groupscaler::testing {
namespace {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

Status Set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return InvalidArgumentError(std::string(name) + ": " + err);
  }
  return Status::Ok();
}

StatusOr<RdKafkaPtr> NewClient(rd_kafka_type_t type,
                               const std::vector<std::pair<const char*, std::string>>& props) {
  ConfPtr conf(rd_kafka_conf_new());
  // Without it, destroying a client waits for its threads' 1 s poll timeouts.
  Status term = Set(conf.get(), "internal.termination.signal", std::to_string(SIGIO));
  if (!term.ok()) return term;
  for (const auto& [name, value] : props) {
    Status s = Set(conf.get(), name, value);
    if (!s.ok()) return s;
  }
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof(err));
  if (rk == nullptr) return InternalError(std::string("rd_kafka_new: ") + err);
  conf.release();  // rd_kafka_new took ownership
  return RdKafkaPtr(rk);
}

Status FromErr(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return InternalError(what + ": " + rd_kafka_err2str(err));
}

}  // namespace

StatusOr<std::unique_ptr<MockCluster>> MockCluster::Start(int brokers) {
  auto rk = NewClient(RD_KAFKA_PRODUCER, {{"log_level", "0"}});
  if (!rk.ok()) return rk.status();
  std::unique_ptr<MockCluster> cluster(new MockCluster());
  cluster->rk_ = std::move(rk).value();
  cluster->mock_ = rd_kafka_mock_cluster_new(cluster->rk_.get(), brokers);
  if (cluster->mock_ == nullptr) return InternalError("rd_kafka_mock_cluster_new failed");
  cluster->bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster->mock_);
  cluster->brokers_ = brokers;
  return cluster;
}

MockCluster::~MockCluster() {
  if (mock_ != nullptr) rd_kafka_mock_cluster_destroy(mock_);
}

Status MockCluster::CreateTopic(const std::string& topic, int partitions) {
  return FromErr(rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, 1),
                 "create topic " + topic);
}

Status MockCluster::CreateTopics(const std::map<std::string, int>& topics) {
  std::vector<std::future<Status>> pending;
  for (const auto& [topic, partitions] : topics) {
    pending.push_back(std::async(std::launch::async, [this, topic = topic, n = partitions] {
      return CreateTopic(topic, n);
    }));
  }
  Status result;
  for (auto& p : pending) {
    Status s = p.get();
    if (result.ok() && !s.ok()) result = s;
  }
  return result;
}

Status MockCluster::SetBrokerDown(int32_t broker_id) {
  return FromErr(rd_kafka_mock_broker_set_down(mock_, broker_id), "broker down");
}

Status MockCluster::SetBrokerUp(int32_t broker_id) {
  return FromErr(rd_kafka_mock_broker_set_up(mock_, broker_id), "broker up");
}

void MockCluster::PushRequestErrors(int16_t api_key,
                                    const std::vector<rd_kafka_resp_err_t>& errors) {
  rd_kafka_mock_push_request_errors_array(mock_, api_key, errors.size(), errors.data());
}

void MockCluster::ClearRequestErrors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(mock_, api_key);
}

Status ProduceCounts(const std::string& bootstrap, const std::string& topic,
                     const std::vector<int64_t>& counts, size_t value_bytes, bool one_per_batch) {
  return ProduceCounts(bootstrap, {{topic, counts}}, value_bytes, one_per_batch);
}

Status ProduceCounts(const std::string& bootstrap,
                     const std::map<std::string, std::vector<int64_t>>& topics, size_t value_bytes,
                     bool one_per_batch) {
  std::vector<std::pair<const char*, std::string>> props = {{"bootstrap.servers", bootstrap},
                                                            {"linger.ms", "5"},
                                                            {"log_level", "0"},
                                                            {"message.max.bytes", "2000000"}};
  if (one_per_batch) props.push_back({"batch.num.messages", "1"});
  auto rk = NewClient(RD_KAFKA_PRODUCER, props);
  if (!rk.ok()) return rk.status();
  // Learn the leaders first: a message produced before them waits for the
  // next broker wake-up, up to a second.
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk->get(), 1, nullptr, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_metadata_destroy(md);
  }
  const std::string value(value_bytes, 'x');
  for (const auto& [topic, counts] : topics) {
    for (size_t p = 0; p < counts.size(); ++p) {
      for (int64_t i = 0; i < counts[p]; ++i) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk->get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                    RD_KAFKA_V_PARTITION(static_cast<int32_t>(p)),
                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(rk->get(), 10);
        }
        if (err) return FromErr(err, "produce to " + topic);
        if (one_per_batch) {
          // Wait for each message so that each becomes its own batch.
          Status s = FromErr(rd_kafka_flush(rk->get(), 10000), "flush " + topic);
          if (!s.ok()) return s;
        }
      }
    }
  }
  return FromErr(rd_kafka_flush(rk->get(), 20000), "flush");
}

Status CommitOffsets(const std::string& bootstrap, const std::string& group,
                     const std::vector<Commit>& offsets) {
  auto rk = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                          {"group.id", group},
                                          {"enable.auto.commit", "false"},
                                          {"log_level", "0"}});
  if (!rk.ok()) return rk.status();
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const Commit& c : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), c.topic.c_str(), c.partition)->offset = c.offset;
  }
  Status s = FromErr(rd_kafka_commit(rk->get(), list.get(), 0), "commit for " + group);
  rd_kafka_consumer_close(rk->get());
  return s;
}

StatusOr<Watermarks> QueryWatermarks(const std::string& bootstrap, const std::string& topic,
                                     int32_t partition) {
  auto rk = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"log_level", "0"}});
  if (!rk.ok()) return rk.status();
  Watermarks w;
  Status s = FromErr(
      rd_kafka_query_watermark_offsets(rk->get(), topic.c_str(), partition, &w.low, &w.high, 10000),
      "watermarks " + topic);
  if (!s.ok()) return s;
  return w;
}

}  // namespace groupscaler::testing
