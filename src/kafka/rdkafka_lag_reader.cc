#include "kafka/rdkafka_lag_reader.h"

#include <fmt/ranges.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <future>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "kafka/api_versions_probe.h"
#include "kafka/oauth_token_refresh.h"
#include "kafka/rdkafka_ptr.h"
#include "kafka/record_gaps.h"
#include "kafka/statistics.h"

namespace groupscaler::kafka {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What librdkafka's callbacks reach through the handle's opaque. Shared, so
// that a handle abandoned to a background destroy (see ParkHandle) never
// outlives it.
struct HandleContext {
  std::string name;  // for log lines: "kafka 127.0.0.1:9092,..."
  std::vector<std::string> secrets;
  std::mutex mu;
  RequestCounts counts;  // guarded by mu
  int64_t reports = 0;   // statistics reports received; guarded by mu
  // The last authentication or TLS failure librdkafka reported, redacted
  // ("sasl_ssl://HOST:PORT/bootstrap: SASL authentication error: ...");
  // cleared by a request that succeeds. Guarded by mu.
  std::string refused;
  // sasl=aws_msk_iam or oauthbearer: the token source of the refresh
  // callback, shared by the reader's handles.
  std::shared_ptr<OAuthTokenSource> token_source;
};

// Why a broker refused the client, if it did since the last success.
std::string Refused(HandleContext& ctx) {
  std::lock_guard lock(ctx.mu);
  return ctx.refused;
}

void ClearRefused(HandleContext& ctx) {
  std::lock_guard lock(ctx.mu);
  ctx.refused.clear();
}

// Logs what librdkafka reports as an error (as it would itself without this
// callback) and keeps a broker's refusal for MetadataFailure.
void ErrorCallback(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* ctx = static_cast<HandleContext*>(opaque);
  std::string line = Redact(reason, ctx->secrets);
  spdlog::error("{}: librdkafka ERROR: {}", ctx->name, line);
  if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL ||
      err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) {
    std::lock_guard lock(ctx->mu);
    ctx->refused = std::move(line);
  }
}

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  auto* ctx = static_cast<HandleContext*>(rd_kafka_opaque(rk));
  // librdkafka's own lines can quote configuration and broker messages:
  // redact before anything leaves the process.
  const std::string line = Redact(text, ctx != nullptr ? ctx->secrets : std::vector<std::string>{});
  const std::string_view name = ctx != nullptr ? std::string_view(ctx->name) : "kafka";
  spdlog::level::level_enum lvl = level <= 3   ? spdlog::level::err
                                  : level == 4 ? spdlog::level::warn
                                  : level <= 6 ? spdlog::level::info
                                               : spdlog::level::debug;
  spdlog::log(lvl, "{}: librdkafka {}: {}", name, facility, line);
}

int StatsCallback(rd_kafka_t*, char* json, size_t len, void* opaque) {
  auto* ctx = static_cast<HandleContext*>(opaque);
  StatusOr<RequestCounts> counts = ParseRequestCounts(std::string_view(json, len));
  std::lock_guard lock(ctx->mu);
  if (counts.ok()) ctx->counts = std::move(counts).value();
  ++ctx->reports;
  return 0;  // librdkafka frees json
}

StatusOr<RdKafkaPtr> NewHandle(const std::vector<std::pair<std::string, std::string>>& properties,
                               HandleContext* ctx) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      // librdkafka's message quotes the property, not its value.
      return InvalidArgumentError("librdkafka property " + name + ": " + Redact(err, ctx->secrets));
    }
  }
  rd_kafka_conf_set_opaque(conf.get(), ctx);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  rd_kafka_conf_set_stats_cb(conf.get(), StatsCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  if (ctx->token_source) InstallTokenRefresh<HandleContext>(conf.get());
  // A consumer handle that never subscribes, so never joins a group; its
  // metadata requests never ask the broker to auto-create a topic (a
  // producer's would).
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err));
  if (rk == nullptr) {
    return InvalidArgumentError("kafka client: " + Redact(err, ctx->secrets));
  }
  conf.release();  // owned by rk now
  RdKafkaPtr handle(rk);
  if (ctx->token_source) {
    if (Status s = StartTokenRefresh(rk); !s.ok()) return s;
  }
  return handle;
}

int RemainingMs(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
}

// Errors worth another attempt within the same cycle.
bool Retriable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
      return true;
    default:
      return false;
  }
}

StatusCode CodeFor(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
      return StatusCode::kUnimplemented;
    default:
      return StatusCode::kUnavailable;
  }
}

std::string ErrText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + " (" + rd_kafka_err2str(err) + ")";
}

using TopicPartition = policy::TopicPartition;

struct OffsetResult {
  int64_t offset = -1;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

struct CommittedResult {
  Status status;                                      // the group's
  std::map<TopicPartition, OffsetResult> partitions;  // offset < 0: no commit
};

// What DescribeConsumerGroups said of one group.
struct Described {
  std::string state;                           // empty when unknown
  std::optional<std::vector<Member>> members;  // unknown: see unknown_reason
  std::string unknown_reason;
};

// Every group of a cycle's DescribeConsumerGroups; `missing` says why a
// group without an entry is not described.
struct DescribeResult {
  std::map<std::string, Described> groups;
  std::string missing;
};

constexpr char kDescribeUnsupported[] = "the broker does not describe groups";

constexpr int kMaxAttempts = 3;
constexpr milliseconds kRetryBackoff{100};

// Whether a group's request that failed with `err` at its `attempts`-th
// attempt is sent again after kRetryBackoff, time before `deadline`
// allowing: a retriable error up to kMaxAttempts, and a coordinator still
// loading the group's offsets (as one is for a while after its broker starts
// or takes the partition over) until the deadline.
bool MayRetry(rd_kafka_resp_err_t err, int attempts, SteadyClock::time_point deadline) {
  return Retriable(err) &&
         (attempts < kMaxAttempts || err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS) &&
         RemainingMs(deadline) > 2 * kRetryBackoff.count();
}
// Each partition assigned to the fetch handle buffers a fetch of its own
// (6,400 at once took 2.9 GiB on the mock cluster): more gaps than this are
// counted over the next cycles, their offsets counting until then.
constexpr size_t kMaxGapsFetchedPerCycle = 64;

// librdkafka 2.0.2 frees the state of an Admin request bound for a group
// coordinator when the request times out while it still waits for the
// coordinator, and touches it again once the coordinator answers: the
// process aborts (rd_kafka_enq_once_del_source_return: `eonce->refcnt > 0')
// when a broker goes down and comes back (confluentinc/librdkafka#4605; the
// fix is librdkafka PR #5397). So these requests never time out inside
// librdkafka (the longest timeout it allows); a cycle stops waiting at its
// own deadline, and what is still unanswered is not asked again until it
// answers, so that an outage piles nothing up.
constexpr int kCoordinatorRequestTimeoutMs = 3'600'000;

// ---------------------------------------------------------------------------

class RdKafkaLagReader final : public LagReader {
 public:
  RdKafkaLagReader(ClusterConfig cluster, ReaderOptions options, AuthConfig auth)
      : cluster_(std::move(cluster)), options_(std::move(options)), auth_(std::move(auth)) {
    servers_ = fmt::format("{}", fmt::join(cluster_.bootstrap_servers, ","));
    if (options_.clock == nullptr) options_.clock = &real_clock_;
    for (const auto& [name, value] : auth_.properties) {
      if (name == "security.protocol") plaintext_ = value == "plaintext";
    }
  }

