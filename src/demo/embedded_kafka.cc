#include "demo/embedded_kafka.h"

#include <csignal>
#include <utility>
#include <vector>

namespace groupscaler::demo {
namespace {

using kafka::ConfPtr;

StatusOr<ConfPtr> NewConf(const std::vector<std::pair<const char*, std::string>>& props) {
  ConfPtr conf(rd_kafka_conf_new());
  // Without it, destroying a client waits for its threads' 1 s poll timeouts.
  std::vector<std::pair<const char*, std::string>> all = {
      {"internal.termination.signal", std::to_string(SIGIO)}, {"log_level", "0"}};
  all.insert(all.end(), props.begin(), props.end());
  char err[512];
  for (const auto& [name, value] : all) {
    if (rd_kafka_conf_set(conf.get(), name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      return InvalidArgumentError(std::string(name) + ": " + err);
    }
  }
  return conf;
}

StatusOr<kafka::RdKafkaPtr> NewProducer(ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err));
  if (rk == nullptr) return InternalError(std::string("rd_kafka_new: ") + err);
  conf.release();  // rd_kafka_new took ownership
  return kafka::RdKafkaPtr(rk);
}

}  // namespace

StatusOr<std::unique_ptr<LoadProducer>> LoadProducer::Start(const std::string& bootstrap,
                                                            const kafka::AuthSettings& auth,
                                                            const std::string& topic,
                                                            int partitions, sim::Trace trace) {
  std::unique_ptr<LoadProducer> producer(new LoadProducer());
  StatusOr<kafka::AuthConfig> auth_config = kafka::BuildAuthConfig(auth);
  if (!auth_config.ok()) return auth_config.status();
  // Batches of ~50 ms: fewer requests for the embedded broker to serve.
  std::vector<std::pair<const char*, std::string>> props = {{"bootstrap.servers", bootstrap},
                                                            {"linger.ms", "50"}};
  for (const auto& [name, value] : auth_config->properties) props.emplace_back(name.c_str(), value);
  StatusOr<ConfPtr> conf = NewConf(props);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &LoadProducer::DeliveryThunk);
  rd_kafka_conf_set_opaque(conf->get(), producer.get());
  StatusOr<kafka::RdKafkaPtr> rk = NewProducer(std::move(conf).value());
  if (!rk.ok()) return rk.status();
  producer->rk_ = std::move(rk).value();
  producer->topic_ = topic;
  producer->partitions_ = partitions;
  producer->trace_ = std::move(trace);
  producer->start_ = std::chrono::steady_clock::now();
  producer->thread_ = std::thread([p = producer.get()] { p->Run(); });
  return producer;
}

LoadProducer::~LoadProducer() {
  Stop();
  if (rk_) rd_kafka_flush(rk_.get(), 5000);
}

void LoadProducer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

int64_t LoadProducer::RateAt(std::chrono::duration<double> elapsed) const {
  int64_t rate = 0;
  for (const sim::TraceRow& row : trace_.rows) {
    if (static_cast<double>(row.time_seconds) > elapsed.count()) break;
    rate = row.produce_rate;
  }
  return rate;
}

void LoadProducer::DeliveryThunk(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<LoadProducer*>(opaque);
  (msg->err ? self->failed_ : self->acknowledged_).fetch_add(1);
}

void LoadProducer::Run() {
  // Owes messages by integrating the profile's rate over 10 ms steps, so a
  // rate change takes effect within a step whatever the rate.
  double owed = 0;
  int64_t sequence = 0;
  auto last = start_;
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const auto now = std::chrono::steady_clock::now();
    owed += static_cast<double>(RateAt(now - start_)) *
            std::chrono::duration<double>(now - last).count();
    last = now;
    for (; owed >= 1 && !stop_; owed -= 1, ++sequence) {
      const std::string key = std::to_string(sequence);
      const auto partition = static_cast<int32_t>(sequence % partitions_);
      rd_kafka_resp_err_t err;
      while ((err = rd_kafka_producev(rk_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()),
                                      RD_KAFKA_V_PARTITION(partition),
                                      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
                 RD_KAFKA_RESP_ERR__QUEUE_FULL &&
             !stop_) {
        rd_kafka_poll(rk_.get(), 10);
      }
      if (err) failed_.fetch_add(1);
    }
    rd_kafka_poll(rk_.get(), 0);  // delivery reports
  }
}

}  // namespace groupscaler::demo
