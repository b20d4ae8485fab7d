#include "controller/kafka_metrics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

namespace groupscaler::controller {
namespace {

KafkaErrorKind KindOf(const Status& status, KafkaErrorKind otherwise) {
  switch (status.code()) {
    case StatusCode::kDeadlineExceeded:
      return KafkaErrorKind::kTimeout;
    case StatusCode::kPermissionDenied:
      return KafkaErrorKind::kAuth;
    default:
      return otherwise;
  }
}

}  // namespace

void CountKafkaErrors(const StatusOr<std::vector<kafka::GroupObservation>>& result,
                      MetricsSink& sink) {
  if (!result.ok()) {
    sink.CountKafkaError(KindOf(result.status(), result.status().code() == StatusCode::kUnavailable
                                                     ? KafkaErrorKind::kUnreachable
                                                     : KafkaErrorKind::kOther));
    return;
  }
  for (const kafka::GroupObservation& group : *result) {
    for (const kafka::TopicError& error : group.topic_errors) {
      sink.CountKafkaError(KindOf(error.status, KafkaErrorKind::kTopic));
    }
    const std::vector<policy::PartitionObservation>& partitions = group.observation.partitions;
    if (group.observation.failed) {
      // Without partitions, the failure is the topics' (counted above).
      if (!partitions.empty()) sink.CountKafkaError(KafkaErrorKind::kCoordinator);
    } else if (std::any_of(partitions.begin(), partitions.end(),
                           [](const policy::PartitionObservation& p) { return p.failed; })) {
      sink.CountKafkaError(KafkaErrorKind::kTopic);
    }
  }
}

struct KafkaMetrics::Tracked {
  // Shared with the polling thread, which may hold it a moment after the
  // reader was dropped.
  std::shared_ptr<kafka::LagReader> inner;
  std::atomic<bool> observed{false};  // a cycle has ended
  bool polled = false;                // guarded by KafkaMetrics::poll_mu_
  kafka::RequestCounts reported;      // guarded by KafkaMetrics::poll_mu_
};

class KafkaMetrics::Reader final : public kafka::LagReader {
 public:
  Reader(std::shared_ptr<Tracked> tracked, KafkaMetrics* owner)
      : tracked_(std::move(tracked)), owner_(owner) {}

  StatusOr<std::vector<kafka::GroupObservation>> Observe(
      const std::vector<kafka::GroupQuery>& groups, std::chrono::milliseconds timeout) override {
    StatusOr<std::vector<kafka::GroupObservation>> result =
        tracked_->inner->Observe(groups, timeout);
    CountKafkaErrors(result, *owner_->sink_);
    if (!tracked_->observed.exchange(true)) owner_->FirstCycleDone();
    return result;
  }
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string& group,
                                                     std::chrono::milliseconds timeout) override {
    return tracked_->inner->CommittedTopics(group, timeout);
  }
  StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds timeout) override {
    return tracked_->inner->ListGroups(timeout);
  }
  StatusOr<kafka::RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds timeout) override {
    return tracked_->inner->RequestCountsSnapshot(timeout);
  }

 private:
  std::shared_ptr<Tracked> tracked_;
  KafkaMetrics* owner_;
};

KafkaMetrics::KafkaMetrics(MetricsSink* sink, KafkaMetricsOptions options)
    : sink_(sink),
      options_(options),
      clock_(options_.clock != nullptr ? options_.clock : &real_clock_) {
  if (options_.poll_interval <= std::chrono::milliseconds(0)) return;
  thread_ = std::jthread([this](std::stop_token stop) { RunPoller(stop); });
}

void KafkaMetrics::WakePollerLocked() {
  wake_.request_stop();
  wake_ = std::stop_source();
}

void KafkaMetrics::RunPoller(std::stop_token stop) {
  const std::stop_callback on_stop(stop, [this] {
    std::lock_guard lock(mu_);
    WakePollerLocked();
  });
  Timestamp next_full = clock_->Now() + options_.poll_interval;
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    const Timestamp now = clock_->Now();
    // A wall clock set back delays the next poll by one interval at most.
    next_full = std::min(next_full, now + options_.poll_interval);
    const bool full = now >= next_full;
    if (!full && !new_reader_) {
      const std::stop_token woken = wake_.get_token();
      lock.unlock();
      clock_->SleepFor(next_full - now, woken);
      lock.lock();
      continue;
    }
    new_reader_ = false;
    lock.unlock();
    Poll(/*only_new=*/!full);
    lock.lock();
    if (full) next_full = clock_->Now() + options_.poll_interval;
  }
}

KafkaMetrics::~KafkaMetrics() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void KafkaMetrics::FirstCycleDone() {
  std::lock_guard lock(mu_);
  new_reader_ = true;
  WakePollerLocked();
}

kafka::LagReaderFactory KafkaMetrics::Instrument(kafka::LagReaderFactory inner) {
  return [this, inner = std::move(inner)](
             const kafka::ClusterConfig& cluster) -> StatusOr<std::unique_ptr<kafka::LagReader>> {
    StatusOr<std::unique_ptr<kafka::LagReader>> made = inner(cluster);
    if (!made.ok()) return made.status();
    auto tracked = std::make_shared<Tracked>();
    tracked->inner = std::move(made).value();
    {
      std::lock_guard lock(mu_);
      std::erase_if(readers_, [](const std::weak_ptr<Tracked>& t) { return t.expired(); });
      readers_.push_back(tracked);
    }
    return std::unique_ptr<kafka::LagReader>(std::make_unique<Reader>(tracked, this));
  };
}

void KafkaMetrics::Poll(bool only_new) {
  std::lock_guard poll(poll_mu_);
  std::vector<std::shared_ptr<Tracked>> live;
  {
    std::lock_guard lock(mu_);
    std::erase_if(readers_, [](const std::weak_ptr<Tracked>& t) { return t.expired(); });
    for (const std::weak_ptr<Tracked>& weak : readers_) {
      if (std::shared_ptr<Tracked> t = weak.lock()) live.push_back(std::move(t));
    }
  }
  for (const std::shared_ptr<Tracked>& t : live) {
    if (only_new && (t->polled || !t->observed)) continue;
    StatusOr<kafka::RequestCounts> counts =
        t->inner->RequestCountsSnapshot(options_.snapshot_timeout);
    if (!counts.ok()) {
      spdlog::debug("kafka request counts: {}", counts.status().ToString());
      continue;
    }
    t->polled = true;
    kafka::RequestCounts delta = counts->Since(t->reported);
    if (!delta.by_api.empty()) sink_->AddKafkaRequests(delta);
    t->reported = std::move(counts).value();
  }
}

}  // namespace groupscaler::controller
