// example_consumer: a Kafka consumer service done right, small enough to copy.
//
//   example_consumer --bootstrap-servers HOST:PORT,... --group GROUP --topic T [--topic T2]
//                    [--auth-file F] [--threads N] [--process-ms MS] [--session-timeout-ms MS]
//                    [--commit-every N] [--offset-reset earliest|latest] [--print-messages]
//                    [--debug CONTEXTS]
//
// --auth-file is groupscaler's (`groupscaler lag --auth-file`, src/kafka/auth.h): SASL and TLS
// settings as key=value lines, so that one file serves the service and its autoscaler.
//
// The group rules it embodies:
//  * Every replica (and every thread) uses the same --group. Kafka divides the topics'
//    partitions among the members, moves them when a member joins or leaves, and keeps one
//    committed offset per (group, topic, partition). A group per replica would make every
//    replica read every message; a new group id is a deliberate replay, never a habit.
//  * The partition is the unit of parallelism. --threads N runs N members of the same group
//    in one process, each with its own rd_kafka_t, so Kafka gives each thread its own
//    partitions: never two threads on one partition. Members beyond the partition count idle.
//  * partition.assignment.strategy=cooperative-sticky: a rebalance moves only the partitions
//    that must move; the others keep being consumed through it.
//  * Process, then commit: enable.auto.commit=false, and the next offset to read (processed
//    offset + 1) is committed synchronously after each batch, so a crash re-delivers at most
//    the uncommitted batch (at-least-once) and never skips a message. Batch commits wait while
//    the group rebalances (a commit racing a JoinGroup can come back "illegal generation", and
//    librdkafka then drops the whole assignment); the revoke callback commits what moves.
//  * Commit on revoke: before a partition moves away, its processed offsets are committed and
//    only then released (rd_kafka_incremental_unassign), so the new owner resumes exactly there.
//    A lost assignment (session timed out) is not committed: another member already owns it.
//  * SIGTERM/SIGINT: stop polling, commit, and leave the group (rd_kafka_consumer_close), so
//    the partitions move at once instead of after the session timeout.
//
// Output (stdout, one line each, flushed):
//   started pid=PID group=GROUP threads=N
//   thread I: assigned T[0,1] now T[0,1,2,3]        (after each assignment change)
//   thread I: revoked T[2,3] now T[0,1]              ("lost" instead of "revoked" on loss)
//   processed TOPIC PARTITION OFFSET KEY             (with --print-messages)
//   thread I: closed
// Errors go to stderr. Exit status: 0 after a clean shutdown, 1 on a client error, 2 on bad
// flags.

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "kafka/auth.h"

