// kafka_bench: one observation cycle of G consumer groups x P partitions on
// librdkafka's mock cluster (3 brokers, loopback TCP), or with --real on a
// real Apache Kafka 4.4.0 broker (one KRaft node of the test bed,
// tests/support/kafka_broker.h), done our way (one shared client, batched
// ListOffsets, one OffsetFetch per group) and KEDA's way (a client per group
// kept across cycles, each asking for its topic's metadata, its group's
// committed offsets and its partitions' latest offsets from every leader
// broker: see KedaScaler).
//
//   kafka_bench --groups G --partitions P [--cycles N] [--real]
//               [--mode ours|ours-nodescribe|keda|both|all]
//
// Each group consumes its own topic of P partitions, with one message in
// every partition and a committed offset of 1 on each: caught up, the steady
// state of a group keeping up (a group one offset behind would have the
// reader count the records after its commits, at most 64 gaps a cycle,
// until every gap is counted: kafka/record_gaps.h). Each mode runs in its
// own child process so that peak RSS is the mode's own (the mock cluster
// lives in the same process; its share is the "after set-up" figure; the
// real broker is a JVM of its own, set up once for both modes).

#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "kafka/mock_cluster.h"
#include "kafka/rdkafka_lag_reader.h"
#include "kafka/statistics.h"
#include "kafka_real/clients.h"
#include "support/kafka_broker.h"
#include "support/mock_cluster.h"

namespace groupscaler {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
  int groups = 100;
  int partitions = 64;
  int cycles = 5;
  int brokers = 3;
  std::string mode = "both";
  bool real = false;
};

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

long PeakRssKiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

std::string Topic(int g) { return "bench-topic-" + std::to_string(g); }
std::string Group(int g) { return "bench-group-" + std::to_string(g); }

std::vector<std::string> Split(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream in(csv);
  for (std::string s; std::getline(in, s, ',');) out.push_back(s);
  return out;
}

// Commits offset 1 (the end) on every partition of every group, through
// AlterConsumerGroupOffsets on one admin client (one client per group would
// dominate the set-up).
bool CommitAll(const std::string& bootstrap, const Options& o) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)), rd_kafka_destroy);
  if (!rk) return false;
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue(rd_kafka_queue_new(rk.get()),
                                                                       rd_kafka_queue_destroy);
  int outstanding = 0;
  for (int g = 0; g < o.groups; ++g) {
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(o.partitions);
    for (int p = 0; p < o.partitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, Topic(g).c_str(), p)->offset = 1;
    }
    rd_kafka_AlterConsumerGroupOffsets_t* alter =
        rd_kafka_AlterConsumerGroupOffsets_new(Group(g).c_str(), parts);
    rd_kafka_AlterConsumerGroupOffsets(rk.get(), &alter, 1, nullptr, queue.get());
    rd_kafka_AlterConsumerGroupOffsets_destroy(alter);
    rd_kafka_topic_partition_list_destroy(parts);
    ++outstanding;
  }
  bool ok = true;
  while (outstanding > 0) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 30'000);
    if (ev == nullptr) return false;
    ok = ok && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_event_destroy(ev);
    --outstanding;
  }
  return ok;
}

struct CycleFigures {
  double ms = 0;
  kafka::RequestCounts requests;
};

struct ModeResult {
  std::string mode;
  CycleFigures cold;
  std::vector<CycleFigures> steady;
  long rss_after_setup_kib = 0;
  long peak_rss_kib = 0;
  std::string note;
  // Group observations that failed, over every cycle, and the first error:
  // a real broker answers NOT_COORDINATOR now and then, past the reader's
  // retries (the controller holds that group for the cycle).
  int failed_groups = 0;
  std::string first_failure;
};

