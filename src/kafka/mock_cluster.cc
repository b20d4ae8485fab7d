#include "kafka/mock_cluster.h"

#include <csignal>
#include <future>

namespace groupscaler::kafka {
namespace {

Status Set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return InvalidArgumentError(std::string(name) + ": " + err);
  }
  return Status::Ok();
}

Status FromErr(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return InternalError(what + ": " + rd_kafka_err2str(err));
}

}  // namespace

StatusOr<RdKafkaPtr> NewClient(rd_kafka_type_t type,
                               const std::vector<std::pair<const char*, std::string>>& props,
                               const std::function<void(rd_kafka_conf_t*)>& configure) {
  ConfPtr conf(rd_kafka_conf_new());
  // Without it, destroying a client waits for its threads' 1 s poll timeouts.
  Status term = Set(conf.get(), "internal.termination.signal", std::to_string(SIGIO));
  if (!term.ok()) return term;
  for (const auto& [name, value] : props) {
    Status s = Set(conf.get(), name, value);
    if (!s.ok()) return s;
  }
  if (configure) configure(conf.get());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof(err));
  if (rk == nullptr) return InternalError(std::string("rd_kafka_new: ") + err);
  conf.release();  // rd_kafka_new took ownership
  return RdKafkaPtr(rk);
}

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

}  // namespace groupscaler::kafka