namespace groupscaler::examples {
namespace {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct Options {
  std::string bootstrap_servers;
  std::string group;
  std::vector<std::string> topics;
  int threads = 1;
  int process_ms = 0;
  int session_timeout_ms = 6000;
  int commit_every = 100;
  std::string offset_reset = "earliest";
  bool print_messages = false;
  std::string debug;       // librdkafka debug contexts, e.g. "cgrp"
  kafka::AuthConfig auth;  // from --auth-file
};

using TopicPartition = std::pair<std::string, int32_t>;

// One line, written with a single call so that threads never interleave within a line.
void PrintLine(const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

// "t1[0,1] t2[3]", or "none".
std::string Describe(const std::set<TopicPartition>& parts) {
  if (parts.empty()) return "none";
  std::string out;
  std::string topic;
  for (const auto& [t, p] : parts) {
    if (out.empty() || t != topic) {
      if (!out.empty()) out += "] ";
      out += t + "[";
      topic = t;
    } else {
      out += ",";
    }
    out += std::to_string(p);
  }
  return out + "]";
}

std::set<TopicPartition> ToSet(const rd_kafka_topic_partition_list_t* list) {
  std::set<TopicPartition> out;
  for (int i = 0; i < list->cnt; ++i) out.emplace(list->elems[i].topic, list->elems[i].partition);
  return out;
}

// One member of the group: its own client, its own partitions. All state is touched only by
// the thread that runs it (librdkafka calls the rebalance callback from rd_kafka_consumer_poll
// and rd_kafka_consumer_close, on this thread).
class Member {
 public:
  Member(int index, const Options& options, const std::atomic<bool>& stop)
      : index_(index), options_(options), stop_(stop) {}

  // Consumes until `stop` is set, then commits and leaves the group. Returns the exit code.
  int Run() {
    if (!Start()) return 1;
    int pending = 0;  // processed and not yet committed
    while (!stop_.load()) {
      MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), 100));
      if (!msg) {
        if (pending > 0 && steady_) pending = CommitProcessed(nullptr) ? 0 : pending;
        continue;
      }
      if (msg->err) {
        // Informational for partition EOF; transient errors are retried by librdkafka.
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          std::fprintf(stderr, "thread %d: consume error: %s\n", index_,
                       rd_kafka_message_errstr(msg.get()));
        }
        continue;
      }
      Process(*msg);
      // Not while the group rebalances: such a commit can be answered "illegal generation",
      // which makes librdkafka drop the assignment; the revoke callback commits what moves.
      if (++pending >= options_.commit_every && steady_) {
        pending = CommitProcessed(nullptr) ? 0 : pending;
      }
    }
    CommitProcessed(nullptr);
    // Leaves the group; the rebalance callback runs once more to revoke (and commit) the rest.
    const rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
    if (err) std::fprintf(stderr, "thread %d: close: %s\n", index_, rd_kafka_err2str(err));
    PrintLine("thread " + std::to_string(index_) + ": closed");
    return err ? 1 : 0;
  }

 private:
  bool Set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) == RD_KAFKA_CONF_OK) {
      return true;
    }
    std::fprintf(stderr, "thread %d: %s: %s\n", index_, name, err);
    return false;
  }

  bool Start() {
    ConfPtr conf(rd_kafka_conf_new());
    const int heartbeat_ms = std::max(100, options_.session_timeout_ms / 10);
    const std::string client_id =
        "example-consumer-" + std::to_string(getpid()) + "-" + std::to_string(index_);
    if (!Set(conf.get(), "bootstrap.servers", options_.bootstrap_servers) ||
        // The same group id in every replica and thread: that is what divides the partitions.
        !Set(conf.get(), "group.id", options_.group) || !Set(conf.get(), "client.id", client_id) ||
        !Set(conf.get(), "partition.assignment.strategy", "cooperative-sticky") ||
        !Set(conf.get(), "enable.auto.commit", "false") ||
        !Set(conf.get(), "auto.offset.reset", options_.offset_reset) ||
        !Set(conf.get(), "session.timeout.ms", std::to_string(options_.session_timeout_ms)) ||
        !Set(conf.get(), "heartbeat.interval.ms", std::to_string(heartbeat_ms))) {
      return false;
    }
    for (const auto& [name, value] : options_.auth.properties) {
      if (!Set(conf.get(), name.c_str(), value)) return false;
    }
    if (!options_.debug.empty() && !Set(conf.get(), "debug", options_.debug)) return false;
    // The statistics say whether the group is steady; see Run.
    if (!Set(conf.get(), "statistics.interval.ms", "100")) return false;
    rd_kafka_conf_set_stats_cb(conf.get(), &Member::StatsThunk);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &Member::RebalanceThunk);
    rd_kafka_conf_set_opaque(conf.get(), this);
    char err[512];
    rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
    if (!rk_) {
      std::fprintf(stderr, "thread %d: rd_kafka_new: %s\n", index_, err);
      return false;
    }
    conf.release();  // rd_kafka_new took ownership
    rd_kafka_poll_set_consumer(rk_.get());
    ListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
    for (const std::string& t : options_.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    if (const rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_.get(), topics.get())) {
      std::fprintf(stderr, "thread %d: subscribe: %s\n", index_, rd_kafka_err2str(e));
      return false;
    }
    return true;
  }

  void Process(const rd_kafka_message_t& msg) {
    // Stands in for the real work: a database write, a call downstream.
    if (options_.process_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.process_ms));
    }
    const std::string topic = rd_kafka_topic_name(msg.rkt);
    if (options_.print_messages) {
      const std::string key =
          msg.key ? std::string(static_cast<const char*>(msg.key), msg.key_len) : "-";
      PrintLine("processed " + topic + " " + std::to_string(msg.partition) + " " +
                std::to_string(msg.offset) + " " + key);
    }
    processed_[{topic, msg.partition}] = msg.offset + 1;  // the next offset to read
  }

  // Commits the processed offsets of `only` (all owned partitions when null), synchronously,
  // and forgets them once committed.
  bool CommitProcessed(const std::set<TopicPartition>* only) {
    ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(processed_.size())));
    for (const auto& [tp, next] : processed_) {
      if (only != nullptr && !only->contains(tp)) continue;
      rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = next;
    }
    if (list->cnt == 0) return true;
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), /*async=*/0);
    if (err) {
      // Kept for the next attempt (the next batch, the revoke or the close).
      std::fprintf(stderr, "thread %d: commit: %s\n", index_, rd_kafka_err2str(err));
      return false;
    }
    for (int i = 0; i < list->cnt; ++i) {
      auto it = processed_.find({list->elems[i].topic, list->elems[i].partition});
      if (it != processed_.end() && it->second == list->elems[i].offset) processed_.erase(it);
    }
    return true;
  }

  static int StatsThunk(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
    // Only the group's join state is needed: a substring, not a JSON parser. librdkafka
    // writes it as `"join_state": "steady"`; the value is the next quoted string.
    const std::string_view stats(json, json_len);
    constexpr std::string_view kJoinState = "\"join_state\"";
    const size_t key = stats.find(kJoinState);
    const size_t open = key == std::string_view::npos ? std::string_view::npos
                                                      : stats.find('"', key + kJoinState.size());
    if (open != std::string_view::npos) {
      static_cast<Member*>(opaque)->steady_ = stats.substr(open + 1).starts_with("steady\"");
    }
    return 0;  // librdkafka frees json
  }

  static void RebalanceThunk(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Member*>(opaque)->Rebalance(rk, err, parts);
  }

  void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    const bool cooperative = std::string(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    const std::set<TopicPartition> changed = ToSet(parts);
    std::string verb;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      verb = "assigned";
      rd_kafka_error_t* e = nullptr;
      if (cooperative) {
        e = rd_kafka_incremental_assign(rk, parts);
      } else if (const rd_kafka_resp_err_t r = rd_kafka_assign(rk, parts)) {
        std::fprintf(stderr, "thread %d: assign: %s\n", index_, rd_kafka_err2str(r));
      }
      if (e != nullptr) {
        std::fprintf(stderr, "thread %d: assign: %s\n", index_, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
      owned_.insert(changed.begin(), changed.end());
    } else {
      if (rd_kafka_assignment_lost(rk)) {
        // Another member already owns them; a commit would be rejected or, worse, rewind it.
        verb = "lost";
      } else {
        verb = "revoked";
        CommitProcessed(&changed);
      }
      for (const TopicPartition& tp : changed) {
        processed_.erase(tp);
        owned_.erase(tp);
      }
      rd_kafka_error_t* e = nullptr;
      if (cooperative) {
        e = rd_kafka_incremental_unassign(rk, parts);
      } else {
        rd_kafka_assign(rk, nullptr);
        owned_.clear();
      }
      if (e != nullptr) {
        std::fprintf(stderr, "thread %d: unassign: %s\n", index_, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    }
    PrintLine("thread " + std::to_string(index_) + ": " + verb + " " + Describe(changed) + " now " +
              Describe(owned_));
  }

  const int index_;
  const Options& options_;
  const std::atomic<bool>& stop_;
  KafkaPtr rk_;
  std::set<TopicPartition> owned_;
  std::map<TopicPartition, int64_t> processed_;  // next offset to commit, per owned partition
  std::atomic<bool> steady_{false};  // the group's join state, per the latest statistics
};

StatusOr<kafka::AuthConfig> ReadAuth(const std::string& path) {
  StatusOr<kafka::AuthSettings> settings = kafka::ReadAuthFile(path);
  if (!settings.ok()) return settings.status();
  StatusOr<kafka::AuthConfig> auth = kafka::BuildAuthConfig(*settings);
  if (!auth.ok()) return InvalidArgumentError(path + ": " + auth.status().message());
  if (auth->msk_iam || auth->oauth) {
    // Their tokens come from groupscaler's token refresh, not linked here.
    return InvalidArgumentError(path + ": sasl " + settings->at("sasl") +
                                " is not supported by this example");
  }
  return auth;
}

int Main(int argc, char** argv) {
  Options options;
  CLI::App app{"A Kafka consumer service done right: one group, process then commit."};
  app.add_option("--bootstrap-servers", options.bootstrap_servers, "host:port,...")->required();
  app.add_option("--group", options.group, "group.id, the same in every replica")->required();
  app.add_option("--topic", options.topics, "topic to consume (repeatable)")->required();
  app.add_option("--threads", options.threads, "consumers of the group in this process")
      ->check(CLI::Range(1, 1024));
  app.add_option("--process-ms", options.process_ms, "simulated processing cost per message")
      ->check(CLI::Range(0, 600000));
  app.add_option("--session-timeout-ms", options.session_timeout_ms, "session.timeout.ms")
      ->check(CLI::Range(1000, 3600000));
  app.add_option("--commit-every", options.commit_every, "commit after at most N messages")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--offset-reset", options.offset_reset,
                 "where a partition with no committed offset starts")
      ->check(CLI::IsMember({"earliest", "latest"}));
  app.add_flag("--print-messages", options.print_messages,
               "print 'processed TOPIC PARTITION OFFSET KEY' per message");
  app.add_option("--debug", options.debug, "librdkafka debug contexts (stderr), e.g. cgrp");
  std::string auth_file;
  app.add_option("--auth-file", auth_file,
                 "SASL/TLS settings, key=value lines (groupscaler's format: sasl, username, "
                 "password, tls, caFile, certFile, keyFile, ...)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "example_consumer: %s (see --help)\n", e.what());
    return 2;
  }
  if (!auth_file.empty()) {
    StatusOr<kafka::AuthConfig> auth = ReadAuth(auth_file);
    if (!auth.ok()) {
      std::fprintf(stderr, "example_consumer: %s\n", auth.status().message().c_str());
      return 2;
    }
    options.auth = std::move(auth).value();
  }

  // Block the stop signals in every thread (the members inherit the mask) and take them
  // synchronously below: no handler, no global state.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  PrintLine("started pid=" + std::to_string(getpid()) + " group=" + options.group +
            " threads=" + std::to_string(options.threads));
  std::atomic<bool> stop{false};
  std::atomic<int> running{options.threads};
  std::vector<int> results(static_cast<size_t>(options.threads), 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < options.threads; ++i) {
    threads.emplace_back([&, i] {
      Member member(i, options, stop);
      results[static_cast<size_t>(i)] = member.Run();
      running.fetch_sub(1);
    });
  }
  const timespec tick{0, 200'000'000};
  while (running.load() == options.threads) {
    // A member that failed to start ends the process too: half a service is not a service.
    if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) break;
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  for (int r : results) {
    if (r != 0) return r;
  }
  return 0;
}

}  // namespace
}  // namespace groupscaler::examples

int main(int argc, char** argv) { return groupscaler::examples::Main(argc, argv); }