void PrintResult(const ModeResult& r, const Options& o) {
  std::printf("[%s] cold cycle: %.1f ms, requests %lld (%s)\n", r.mode.c_str(), r.cold.ms,
              static_cast<long long>(r.cold.requests.Total()), r.cold.requests.ToString().c_str());
  double sum = 0, max = 0;
  int64_t req_max = 0;
  for (const CycleFigures& c : r.steady) {
    sum += c.ms;
    max = std::max(max, c.ms);
    req_max = std::max(req_max, c.requests.Total());
  }
  const double mean = r.steady.empty() ? 0 : sum / static_cast<double>(r.steady.size());
  std::printf("[%s] steady cycles (%zu): mean %.1f ms, max %.1f ms\n", r.mode.c_str(),
              r.steady.size(), mean, max);
  if (!r.steady.empty()) {
    std::printf("[%s] steady requests per cycle: %lld (%s)%s\n", r.mode.c_str(),
                static_cast<long long>(r.steady.back().requests.Total()),
                r.steady.back().requests.ToString().c_str(), r.note.c_str());
  }
  if (r.mode.starts_with("ours")) {
    // A broker that describes groups is asked once per group more.
    const bool described =
        !r.steady.empty() && r.steady.back().requests.by_api.contains("DescribeGroups");
    const int64_t target = 1 + 2 * o.brokers + (described ? 2 : 1) * o.groups;
    std::printf("[%s] target: requests <= 1 + 2 x %d brokers + %s%d groups = %lld: %s (max %lld)\n",
                r.mode.c_str(), o.brokers, described ? "2 x " : "", o.groups,
                static_cast<long long>(target), req_max <= target ? "met" : "MISSED",
                static_cast<long long>(req_max));
    if (o.groups == 100 && o.partitions == 64) {
      std::printf("[%s] target: cycle under 200 ms: %s (max %.1f ms)\n", r.mode.c_str(),
                  max < 200 ? "met" : "MISSED", max);
    }
  }
  if (r.failed_groups > 0) {
    std::printf("[%s] failed group observations: %d in %zu cycles (first: %s)\n", r.mode.c_str(),
                r.failed_groups, r.steady.size() + 1, r.first_failure.c_str());
  }
  std::printf("[%s] RSS after set-up %.1f MiB, peak %.1f MiB (cycles added %.1f MiB)\n",
              r.mode.c_str(), r.rss_after_setup_kib / 1024.0, r.peak_rss_kib / 1024.0,
              (r.peak_rss_kib - r.rss_after_setup_kib) / 1024.0);
  // Machine-readable line for the comparison.
  std::printf("RESULT %s %.3f %.3f %lld %ld %ld\n", r.mode.c_str(), r.cold.ms, mean,
              static_cast<long long>(r.steady.empty() ? 0 : r.steady.back().requests.Total()),
              r.rss_after_setup_kib, r.peak_rss_kib);
  std::fflush(stdout);
}

kafka::ClusterConfig Config(const std::string& bootstrap) {
  return {.bootstrap_servers = Split(bootstrap), .auth = {}};
}

std::vector<kafka::GroupQuery> Queries(const Options& o) {
  std::vector<kafka::GroupQuery> q;
  for (int g = 0; g < o.groups; ++g) q.push_back({Group(g), {Topic(g)}});
  return q;
}