  ~RdKafkaLagReader() override {
    std::lock_guard lock(mu_);
    // Queues before their handles.
    describe_queue_.reset();
    offsets_queue_.reset();
    // Side by side: librdkafka 2.8.0 takes about a second to destroy a
    // handle (one whose ListConsumerGroups was refused, the fetch handle),
    // and a stopping controller destroys a reader per cluster.
    std::jthread describe([rk = std::move(describe_rk_)]() mutable { rk.reset(); });
    std::jthread fetch([rk = std::move(fetch_rk_)]() mutable { rk.reset(); });
    rk_.reset();
  }

  Status Init() {
    StatusOr<std::shared_ptr<OAuthTokenSource>> source = NewTokenSource(auth_);
    if (!source.ok()) return source.status();
    token_source_ = std::move(source).value();
    ctx_ = std::make_shared<HandleContext>();
    ctx_->name = "kafka " + servers_;
    ctx_->secrets = auth_.secrets;
    ctx_->token_source = token_source_;
    auto rk = NewHandle(Properties(), ctx_.get());
    if (!rk.ok()) return rk.status();
    rk_ = std::move(rk).value();
    return Status::Ok();
  }

  // librdkafka 2.0.2 keeps a group's coordinator cached after it answered
  // NOT_COORDINATOR: once all three real brokers restarted, OffsetFetch
  // went on answering NOT_COORDINATOR for over a minute, retries included.
  // A new handle looks the coordinator up afresh; requests counted so far
  // are kept.
  void RenewHandle() {
    auto ctx = std::make_shared<HandleContext>();
    ctx->name = ctx_->name;
    ctx->secrets = auth_.secrets;
    ctx->token_source = token_source_;
    auto rk = NewHandle(Properties(), ctx.get());
    if (!rk.ok()) return;  // keep the old one
    spdlog::info("{}: a group coordinator moved; renewing the client", ctx_->name);
    {
      std::lock_guard l(ctx_->mu);
      for (const auto& [api, n] : ctx_->counts.by_api) retired_counts_.by_api[api] += n;
    }
    // The old handle's requests in flight go with it; their queue first.
    offsets_queue_.reset();
    offset_fetches_.clear();
    // Destroyed outside handle_mu_, the handle before its context.
    const std::shared_ptr<HandleContext> old_ctx = ctx_;
    const std::shared_ptr<rd_kafka_t> old_rk = rk_;
    {
      std::lock_guard l(handle_mu_);
      rk_ = std::move(rk).value();
      ctx_ = std::move(ctx);
    }
    have_metadata_ = false;
    renew_handle_ = false;
  }

  std::pair<std::shared_ptr<HandleContext>, std::shared_ptr<rd_kafka_t>> Handle() {
    std::lock_guard l(handle_mu_);
    return {ctx_, rk_};
  }

  StatusOr<std::vector<GroupObservation>> Observe(const std::vector<GroupQuery>& groups,
                                                  milliseconds timeout) override {
    std::lock_guard lock(mu_);
    if (renew_handle_) RenewHandle();
    const auto deadline = SteadyClock::now() + timeout;
    std::set<std::string> wanted;
    for (const GroupQuery& g : groups) wanted.insert(g.topics.begin(), g.topics.end());

    Status md = RefreshMetadataIfDue(wanted, deadline);
    if (!md.ok() && !have_metadata_) {
      rd_kafka_poll(rk_.get(), 0);
      return md;
    }
    const std::vector<TopicPartition> tps = KnownPartitions(wanted);
    OffsetQueries queries = StartOffsetQueries(tps, deadline);
    GroupAnswers answers = AskGroups(groups, queries, deadline);
    StatusOr<Offsets> offsets = CollectOffsets(tps, queries, md, timeout);
    if (!offsets.ok()) {
      rd_kafka_poll(rk_.get(), 0);
      return offsets.status();
    }

    std::vector<GroupObservation> out;
    out.reserve(groups.size());
    for (size_t i = 0; i < groups.size(); ++i) {
      out.push_back(Assemble(groups[i], answers.committed[i], offsets->ends, offsets->starts,
                             answers.described));
    }
    ApplyRecordCounts(RecordCounts(out, deadline), &out);
    rd_kafka_poll(rk_.get(), 0);  // serve statistics
    return out;
  }

  StatusOr<std::vector<std::string>> CommittedTopics(const std::string& group,
                                                     milliseconds timeout) override {
    std::lock_guard lock(mu_);
    const auto deadline = SteadyClock::now() + timeout;
    StatusOr<CommittedResult> committed = AllCommitted(group, deadline);
    if (!committed.ok()) {
      return DeadlineExceededError("kafka " + servers_ + ": committed offsets of group " + group +
                                   ": no answer within " + std::to_string(timeout.count()) + "ms");
    }
    return TopicsOf(group, *committed);
  }

  // Every committed offset of `group`, asked again as MayRetry allows; an
  // error when no answer came before `deadline`.
  StatusOr<CommittedResult> AllCommitted(const std::string& group,
                                         SteadyClock::time_point deadline) {
    for (int attempt = 1;; ++attempt) {
      QueuePtr queue(rd_kafka_queue_new(rk_.get()));
      AskCommitted(group, nullptr, deadline, queue.get(), nullptr);
      EventPtr event(rd_kafka_queue_poll(queue.get(), RemainingMs(deadline)));
      if (!event) return DeadlineExceededError("no answer");
      CommittedResult result = ParseCommitted(event.get());
      if (result.status.ok() || !MayRetry(last_group_err_, attempt, deadline)) return result;
      options_.clock->SleepFor(kRetryBackoff);
    }
  }

  // The topics `committed` has an offset on, or why there are none.
  StatusOr<std::vector<std::string>> TopicsOf(const std::string& group,
                                              const CommittedResult& committed) const {
    if (!committed.status.ok()) return committed.status;
    std::set<std::string> topics;
    for (const auto& [tp, r] : committed.partitions) {
      if (r.offset >= 0) topics.insert(tp.topic);
    }
    if (topics.empty()) {
      return NotFoundError("kafka " + servers_ +
                           ": the broker lists no committed offsets for "
                           "group " +
                           group + "; name the topics (--topic)");
    }
    return std::vector<std::string>(topics.begin(), topics.end());
  }

