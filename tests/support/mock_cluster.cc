#include "support/mock_cluster.h"

#include <chrono>
#include <thread>

namespace groupscaler::testing {
namespace {

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

Status FromErr(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return InternalError(what + ": " + rd_kafka_err2str(err));
}

}  // namespace

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