// Our way: one shared reader, reused across cycles; asking for the groups'
// members where the brokers describe groups, as the controller does, unless
// `describe` is false ("ours-nodescribe": the observation KEDA makes).
ModeResult RunOurs(const std::string& bootstrap, const Options& o, bool describe) {
  ModeResult r;
  r.mode = describe ? "ours" : "ours-nodescribe";
  r.rss_after_setup_kib = PeakRssKiB();
  kafka::ReaderOptions options;
  options.statistics_interval = milliseconds(20);
  options.describe_groups = describe;
  auto reader = kafka::NewRdKafkaLagReader(Config(bootstrap), options);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    std::exit(1);
  }
  const auto queries = Queries(o);
  kafka::RequestCounts before;  // a fresh client has sent nothing
  for (int cycle = 0; cycle <= o.cycles; ++cycle) {
    const auto start = SteadyClock::now();
    auto result = (*reader)->Observe(queries, milliseconds(60'000));
    const double ms = Ms(SteadyClock::now() - start);
    if (!result.ok()) {
      std::fprintf(stderr, "cycle failed: %s\n", result.status().ToString().c_str());
      std::exit(1);
    }
    for (const auto& g : *result) {
      if (g.observation.failed || g.observation.partitions.size() != size_t(o.partitions)) {
        if (r.failed_groups++ == 0) r.first_failure = g.group_id + ": " + g.observation.error;
      }
    }
    auto after = (*reader)->RequestCountsSnapshot(milliseconds(5'000));
    if (!after.ok()) std::exit(1);
    CycleFigures f{ms, after->Since(before)};
    before = *after;
    if (cycle == 0) {
      r.cold = f;
    } else {
      r.steady.push_back(f);
    }
  }
  r.peak_rss_kib = PeakRssKiB();
  return r;
}

// KEDA's Kafka scaler for one ScaledObject, as kedacore/keda's
// pkg/scalers/kafka_scaler.go does it with sarama: one client per scaler,
// kept across polls; per poll a Metadata request for the topic
// (getTopicPartitions: DescribeTopics), the group's committed offsets
// (getConsumerOffsets: ListConsumerGroupOffsets, an OffsetFetch to the
// coordinator the client has cached) and the latest offsets with one
// ListOffsets per leader broker, every partition it leads in one request
// (getProducerOffsets). Here on librdkafka, whose client is heavier than
// sarama's (a thread per broker): the RSS figure is this emulation's, not
// KEDA's.
class KedaScaler {
 public:
  // `count_requests`: report statistics every 10 ms, for Requests().
  static std::unique_ptr<KedaScaler> Create(const std::string& bootstrap, int g, const Options& o,
                                            bool count_requests) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    auto scaler = std::unique_ptr<KedaScaler>(new KedaScaler(g, o.partitions));
    if (count_requests) {
      rd_kafka_conf_set(conf, "statistics.interval.ms", "10", err, sizeof(err));
      rd_kafka_conf_set_opaque(conf, &scaler->stats_);
      rd_kafka_conf_set_stats_cb(conf, [](rd_kafka_t*, char* json, size_t len, void* opaque) {
        auto* stats = static_cast<Stats*>(opaque);
        stats->json.assign(json, len);
        ++stats->reports;
        return 0;
      });
    }
    scaler->rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)));
    if (!scaler->rk_) return nullptr;
    scaler->rkt_.reset(rd_kafka_topic_new(scaler->rk_.get(), scaler->topic_.c_str(), nullptr));
    scaler->queue_.reset(rd_kafka_queue_new(scaler->rk_.get()));
    return scaler;
  }

  // One poll: what GetMetrics asks Kafka for.
  bool Poll() { return DescribeTopic() && FetchCommitted() && FetchLatest(); }

  // Requests sent since the client started, from a statistics report made
  // after this call began.
  StatusOr<kafka::RequestCounts> Requests() {
    const int wanted = stats_.reports + 2;
    while (stats_.reports < wanted) rd_kafka_poll(rk_.get(), 5);
    return kafka::ParseRequestCounts(stats_.json);
  }

 private:
  struct Stats {
    int reports = 0;
    std::string json;
  };
  KedaScaler(int g, int partitions) : topic_(Topic(g)), group_(Group(g)), partitions_(partitions) {}

  rd_kafka_topic_partition_list_t* AllPartitions(int64_t offset) const {
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions_);
    for (int p = 0; p < partitions_; ++p) {
      rd_kafka_topic_partition_list_add(parts, topic_.c_str(), p)->offset = offset;
    }
    return parts;
  }

  bool DescribeTopic() {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk_.get(), 0, rkt_.get(), &md, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    rd_kafka_metadata_destroy(md);
    return true;
  }

  bool FetchCommitted() {
    rd_kafka_topic_partition_list_t* parts = AllPartitions(RD_KAFKA_OFFSET_INVALID);
    rd_kafka_ListConsumerGroupOffsets_t* req =
        rd_kafka_ListConsumerGroupOffsets_new(group_.c_str(), parts);
    rd_kafka_ListConsumerGroupOffsets(rk_.get(), &req, 1, nullptr, queue_.get());
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue_.get(), 10'000);
    if (ev == nullptr) return false;
    const bool ok = rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_event_destroy(ev);
    return ok;
  }

  // rd_kafka_offsets_for_times sends one ListOffsets per leader broker with
  // all the partitions it leads, as getProducerOffsets does.
  bool FetchLatest() {
    rd_kafka_topic_partition_list_t* parts = AllPartitions(RD_KAFKA_OFFSET_END);
    const rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk_.get(), parts, 10'000);
    rd_kafka_topic_partition_list_destroy(parts);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  const std::string topic_;
  const std::string group_;
  const int partitions_;
  Stats stats_;
  // Destroyed in reverse: the queue and topic before the client.
  kafka::RdKafkaPtr rk_;
  std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> rkt_{nullptr,
                                                                      rd_kafka_topic_destroy};
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue_{nullptr,
                                                                        rd_kafka_queue_destroy};
};