  // Not under mu_: the handle is thread-safe, and a slow listing must not
  // hold up the cycles of the cluster's autoscalers.
  StatusOr<std::vector<std::string>> ListGroups(milliseconds timeout) override {
    if (list_unsupported_) return ListUnsupported();
    const auto deadline = SteadyClock::now() + timeout;
    // Copies, so that a cycle may renew the handle meanwhile (RenewHandle);
    // the context outlives the handle.
    const auto [ctx, rk] = Handle();
    QueuePtr queue(rd_kafka_queue_new(rk.get()));
    AdminOptionsPtr options =
        NewAdminOptions(rk.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, deadline);
    rd_kafka_ListConsumerGroups(rk.get(), options.get(), queue.get());
    EventPtr event(rd_kafka_queue_poll(queue.get(), RemainingMs(deadline)));
    if (!event) {
      return DeadlineExceededError("kafka " + servers_ + ": no answer to ListGroups within " +
                                   std::to_string(timeout.count()) + "ms");
    }
    if (const rd_kafka_resp_err_t err = rd_kafka_event_error(event.get())) {
      return Status(CodeFor(err), "kafka " + servers_ + ": ListGroups: " + ErrText(err));
    }
    const auto* res = rd_kafka_event_ListConsumerGroups_result(event.get());
    if (res == nullptr) return InternalError("unexpected answer to ListConsumerGroups");
    // One error per broker that did not answer. librdkafka learns from its
    // ApiVersions exchange that a broker lacks ListGroups and answers
    // "unsupported" locally, without a request: such a cluster can never
    // give a complete list, so it is not asked again.
    size_t error_count = 0;
    const rd_kafka_error_t** errors = rd_kafka_ListConsumerGroups_result_errors(res, &error_count);
    for (size_t i = 0; i < error_count; ++i) {
      if (CodeFor(rd_kafka_error_code(errors[i])) == StatusCode::kUnimplemented) {
        spdlog::info("{}: brokers do not list groups; groups named per instance are not detected",
                     ctx->name);
        list_unsupported_ = true;
        return ListUnsupported();
      }
    }
    if (error_count > 0) {
      const rd_kafka_error_t* first = errors[0];
      const StatusCode code = CodeFor(rd_kafka_error_code(first));
      return Status(code == StatusCode::kDeadlineExceeded ? code : StatusCode::kUnavailable,
                    "kafka " + servers_ + ": ListGroups: " + std::to_string(error_count) +
                        " broker(s) did not answer: " + rd_kafka_error_name(first) + " (" +
                        Redact(rd_kafka_error_string(first), auth_.secrets) + ")");
    }
    size_t count = 0;
    const rd_kafka_ConsumerGroupListing_t** listed =
        rd_kafka_ListConsumerGroups_result_valid(res, &count);
    std::set<std::string> ids;
    for (size_t i = 0; i < count; ++i)
      ids.insert(rd_kafka_ConsumerGroupListing_group_id(listed[i]));
    return std::vector<std::string>(ids.begin(), ids.end());
  }

  StatusOr<RequestCounts> RequestCountsSnapshot(milliseconds timeout) override {
    std::lock_guard lock(mu_);
    const auto deadline = SteadyClock::now() + timeout;
    auto reports = [&] {
      std::lock_guard l(ctx_->mu);
      return ctx_->reports;
    };
    // The first report served may have been generated before this call;
    // the second was generated after it began.
    const int64_t wanted = reports() + 2;
    while (reports() < wanted) {
      if (SteadyClock::now() >= deadline) {
        return DeadlineExceededError("kafka " + servers_ + ": no statistics report within " +
                                     std::to_string(timeout.count()) + "ms");
      }
      rd_kafka_poll(rk_.get(), 10);
      if (describe_rk_) rd_kafka_poll(describe_rk_.get(), 0);
      if (fetch_rk_) rd_kafka_poll(fetch_rk_.get(), 0);
    }
    RequestCounts total = retired_counts_;
    for (HandleContext* ctx : {ctx_.get(), describe_ctx_.get(), fetch_ctx_.get()}) {
      if (ctx == nullptr) continue;
      std::lock_guard l(ctx->mu);
      for (const auto& [api, n] : ctx->counts.by_api) total.by_api[api] += n;
    }
    return total;
  }

 private:
  struct TopicMeta {
    int32_t partitions = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::vector<int32_t> leaders;  // by partition; -1 when unknown
  };

  std::vector<std::pair<std::string, std::string>> Properties() const {
    std::vector<std::pair<std::string, std::string>> p = {
        {"bootstrap.servers", servers_},
        {"client.id", "groupscaler"},
        // Never joined (the handle never subscribes), but librdkafka 2.0.2
        // dereferences the handle's group when an OffsetFetch answers
        // NOT_COORDINATOR, and crashes without one (librdkafka#5040).
        {"group.id", "groupscaler-observer"},
        {"enable.auto.commit", "false"},
        // Log ends are last stable offsets: an open transaction's records
        // count once it commits, as a read_committed consumer sees them.
        {"isolation.level", "read_committed"},
        {"statistics.interval.ms", std::to_string(options_.statistics_interval.count())},
    };
    p.insert(p.end(), auth_.properties.begin(), auth_.properties.end());
    p.insert(p.end(), options_.extra_properties.begin(), options_.extra_properties.end());
    return p;
  }

