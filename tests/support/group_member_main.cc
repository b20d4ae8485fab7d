// kafka_group_member: one member of a consumer group, in its own process, as
// a real consumer service instance would be.
//
//   kafka_group_member BOOTSTRAP GROUP TOPIC PARTITION=OFFSET...
//
// Joins GROUP subscribed to TOPIC (eager "range" assignment, session timeout
// 6000 ms as the mock broker needs). Whenever partitions are assigned, it
// commits the given offsets for those of them listed, inside the rebalance
// callback (so the commit carries the current generation), then prints
// "assigned P,P,..." on stdout; "commit-retry ERR" when a rebalance overtook
// the commit (the next assignment commits again), "commit-failed ERR" for
// any other error. It leaves the group and exits 0 when stdin
// closes.

#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

namespace {

std::map<int32_t, int64_t> g_offsets;

void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
               void*) {
  if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(rk, nullptr);
    return;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_t* commit = rd_kafka_topic_partition_list_new(parts->cnt);
  std::string line = "assigned ";
  for (int i = 0; i < parts->cnt; ++i) {
    const int32_t p = parts->elems[i].partition;
    if (i > 0) line += ',';
    line += std::to_string(p);
    auto it = g_offsets.find(p);
    if (it != g_offsets.end()) {
      rd_kafka_topic_partition_list_add(commit, parts->elems[i].topic, p)->offset = it->second;
    }
  }
  if (commit->cnt > 0) {
    const rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, commit, /*async=*/0);
    if (cerr == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
        cerr == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        cerr == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) {
      // Another member joined while this one committed: a new assignment
      // (and so another commit) follows; until then this one is not owned.
      line = std::string("commit-retry ") + rd_kafka_err2name(cerr);
    } else if (cerr) {
      line = std::string("commit-failed ") + rd_kafka_err2name(cerr);
    }
  }
  rd_kafka_topic_partition_list_destroy(commit);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

bool Set(rd_kafka_conf_t* conf, const char* name, const char* value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK) return true;
  std::fprintf(stderr, "kafka_group_member: %s\n", err);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: kafka_group_member BOOTSTRAP GROUP TOPIC PARTITION=OFFSET...\n");
    return 2;
  }
  for (int i = 4; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) return 2;
    g_offsets[std::stoi(arg.substr(0, eq))] = std::stoll(arg.substr(eq + 1));
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!Set(conf, "bootstrap.servers", argv[1]) || !Set(conf, "group.id", argv[2]) ||
      !Set(conf, "session.timeout.ms", "6000") || !Set(conf, "heartbeat.interval.ms", "500") ||
      !Set(conf, "partition.assignment.strategy", "range") ||
      !Set(conf, "enable.auto.commit", "false") || !Set(conf, "log_level", "3")) {
    return 2;
  }
  rd_kafka_conf_set_rebalance_cb(conf, Rebalance);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) {
    std::fprintf(stderr, "kafka_group_member: %s\n", err);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, argv[3], RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  while (true) {
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50)) rd_kafka_message_destroy(m);
    pollfd pfd{0, POLLIN, 0};
    if (poll(&pfd, 1, 0) > 0) {
      char c;
      if (read(0, &c, 1) <= 0) break;  // stdin closed: leave
    }
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}