// Requests of a poll by every scaler, counted on the first `sample` (every
// scaler is the same shape) and scaled to all of them.
struct RequestSample {
  int sample = 0;
  kafka::RequestCounts before;

  void Start(std::vector<std::unique_ptr<KedaScaler>>& scalers) { before = Sum(scalers); }
  kafka::RequestCounts Finish(std::vector<std::unique_ptr<KedaScaler>>& scalers, int groups) const {
    const kafka::RequestCounts delta = Sum(scalers).Since(before);
    kafka::RequestCounts scaled;
    for (const auto& [api, n] : delta.by_api) scaled.by_api[api] = n * groups / sample;
    return scaled;
  }
  kafka::RequestCounts Sum(std::vector<std::unique_ptr<KedaScaler>>& scalers) const {
    kafka::RequestCounts sum;
    for (int g = 0; g < sample; ++g) {
      StatusOr<kafka::RequestCounts> counts = scalers[g]->Requests();
      if (!counts.ok()) std::exit(1);
      for (const auto& [api, n] : counts->by_api) sum.by_api[api] += n;
    }
    return sum;
  }
};

// Every scaler polls once. KEDA polls each ScaledObject in its own goroutine
// on its own timer; here kKedaPollThreads at a time, all starting together.
constexpr int kKedaPollThreads = 32;