  Status RefreshMetadataIfDue(const std::set<std::string>& wanted,
                              SteadyClock::time_point deadline) {
    const Timestamp now = options_.clock->Now();
    bool due = !have_metadata_ || now - metadata_at_ >= options_.metadata_max_age;
    if (!due && now - metadata_at_ >= options_.metadata_min_interval) {
      due = stale_ || std::any_of(wanted.begin(), wanted.end(), [&](const std::string& t) {
              auto it = topics_.find(t);
              return it == topics_.end() || it->second.err;
            });
    }
    if (!due) return Status::Ok();

    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      const rd_kafka_metadata_t* raw = nullptr;
      err = rd_kafka_metadata(rk_.get(), /*all_topics=*/1, nullptr, &raw,
                              std::max(1, RemainingMs(deadline)));
      MetadataPtr md(raw);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ClearRefused(*ctx_);
        std::map<std::string, TopicMeta> topics;
        bool topic_errors = false;
        for (int i = 0; i < md->topic_cnt; ++i) {
          const rd_kafka_metadata_topic_t& t = md->topics[i];
          TopicMeta meta{t.partition_cnt, t.err, std::vector<int32_t>(t.partition_cnt, -1)};
          for (int j = 0; j < t.partition_cnt; ++j) {
            const int32_t id = t.partitions[j].id;
            if (id >= 0 && id < t.partition_cnt) meta.leaders[id] = t.partitions[j].leader;
          }
          for (int j = 0; j < t.partition_cnt && !meta.err; ++j) {
            // A partition without a leader cannot answer ListOffsets now.
            if (t.partitions[j].err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
              meta.err = t.partitions[j].err;
            }
          }
          topic_errors = topic_errors || (wanted.count(t.topic) && meta.err);
          topics[t.topic] = meta;
        }
        const bool retry = topic_errors && attempt < kMaxAttempts &&
                           RemainingMs(deadline) > 2 * kRetryBackoff.count();
        if (retry) {
          options_.clock->SleepFor(kRetryBackoff);
          continue;
        }
        topics_ = std::move(topics);
        have_metadata_ = true;
        stale_ = topic_errors;
        metadata_at_ = now;
        return Status::Ok();
      }
      if (!Retriable(err) || RemainingMs(deadline) <= 2 * kRetryBackoff.count()) break;
      options_.clock->SleepFor(kRetryBackoff);
    }
    return MetadataFailure(err);
  }

  // "SASL_SSL, SCRAM-SHA-512": how the client meets the brokers, spelt as
  // the brokers' listeners name it (librdkafka takes it in lower case). A
  // failed OAUTHBEARER token names its own source (oauth_token_refresh.h).
  std::string Security() const {
    std::string protocol = "PLAINTEXT", mechanism;
    for (const auto& [name, value] : auth_.properties) {
      if (name == "security.protocol") protocol = value;
      if (name == "sasl.mechanism" || name == "sasl.mechanisms") mechanism = value;
    }
    std::transform(protocol.begin(), protocol.end(), protocol.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return mechanism.empty() ? protocol : protocol + ", " + mechanism;
  }

  // A metadata request that failed: a broker's refusal (authentication,
  // TLS), which says which broker and why, or else the request's error.
  Status MetadataFailure(rd_kafka_resp_err_t err) const {
    rd_kafka_poll(rk_.get(), 0);  // serves ErrorCallback the errors queued meanwhile
    if (const std::string refused = Refused(*ctx_); !refused.empty()) {
      return PermissionDeniedError("kafka " + servers_ + ": refused (" + Security() +
                                   "): " + refused);
    }
    return Status(CodeFor(err) == StatusCode::kDeadlineExceeded ? StatusCode::kDeadlineExceeded
                                                                : StatusCode::kUnavailable,
                  "kafka " + servers_ + ": metadata: " + ErrText(err));
  }

  // Log-end (`which` = RD_KAFKA_OFFSET_END) or log-start offsets of `tps`:
  // one rd_kafka_offsets_for_times per leader broker (as the metadata cache
  // knows them), all at once. Split by leader because librdkafka answers a
  // call only when every leader in it has: one broker down would otherwise
  // fail every partition.
  std::map<TopicPartition, OffsetResult> QueryOffsets(const std::vector<TopicPartition>& tps,
                                                      int64_t which,
                                                      SteadyClock::time_point deadline) {
    std::map<int32_t, std::vector<TopicPartition>> by_leader;
    for (const TopicPartition& tp : tps) {
      auto it = topics_.find(tp.topic);
      int32_t leader = -1;
      if (it != topics_.end() && tp.partition < static_cast<int32_t>(it->second.leaders.size())) {
        leader = it->second.leaders[tp.partition];
      }
      by_leader[leader].push_back(tp);
    }
    std::vector<std::future<std::map<TopicPartition, OffsetResult>>> futures;
    for (auto& [leader, batch] : by_leader) {
      futures.push_back(std::async(std::launch::async, [this, &batch = batch, which, deadline] {
        return QueryOffsetsBatch(batch, which, deadline);
      }));
    }
    std::map<TopicPartition, OffsetResult> out;
    for (auto& f : futures) out.merge(f.get());
    return out;
  }

  // The partitions of the `wanted` topics whose metadata is known.
  std::vector<TopicPartition> KnownPartitions(const std::set<std::string>& wanted) const {
    std::vector<TopicPartition> tps;
    for (const std::string& topic : wanted) {
      auto it = topics_.find(topic);
      if (it == topics_.end() || it->second.err) continue;
      for (int32_t p = 0; p < it->second.partitions; ++p) tps.push_back({topic, p});
    }
    return tps;
  }

  using OffsetMap = std::map<TopicPartition, OffsetResult>;
  struct OffsetQueries {
    std::future<OffsetMap> ends;
    std::future<OffsetMap> starts;
  };

  // Log ends and log starts of `tps`, both in flight at once (with the
  // committed offsets after): a broker that does not answer costs the cycle
  // its deadline once, not three times, and cannot starve the other requests
  // of time. `tps` must outlive the futures' results. None for no partition.
  OffsetQueries StartOffsetQueries(const std::vector<TopicPartition>& tps,
                                   SteadyClock::time_point deadline) {
    broker_answered_ = tps.empty();
    if (tps.empty()) return {};
    return {.ends = std::async(std::launch::async,
                               [this, &tps, deadline] {
                                 return QueryOffsets(tps, RD_KAFKA_OFFSET_END, deadline);
                               }),
            .starts = std::async(std::launch::async, [this, &tps, deadline] {
              return QueryOffsets(tps, RD_KAFKA_OFFSET_BEGINNING, deadline);
            })};
  }

  struct GroupAnswers {
    std::vector<CommittedResult> committed;  // one per group
    DescribeResult described;
  };

  // The groups' committed offsets and descriptions. They are asked for only
  // once a broker has answered this cycle: with every broker down they could
  // only wait for a coordinator (see kCoordinatorRequestTimeoutMs).
  GroupAnswers AskGroups(const std::vector<GroupQuery>& groups, const OffsetQueries& queries,
                         SteadyClock::time_point deadline) {
    GroupAnswers answers{.committed = std::vector<CommittedResult>(groups.size())};
    if (!AwaitBrokerAnswer(queries.ends, queries.starts, deadline)) {
      for (CommittedResult& c : answers.committed) {
        c.status = UnavailableError("kafka " + servers_ + ": no broker answered");
      }
      answers.described.missing = "no broker answered";
      return answers;
    }
    // Describe runs on its own handle, concurrently with OffsetFetch.
    const bool describing = StartDescribe(groups, deadline);
    answers.committed = FetchCommitted(groups, deadline);
    answers.described = FinishDescribe(describing, deadline);
    return answers;
  }

  struct Offsets {
    OffsetMap ends;
    OffsetMap starts;
  };

  // The results of `queries`; an error when no log-end offset of `tps`
  // could be read (`md`: how the metadata refresh went, for the message).
  StatusOr<Offsets> CollectOffsets(const std::vector<TopicPartition>& tps, OffsetQueries& queries,
                                   const Status& md, milliseconds timeout) {
    if (tps.empty()) return Offsets{};
    Offsets offsets{.ends = queries.ends.get(), .starts = queries.starts.get()};
    const bool all_failed = std::all_of(tps.begin(), tps.end(), [&](const TopicPartition& tp) {
      return offsets.ends[tp].err != RD_KAFKA_RESP_ERR_NO_ERROR;
    });
    if (!all_failed) return offsets;
    const rd_kafka_resp_err_t err = offsets.ends[tps.front()].err;
    return Status(CodeFor(err) == StatusCode::kDeadlineExceeded ? StatusCode::kDeadlineExceeded
                                                                : StatusCode::kUnavailable,
                  "kafka " + servers_ + ": no log-end offset could be read within " +
                      std::to_string(timeout.count()) + "ms: " + ErrText(err) +
                      (md.ok() ? "" : "; " + md.message()));
  }

  // Until a broker answered this cycle's ListOffsets (true), or both
  // queries ended or the deadline passed without an answer (false).
  bool AwaitBrokerAnswer(const std::future<std::map<TopicPartition, OffsetResult>>& ends,
                         const std::future<std::map<TopicPartition, OffsetResult>>& starts,
                         SteadyClock::time_point deadline) const {
    auto ready = [](const auto& f) {
      return f.wait_for(milliseconds(0)) == std::future_status::ready;
    };
    while (!broker_answered_) {
      if ((ready(ends) && ready(starts)) || SteadyClock::now() >= deadline) {
        return broker_answered_;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    return true;
  }

  // One batch; failed partitions are retried while retriable and time
  // remains.
  std::map<TopicPartition, OffsetResult> QueryOffsetsBatch(const std::vector<TopicPartition>& tps,
                                                           int64_t which,
                                                           SteadyClock::time_point deadline) {
    std::map<TopicPartition, OffsetResult> out;
    std::vector<TopicPartition> pending = tps;
    for (int attempt = 1; !pending.empty(); ++attempt) {
      const int remaining = RemainingMs(deadline);
      if (remaining <= 0) {
        for (const TopicPartition& tp : pending) out[tp].err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        break;
      }
      PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(pending.size())));
      for (const TopicPartition& tp : pending) {
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
            which;
      }
      const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_.get(), list.get(), remaining);
      std::vector<TopicPartition> failed;
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& e = list->elems[i];
        TopicPartition tp{e.topic, e.partition};
        OffsetResult r;
        if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0) {
          r.offset = e.offset;
        } else {
          r.err = e.err != RD_KAFKA_RESP_ERR_NO_ERROR ? e.err
                  : err != RD_KAFKA_RESP_ERR_NO_ERROR ? err
                                                      : RD_KAFKA_RESP_ERR__NO_OFFSET;
          if (Retriable(r.err)) failed.push_back(tp);
          stale_ = true;  // a leader may have moved: refresh metadata soon
        }
        // Local errors (no broker reached) are negative.
        if (r.err >= RD_KAFKA_RESP_ERR_NO_ERROR) broker_answered_ = true;
        out[tp] = r;
      }
      if (failed.empty() || attempt >= kMaxAttempts ||
          RemainingMs(deadline) <= 2 * kRetryBackoff.count()) {
        break;
      }
      options_.clock->SleepFor(kRetryBackoff);
      pending = std::move(failed);
    }
    return out;
  }

  Status ListUnsupported() const {
    return UnimplementedError("kafka " + servers_ + ": the brokers do not list consumer groups");
  }

  // Options of an Admin request on `rk`: one to every broker times out at
  // `deadline`, one to a group coordinator never (kCoordinatorRequestTimeoutMs).
  static AdminOptionsPtr NewAdminOptions(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                                         SteadyClock::time_point deadline) {
    AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
    const bool coordinator = op == RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS ||
                             op == RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS;
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(
        options.get(),
        coordinator ? kCoordinatorRequestTimeoutMs : std::max(1, RemainingMs(deadline)), err,
        sizeof(err));
    return options;
  }

  CommittedResult ParseCommitted(rd_kafka_event_t* event) {
    CommittedResult result;
    if (rd_kafka_event_error(event)) {
      const rd_kafka_resp_err_t err = rd_kafka_event_error(event);
      result.status = Status(CodeFor(err), ErrText(err));
      last_group_err_ = err;
      return result;
    }
    const auto* res = rd_kafka_event_ListConsumerGroupOffsets_result(event);
    size_t n = 0;
    const rd_kafka_group_result_t** groups =
        res != nullptr ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n) : nullptr;
    if (n != 1) {
      result.status = InternalError("unexpected answer to ListConsumerGroupOffsets");
      last_group_err_ = RD_KAFKA_RESP_ERR__FAIL;
      return result;
    }
    if (const rd_kafka_error_t* error = rd_kafka_group_result_error(groups[0])) {
      last_group_err_ = rd_kafka_error_code(error);
      result.status = Status(CodeFor(last_group_err_),
                             std::string(rd_kafka_error_name(error)) + " (" +
                                 Redact(rd_kafka_error_string(error), auth_.secrets) + ")");
      return result;
    }
    last_group_err_ = RD_KAFKA_RESP_ERR_NO_ERROR;
    const rd_kafka_topic_partition_list_t* parts = rd_kafka_group_result_partitions(groups[0]);
    for (int i = 0; parts != nullptr && i < parts->cnt; ++i) {
      const rd_kafka_topic_partition_t& e = parts->elems[i];
      result.partitions[{e.topic, e.partition}] = {e.offset, e.err};
    }
    return result;
  }

  // The groups whose OffsetFetch of an earlier cycle is still unanswered
  // (see kCoordinatorRequestTimeoutMs), after dropping the answers that came
  // since that cycle's deadline.
  std::set<std::string> UnansweredOffsetFetches() {
    while (EventPtr late{rd_kafka_queue_poll(offsets_queue_.get(), 0)}) {
      offset_fetches_.erase(reinterpret_cast<uintptr_t>(rd_kafka_event_opaque(late.get())));
    }
    std::set<std::string> groups;
    for (const auto& [id, group] : offset_fetches_) groups.insert(group);
    return groups;
  }

  // Committed offsets of every group: one ListConsumerGroupOffsets each,
  // all in flight at once on one queue; none for a group whose earlier one
  // is still unanswered.
  std::vector<CommittedResult> FetchCommitted(const std::vector<GroupQuery>& groups,
                                              SteadyClock::time_point deadline) {
    if (!offsets_queue_) offsets_queue_.reset(rd_kafka_queue_new(rk_.get()));
    FetchCycle cycle{.groups = groups,
                     .deadline = deadline,
                     .results = std::vector<CommittedResult>(groups.size()),
                     .lists = std::vector<PartitionListPtr>(groups.size()),
                     .attempts = std::vector<int>(groups.size(), 0),
                     .done = std::vector<bool>(groups.size(), false)};
    SendFetches(cycle);
    AwaitFetches(cycle);
    return Conclude(cycle);
  }

  // One cycle's OffsetFetch requests, one per group (index into `groups`).
  struct FetchCycle {
    const std::vector<GroupQuery>& groups;
    SteadyClock::time_point deadline;
    std::vector<CommittedResult> results;
    std::vector<PartitionListPtr> lists;
    std::vector<int> attempts;
    std::vector<bool> done;
    std::map<uintptr_t, size_t> sent;  // request id -> group index
    size_t outstanding = 0;
  };

  // The known partitions of `group`'s topics, as librdkafka lists them.
  PartitionListPtr PartitionListOf(const GroupQuery& group) const {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(8));
    for (const std::string& topic : group.topics) {
      auto it = topics_.find(topic);
      if (it == topics_.end() || it->second.err) continue;
      for (int32_t p = 0; p < it->second.partitions; ++p) {
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
      }
    }
    return list;
  }

  // Sends group i's request (again, on a retry).
  void SendFetch(FetchCycle& c, size_t i) {
    ++c.attempts[i];
    const uintptr_t id = ++last_offset_fetch_;
    offset_fetches_[id] = c.groups[i].group_id;
    c.sent[id] = i;
    AskCommitted(c.groups[i].group_id, c.lists[i].get(), c.deadline, offsets_queue_.get(),
                 reinterpret_cast<void*>(id));
  }

  // Sends one OffsetFetch of `group` for `partitions` (null: every
  // partition it committed on), answered on `queue` with `opaque`.
  void AskCommitted(const std::string& group, const rd_kafka_topic_partition_list_t* partitions,
                    SteadyClock::time_point deadline, rd_kafka_queue_t* queue, void* opaque) {
    ListGroupOffsetsPtr request(rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), partitions));
    AdminOptionsPtr options =
        NewAdminOptions(rk_.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, deadline);
    rd_kafka_AdminOptions_set_opaque(options.get(), opaque);
    rd_kafka_ListConsumerGroupOffsets_t* requests[] = {request.get()};
    rd_kafka_ListConsumerGroupOffsets(rk_.get(), requests, 1, options.get(), queue);
  }

  // The first request of every group that has partitions and no request of
  // an earlier cycle still unanswered.
  void SendFetches(FetchCycle& c) {
    const std::set<std::string> unanswered = UnansweredOffsetFetches();
    for (size_t i = 0; i < c.groups.size(); ++i) {
      c.lists[i] = PartitionListOf(c.groups[i]);
      // The mock broker answers an empty list with nothing, and a real one
      // with every topic: never send one.
      if (c.lists[i]->cnt == 0) {
        c.done[i] = true;
        continue;
      }
      if (unanswered.contains(c.groups[i].group_id)) {
        c.results[i].status = UnavailableError(
            "the group coordinator has not answered an OffsetFetch of an earlier cycle yet");
        c.done[i] = true;
        continue;
      }
      SendFetch(c, i);
      ++c.outstanding;
    }
  }

  // Takes the answers until every group has one or the deadline passes,
  // retrying a retriable error while time allows.
  void AwaitFetches(FetchCycle& c) {
    while (c.outstanding > 0) {
      const int remaining = RemainingMs(c.deadline);
      if (remaining <= 0) return;
      EventPtr event(rd_kafka_queue_poll(offsets_queue_.get(), remaining));
      if (!event) continue;
      const auto id = reinterpret_cast<uintptr_t>(rd_kafka_event_opaque(event.get()));
      offset_fetches_.erase(id);
      auto it = c.sent.find(id);
      if (it == c.sent.end()) continue;  // a late answer to an earlier cycle
      const size_t i = it->second;
      if (c.done[i]) continue;
      CommittedResult r = ParseCommitted(event.get());
      if (!r.status.ok() && MayRetry(last_group_err_, c.attempts[i], c.deadline)) {
        options_.clock->SleepFor(kRetryBackoff);
        SendFetch(c, i);
        continue;
      }
      renew_handle_ = renew_handle_ || last_group_err_ == RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
      c.results[i] = std::move(r);
      c.done[i] = true;
      --c.outstanding;
    }
  }

  // The results, each failure naming the cluster and the group.
  std::vector<CommittedResult> Conclude(FetchCycle& c) const {
    for (size_t i = 0; i < c.groups.size(); ++i) {
      CommittedResult& r = c.results[i];
      if (!c.done[i]) {
        r.status = DeadlineExceededError("no answer to OffsetFetch before the cycle's deadline");
      }
      if (!r.status.ok()) {
        r.status = Status(r.status.code(), "kafka " + servers_ + ": committed offsets of group " +
                                               c.groups[i].group_id + ": " + r.status.message());
      }
    }
    return std::move(c.results);
  }

  // Whether a DescribeConsumerGroups call for `groups` is now in flight:
  // not while one of an earlier cycle is still unanswered (see
  // kCoordinatorRequestTimeoutMs); its late answer is dropped.
  bool StartDescribe(const std::vector<GroupQuery>& groups, SteadyClock::time_point deadline) {
    if (!options_.describe_groups || describe_unsupported_ || groups.empty()) return false;
    if (describe_queue_) {
      if (!EventPtr(rd_kafka_queue_poll(describe_queue_.get(), 0))) return false;
      describe_queue_.reset();
    }
    if (!describe_probed_ && plaintext_) {
      // See api_versions_probe.h: never let librdkafka find out the hard way.
      const auto probe_deadline = std::min(deadline, SteadyClock::now() + milliseconds(1000));
      for (const std::string& server : cluster_.bootstrap_servers) {
        StatusOr<bool> supported = BrokerSupportsApi(
            server, kApiDescribeGroups, milliseconds(std::max(1, RemainingMs(probe_deadline))));
        if (!supported.ok()) continue;
        describe_probed_ = true;
        if (!*supported) {
          spdlog::info("{}: brokers do not describe groups; members stay unknown", ctx_->name);
          describe_unsupported_ = true;
          return false;
        }
        break;
      }
      if (!describe_probed_) return false;  // unreachable now: try next cycle
    }
    if (!describe_rk_) {
      describe_ctx_ = std::make_shared<HandleContext>();
      describe_ctx_->name = ctx_->name + " (describe)";
      describe_ctx_->secrets = auth_.secrets;
      describe_ctx_->token_source = token_source_;
      auto rk = NewHandle(Properties(), describe_ctx_.get());
      if (!rk.ok()) return false;
      describe_rk_ = std::move(rk).value();
    }
    std::vector<const char*> ids;
    for (const GroupQuery& g : groups) ids.push_back(g.group_id.c_str());
    describe_queue_.reset(rd_kafka_queue_new(describe_rk_.get()));
    AdminOptionsPtr options =
        NewAdminOptions(describe_rk_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, deadline);
    rd_kafka_DescribeConsumerGroups(describe_rk_.get(), ids.data(), ids.size(), options.get(),
                                    describe_queue_.get());
    return true;
  }

  // Every group the call StartDescribe made describes. Never fails the
  // cycle: what is not described stays unknown, with the reason; a call
  // unanswered at `deadline` stays in flight.
  DescribeResult FinishDescribe(bool describing, SteadyClock::time_point deadline) {
    DescribeResult out;
    if (!describing) {
      out.missing = describe_unsupported_       ? kDescribeUnsupported
                    : !options_.describe_groups ? "describing groups is turned off"
                    : describe_queue_           ? "an earlier DescribeGroups is still unanswered"
                                                : "the brokers' API versions are not known yet";
      return out;
    }
    EventPtr event(rd_kafka_queue_poll(describe_queue_.get(), RemainingMs(deadline)));
    if (!event) {
      out.missing = "no answer to DescribeGroups before the cycle's deadline";
      return out;
    }
    describe_queue_.reset();
    if (const rd_kafka_resp_err_t err = rd_kafka_event_error(event.get())) {
      out.missing = "DescribeGroups: " + ErrText(err);
      return out;
    }
    const auto* res = rd_kafka_event_DescribeConsumerGroups_result(event.get());
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** descs =
        res != nullptr ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : nullptr;
    for (size_t i = 0; i < n; ++i) {
      const rd_kafka_ConsumerGroupDescription_t* d = descs[i];
      if (const rd_kafka_error_t* error = rd_kafka_ConsumerGroupDescription_error(d)) {
        const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        if (code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
            code == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION) {
          spdlog::info("{}: brokers do not describe groups; members stay unknown", ctx_->name);
          describe_unsupported_ = true;
          ParkDescribeHandle();
          return {.missing = kDescribeUnsupported};
        }
        out.groups[rd_kafka_ConsumerGroupDescription_group_id(d)].unknown_reason =
            "DescribeGroups: " + ErrText(code);
        continue;
      }
      out.groups[rd_kafka_ConsumerGroupDescription_group_id(d)] = ToDescribed(d);
    }
    return out;
  }

  // A group DescribeGroups (the classic API, all librdkafka 2.0.2 asks)
  // calls Dead is no classic group: either no group at all, or one on the
  // consumer protocol (KIP-848), whose members only ConsumerGroupDescribe
  // reports. Its "0 members" would be false for the latter, so they are
  // unknown.
  static Described ToDescribed(const rd_kafka_ConsumerGroupDescription_t* d) {
    const rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(d);
    if (state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
      return {.unknown_reason =
                  std::string("no classic group: the broker's DescribeGroups says Dead, as it "
                              "does for a group on the consumer protocol "
                              "(group.protocol=consumer), which librdkafka ") +
                  rd_kafka_version_str() + " cannot describe"};
    }
    Described described{.state = rd_kafka_consumer_group_state_name(state),
                        .members = std::vector<Member>{}};
    const size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t m = 0; m < members; ++m) {
      const rd_kafka_MemberDescription_t* md = rd_kafka_ConsumerGroupDescription_member(d, m);
      Member member;
      member.member_id = rd_kafka_MemberDescription_consumer_id(md);
      member.client_id = rd_kafka_MemberDescription_client_id(md);
      member.host = rd_kafka_MemberDescription_host(md);
      const rd_kafka_topic_partition_list_t* parts =
          rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
      for (int j = 0; parts != nullptr && j < parts->cnt; ++j) {
        member.assignment.push_back({parts->elems[j].topic, parts->elems[j].partition});
      }
      described.members->push_back(std::move(member));
    }
    return described;
  }

  // librdkafka 2.0.2 was seen to hang in rd_kafka_destroy on a handle that
  // got "unsupported" for DescribeConsumerGroups (the mock broker). That is
  // why describing runs on a separate handle: it is destroyed on a detached
  // thread so that a hang costs one parked thread, never the caller.
  void ParkDescribeHandle() {
    std::shared_ptr<HandleContext> ctx = describe_ctx_;
    std::thread([rk = describe_rk_.release(), ctx]() { rd_kafka_destroy(rk); }).detach();
  }

  // The record count of every gap to count in `groups` (see record_gaps.h):
  // remembered from the last cycle where that gap was seen, else fetched.
  std::map<RecordGap, int64_t> RecordCounts(const std::vector<GroupObservation>& groups,
                                            SteadyClock::time_point deadline) {
    std::map<RecordGap, int64_t> counts;
    std::set<RecordGap> unknown;
    for (const RecordGap& gap : CountableGaps(groups, options_.max_counted_gap)) {
      if (auto it = counted_.find(gap); it != counted_.end()) {
        counts.insert(*it);
      } else if (unknown.size() < kMaxGapsFetchedPerCycle) {
        unknown.insert(gap);
      }
    }
    counts.merge(CountRecords(Rounds(unknown), deadline));
    counted_ = counts;
    return counts;
  }

  // The records a read_committed consumer is given in each gap of
  // `rounds` (see record_gaps.h): the gap's partitions assigned at its
  // start on the fetch handle, read until the gap's end or the partition's
  // end. A gap not read whole by `deadline` is left out (its offsets count).
  std::map<RecordGap, int64_t> CountRecords(const std::vector<std::vector<RecordGap>>& rounds,
                                            SteadyClock::time_point deadline) {
    std::map<RecordGap, int64_t> counts;
    if (rounds.empty() || !EnsureFetchHandle()) return counts;
    for (const std::vector<RecordGap>& round : rounds) {
      if (RemainingMs(deadline) <= 0) break;
      counts.merge(CountRound(round, deadline));
    }
    return counts;
  }

  std::map<RecordGap, int64_t> CountRound(const std::vector<RecordGap>& round,
                                          SteadyClock::time_point deadline) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(round.size())));
    std::map<TopicPartition, std::pair<RecordGap, int64_t>> pending;
    for (const RecordGap& gap : round) {
      rd_kafka_topic_partition_list_add(list.get(), gap.partition.topic.c_str(),
                                        gap.partition.partition)
          ->offset = gap.from;
      pending[gap.partition] = {gap, 0};
    }
    std::map<RecordGap, int64_t> counts;
    if (rd_kafka_assign(fetch_rk_.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return counts;
    while (!pending.empty() && RemainingMs(deadline) > 0) {
      MessagePtr m(rd_kafka_consumer_poll(fetch_rk_.get(), RemainingMs(deadline)));
      if (!m || m->rkt == nullptr) continue;
      auto it = pending.find({rd_kafka_topic_name(m->rkt), m->partition});
      if (it == pending.end()) continue;
      auto& [gap, count] = it->second;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset < gap.from) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset < gap.end) ++count;
      // Read whole: a record at or past the gap's end, or the partition's
      // end (which a read_committed fetch reports past markers and aborted
      // records); any other error leaves the gap uncounted.
      const bool whole = m->err == RD_KAFKA_RESP_ERR_NO_ERROR
                             ? m->offset + 1 >= gap.end
                             : m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->offset >= gap.end;
      if (whole) counts[gap] = count;
      if (whole || m->err != RD_KAFKA_RESP_ERR_NO_ERROR) pending.erase(it);
    }
    rd_kafka_assign(fetch_rk_.get(), nullptr);
    return counts;
  }

  // A consumer handle of its own, so that its assignments and prefetched
  // records never meet the observing handle's requests.
  bool EnsureFetchHandle() {
    if (fetch_rk_) return true;
    fetch_ctx_ = std::make_shared<HandleContext>();
    fetch_ctx_->name = ctx_->name + " (fetch)";
    fetch_ctx_->secrets = auth_.secrets;
    fetch_ctx_->token_source = token_source_;
    std::vector<std::pair<std::string, std::string>> properties = {
        {"enable.partition.eof", "true"},
        {"enable.auto.offset.store", "false"},
        // A gap deleted meanwhile is an error, never a jump.
        {"auto.offset.reset", "error"},
        // The fetch that finds the end returns at once instead of waiting
        // for records to arrive.
        {"fetch.wait.max.ms", "10"},
    };
    const auto base = Properties();
    properties.insert(properties.begin(), base.begin(), base.end());
    auto rk = NewHandle(properties, fetch_ctx_.get());
    if (!rk.ok()) return false;
    fetch_rk_ = std::move(rk).value();
    return true;
  }

  GroupObservation Assemble(const GroupQuery& query, const CommittedResult& committed,
                            const std::map<TopicPartition, OffsetResult>& ends,
                            const std::map<TopicPartition, OffsetResult>& starts,
                            const DescribeResult& described) {
    GroupObservation g;
    g.group_id = query.group_id;
    std::vector<std::string> topics = query.topics;
    std::sort(topics.begin(), topics.end());
    for (const std::string& topic : topics) {
      auto it = topics_.find(topic);
      if (it == topics_.end()) {
        g.topic_errors.push_back(
            {topic, NotFoundError("topic " + topic + " does not exist in kafka " + servers_)});
        continue;
      }
      if (it->second.err) {
        g.topic_errors.push_back(
            {topic,
             Status(CodeFor(it->second.err), "topic " + topic + ": " + ErrText(it->second.err))});
        continue;
      }
      for (int32_t p = 0; p < it->second.partitions; ++p) {
        const TopicPartition tp{topic, p};
        policy::PartitionObservation po;
        po.topic = topic;
        po.partition = p;
        auto end = ends.find(tp);
        auto start = starts.find(tp);
        po.failed =
            end == ends.end() || end->second.err || start == starts.end() || start->second.err;
        if (end != ends.end()) po.log_end_offset = end->second.offset;
        if (start != starts.end()) po.log_start_offset = start->second.offset;
        auto c = committed.partitions.find(tp);
        if (c != committed.partitions.end()) {
          if (c->second.err) po.failed = true;
          if (c->second.offset >= 0) po.committed_offset = c->second.offset;
        } else if (committed.status.ok()) {
          po.failed = true;  // the broker did not answer for this partition
        }
        g.observation.partitions.push_back(std::move(po));
      }
    }
    if (!committed.status.ok()) {
      g.observation.failed = true;
      g.observation.error = committed.status.message();
    } else if (g.observation.partitions.empty()) {
      g.observation.failed = true;
      g.observation.error = g.topic_errors.empty()
                                ? "group " + query.group_id + " names no topic"
                                : "no topic of group " + query.group_id + " could be observed: " +
                                      g.topic_errors.front().status.message();
    }
    auto d = described.groups.find(query.group_id);
    if (d == described.groups.end()) {
      g.members_unknown = described.missing;
    } else {
      g.group_state = d->second.state;
      g.member_list = d->second.members;
      g.members_unknown = d->second.unknown_reason;
      if (g.member_list) g.observation.members = static_cast<int32_t>(g.member_list->size());
    }
    return g;
  }

  const ClusterConfig cluster_;
  ReaderOptions options_;
  const AuthConfig auth_;
  std::shared_ptr<OAuthTokenSource> token_source_;  // sasl=aws_msk_iam, oauthbearer only
  RealClock real_clock_;
  std::string servers_;

  std::mutex mu_;  // serialises cycles
  // The main handle and its context: replaced only by RenewHandle, under
  // mu_ and handle_mu_; ListGroups copies them under handle_mu_.
  std::mutex handle_mu_;
  std::shared_ptr<HandleContext> ctx_;
  std::shared_ptr<rd_kafka_t> rk_;
  bool renew_handle_ = false;
  RequestCounts retired_counts_;  // of handles renewed
  std::shared_ptr<HandleContext> describe_ctx_;
  RdKafkaPtr describe_rk_;
  QueuePtr describe_queue_;  // of the DescribeConsumerGroups call in flight
  // The ListConsumerGroupOffsets requests in flight, on offsets_queue_: id
  // (the request's opaque) -> group.
  QueuePtr offsets_queue_;
  std::map<uintptr_t, std::string> offset_fetches_;
  uintptr_t last_offset_fetch_ = 0;
  std::shared_ptr<HandleContext> fetch_ctx_;
  // Counts records after commits (CountRecords); its destroy takes about
  // a second (librdkafka 2.0.2, on the mock cluster too).
  RdKafkaPtr fetch_rk_;
  std::map<RecordGap, int64_t> counted_;  // the last cycle's record counts
  bool describe_unsupported_ = false;
  std::atomic<bool> list_unsupported_{false};
  bool describe_probed_ = false;
  bool plaintext_ = false;  // security.protocol plaintext: the probe can speak it

  // Metadata cache.
  bool have_metadata_ = false;
  std::atomic<bool> stale_{false};
  // A broker answered this cycle's ListOffsets (see AwaitBrokerAnswer).
  std::atomic<bool> broker_answered_{false};
  Timestamp metadata_at_{};
  std::map<std::string, TopicMeta> topics_;

  rd_kafka_resp_err_t last_group_err_ = RD_KAFKA_RESP_ERR_NO_ERROR;
};

}  // namespace

StatusOr<std::unique_ptr<LagReader>> NewRdKafkaLagReader(const ClusterConfig& cluster,
                                                         const ReaderOptions& options) {
  if (cluster.bootstrap_servers.empty()) {
    return InvalidArgumentError("no bootstrap servers given");
  }
  for (const std::string& s : cluster.bootstrap_servers) {
    if (s.empty() || s.find(',') != std::string::npos) {
      return InvalidArgumentError("bad bootstrap server \"" + s + "\": expected host:port");
    }
  }
  StatusOr<AuthConfig> auth = BuildAuthConfig(cluster.auth);
  if (!auth.ok()) return auth.status();
  auto reader = std::make_unique<RdKafkaLagReader>(cluster, options, std::move(auth).value());
  Status s = reader->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<LagReader>(std::move(reader));
}

LagReaderFactory RdKafkaLagReaderFactory(ReaderOptions options) {
  return [options = std::move(options)](const ClusterConfig& cluster) {
    return NewRdKafkaLagReader(cluster, options);
  };
}

}  // namespace groupscaler::kafka