void PollAll(std::vector<std::unique_ptr<KedaScaler>>& scalers) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kKedaPollThreads; ++t) {
    threads.emplace_back([&] {
      for (size_t g = next++; g < scalers.size(); g = next++) {
        if (!scalers[g]->Poll()) {
          std::fprintf(stderr, "keda group %zu failed\n", g);
          std::exit(1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

ModeResult RunKeda(const std::string& bootstrap, const Options& o) {
  ModeResult r;
  r.mode = "keda";
  RequestSample requests{.sample = std::min(o.groups, 10)};
  std::vector<std::unique_ptr<KedaScaler>> scalers;
  for (int g = 0; g < o.groups; ++g) {
    scalers.push_back(KedaScaler::Create(bootstrap, g, o, g < requests.sample));
    if (!scalers.back()) std::exit(1);
  }
  r.rss_after_setup_kib = PeakRssKiB();
  if (requests.sample < o.groups) {
    r.note = " [counted on " + std::to_string(requests.sample) + " groups, scaled to " +
             std::to_string(o.groups) + "]";
  }
  for (int cycle = 0; cycle <= o.cycles; ++cycle) {
    requests.Start(scalers);
    const auto start = SteadyClock::now();
    PollAll(scalers);
    CycleFigures f{Ms(SteadyClock::now() - start), requests.Finish(scalers, o.groups)};
    if (cycle == 0) {
      r.cold = f;
    } else {
      r.steady.push_back(f);
    }
  }
  r.peak_rss_kib = PeakRssKiB();
  return r;
}

// One message in every partition, from kProducers clients at once:
// librdkafka 2.0.2 sends one ProduceRequest per partition, and each client
// must deliver its share within ProduceCounts' 20 s flush.
Status ProduceOneEach(const std::string& bootstrap, const Options& o) {
  constexpr int kProducers = 16;
  std::vector<std::future<Status>> pending;
  for (int first = 0; first < kProducers; ++first) {
    pending.push_back(std::async(std::launch::async, [&, first] {
      std::map<std::string, std::vector<int64_t>> counts;
      for (int g = first; g < o.groups; g += kProducers) {
        counts[Topic(g)] = std::vector<int64_t>(o.partitions, 1);
      }
      return counts.empty() ? Status::Ok() : testing::ProduceCounts(bootstrap, counts);
    }));
  }
  Status result;
  for (std::future<Status>& p : pending) {
    if (Status s = p.get(); !s.ok()) result = s;
  }
  return result;
}

// One message in every partition, and a commit of offset 1 on each.
bool ProduceAndCommit(const std::string& bootstrap, const std::string& mode, const Options& o) {
  const auto start = SteadyClock::now();
  if (Status produced = ProduceOneEach(bootstrap, o); !produced.ok()) {
    std::fprintf(stderr, "producing failed: %s\n", produced.ToString().c_str());
    return false;
  }
  const double produce_ms = Ms(SteadyClock::now() - start);
  if (!CommitAll(bootstrap, o)) {
    std::fprintf(stderr, "committing failed\n");
    return false;
  }
  std::fprintf(stderr, "[%s] set-up: produce %.0f ms, commit %.0f ms\n", mode.c_str(), produce_ms,
               Ms(SteadyClock::now() - start) - produce_ms);
  return true;
}

int RunOn(const std::string& bootstrap, const std::string& mode, const Options& o) {
  const ModeResult r =
      mode == "keda" ? RunKeda(bootstrap, o) : RunOurs(bootstrap, o, mode == "ours");
  PrintResult(r, o);
  return 0;
}

// Each mode in a child process of its own, one after the other.
int ForEachMode(const Options& o, const std::function<int(const std::string&)>& run) {
  std::vector<std::string> modes = {o.mode};
  if (o.mode == "both") modes = {"ours", "keda"};
  if (o.mode == "all") modes = {"ours", "ours-nodescribe", "keda"};
  if (modes.size() == 1) return run(o.mode);
  for (const std::string& mode : modes) {
    const pid_t pid = fork();
    if (pid == 0) std::_Exit(run(mode));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  return 0;
}

// Until every partition of every group's topic answers ListOffsets: a real
// broker lists a new partition's leader in its metadata some time before it
// has made the partition's log (about 25 ms each on this loaded machine),
// and refuses it until then.
Status WaitUntilServed(const std::string& bootstrap, const Options& o) {
  auto reader = kafka::NewRdKafkaLagReader(Config(bootstrap), {.describe_groups = false});
  if (!reader.ok()) return reader.status();
  const auto deadline = SteadyClock::now() + std::chrono::minutes(10);
  while (SteadyClock::now() < deadline) {
    auto observed = (*reader)->Observe(Queries(o), milliseconds(30'000));
    if (observed.ok() && std::all_of(observed->begin(), observed->end(), [&](const auto& g) {
          const auto& parts = g.observation.partitions;
          return !g.observation.failed && parts.size() == static_cast<size_t>(o.partitions) &&
                 std::none_of(parts.begin(), parts.end(), [](const auto& p) { return p.failed; });
        })) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  return DeadlineExceededError("partitions not served within 10 minutes");
}

// Topics, messages and commits on the real broker, timed on stderr.
bool SetUpReal(const testing::KafkaCluster& cluster, const Options& o) {
  const std::string bootstrap = cluster.bootstrap(testing::KafkaListener::kPlaintext);
  auto start = SteadyClock::now();
  std::vector<std::string> topics;
  for (int g = 0; g < o.groups; ++g) topics.push_back(Topic(g));
  if (Status created = cluster.CreateTopics(topics, o.partitions, 1); !created.ok()) {
    std::fprintf(stderr, "%s\n", created.ToString().c_str());
    return false;
  }
  std::fprintf(stderr, "[real] set-up: create topics %.0f ms\n", Ms(SteadyClock::now() - start));
  start = SteadyClock::now();
  if (Status served = WaitUntilServed(bootstrap, o); !served.ok()) {
    std::fprintf(stderr, "%s\n", served.ToString().c_str());
    return false;
  }
  std::fprintf(stderr, "[real] set-up: every partition served after %.0f ms more\n",
               Ms(SteadyClock::now() - start));
  return ProduceAndCommit(bootstrap, "real", o);
}

// Every mode on one real broker in `dir`, set up once.
int RunRealIn(const std::filesystem::path& dir, const Options& o) {
  const auto start = SteadyClock::now();
  auto cluster = testing::KafkaCluster::Start(dir, {.brokers = 1, .listeners = {}, .heap = "2g"});
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "[real] set-up: broker started in %.0f ms\n",
               Ms(SteadyClock::now() - start));
  if (!SetUpReal(**cluster, o)) return 1;
  const std::string bootstrap = (*cluster)->bootstrap(testing::KafkaListener::kPlaintext);
  const int result =
      ForEachMode(o, [&](const std::string& mode) { return RunOn(bootstrap, mode, o); });
  std::printf("[real] broker RSS after the modes: %ld MiB\n", testing::RssMib((*cluster)->pid(0)));
  return result;
}

int RunReal(const Options& o) {
  spdlog::set_level(spdlog::level::off);
  // On tmpfs: the broker fsyncs a few files for every partition it makes,
  // and the benchmark is of the observation, not of the disk.
  const std::filesystem::path dir = "/dev/shm/kafka_bench_" + std::to_string(getpid());
  const int result = RunRealIn(dir, o);
  std::filesystem::remove_all(dir);
  return result;
}

// One mode on a mock cluster of its own, in this process.
int RunMock(const std::string& mode, const Options& o) {
  spdlog::set_level(spdlog::level::off);
  auto cluster = testing::MockCluster::Start(o.brokers);
  if (!cluster.ok()) return 1;
  const auto create_start = SteadyClock::now();
  // The mock answers topic creation at its I/O thread's pace (hundreds of
  // ms each): create from many threads at once.
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> creators;
  for (int t = 0; t < 64; ++t) {
    creators.emplace_back([&] {
      for (int g = next++; g < o.groups; g = next++) {
        if (!(*cluster)->CreateTopic(Topic(g), o.partitions).ok()) ++failed;
      }
    });
  }
  for (std::thread& t : creators) t.join();
  if (failed > 0) return 1;
  std::fprintf(stderr, "[%s] set-up: create topics %.0f ms\n", mode.c_str(),
               Ms(SteadyClock::now() - create_start));
  if (!ProduceAndCommit((*cluster)->bootstrap_servers(), mode, o)) return 1;
  return RunOn((*cluster)->bootstrap_servers(), mode, o);
}

}  // namespace

}  // namespace groupscaler

int main(int argc, char** argv) {
  groupscaler::Options o;
  CLI::App app{
      "Observes G groups x P partitions on librdkafka's mock cluster (or a real broker), our way "
      "and KEDA's."};
  app.add_option("--groups", o.groups, "consumer groups")->required()->check(CLI::PositiveNumber);
  app.add_option("--partitions", o.partitions, "partitions per group's topic")
      ->required()
      ->check(CLI::PositiveNumber);
  app.add_option("--cycles", o.cycles, "steady cycles after the cold one")
      ->check(CLI::PositiveNumber);
  app.add_option("--mode", o.mode,
                 "ours, ours-nodescribe (without DescribeGroups; the same as ours where the "
                 "brokers do not describe groups, as the mock), keda, both (ours and keda) or "
                 "all")
      ->check(CLI::IsMember({"ours", "ours-nodescribe", "keda", "both", "all"}));
  app.add_flag("--real", o.real,
               "On a real Apache Kafka 4.4.0 broker (1 KRaft node from .tools/kafka, "
               "scripts/setup-kafka) instead of the mock cluster");
  CLI11_PARSE(app, argc, argv);
  if (o.real) o.brokers = 1;
  std::printf("== %d groups x %d partitions, %d %s, 1 cold + %d steady cycles ==\n", o.groups,
              o.partitions, o.brokers, o.real ? "real Kafka 4.4.0 broker" : "mock brokers",
              o.cycles);
  std::fflush(stdout);
  if (o.real) return groupscaler::RunReal(o);
  return groupscaler::ForEachMode(
      o, [&](const std::string& mode) { return groupscaler::RunMock(mode, o); });
}
