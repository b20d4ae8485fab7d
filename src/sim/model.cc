#include "sim/model.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

namespace groupscaler::sim {
namespace {

Status CheckRange(std::string_view name, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return InvalidArgumentError(std::string(name) + " must be between " + std::to_string(min) +
                                " and " + std::to_string(max) + ", got " + std::to_string(value));
  }
  return Status::Ok();
}

Status CheckConfig(const ModelConfig& config) {
  for (Status s : {
           CheckRange("partitions", config.partitions, 1, kMaxPartitions),
           CheckRange("replica rate", config.replica_rate, 1, kMaxReplicaRate),
           CheckRange("startup seconds", config.startup_seconds, 0, kMaxStartupSeconds),
           CheckRange("poll interval", config.poll_interval_seconds, 1,
                      std::numeric_limits<int32_t>::max()),
           CheckRange("duration", config.duration_seconds.value_or(1), 1, kMaxDurationSeconds),
           CheckRange("initial replicas", config.initial_replicas.value_or(0), 0,
                      std::numeric_limits<int32_t>::max()),
           CheckRange("rebalance pause seconds", config.rebalance_pause_seconds, 0,
                      kMaxStartupSeconds),
           CheckRange("lag seconds target", config.lag_seconds_target, 1, kMaxDurationSeconds),
       }) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status CheckTrace(const Trace& trace, const ModelConfig& config) {
  for (const TraceRow& row : trace.rows) {
    if (row.poisoned_partition && *row.poisoned_partition >= config.partitions) {
      return InvalidArgumentError("the trace poisons partition " +
                                  std::to_string(*row.poisoned_partition) + " at " +
                                  std::to_string(row.time_seconds) + " s, but the topic has " +
                                  std::to_string(config.partitions) + " partitions");
    }
  }
  return Status::Ok();
}

// The consumer group: replicas as counts (never one object per replica, so a
// policy asking for millions costs nothing) and the offsets of its topic.
class Group {
 public:
  Group(const ModelConfig& config, int64_t initial_replicas)
      : partitions_(config.partitions),
        replica_rate_(config.replica_rate),
        startup_seconds_(config.startup_seconds),
        rebalance_pause_seconds_(config.rebalance_pause_seconds),
        running_(initial_replicas),
        members_(initial_replicas),
        end_offsets_(config.partitions, 0),
        committed_(config.partitions, 0),
        produced_(config.partitions) {}

  int64_t replicas() const { return running_ + starting_; }
  int64_t running() const { return running_; }
  int64_t rebalances() const { return rebalances_; }
  void set_poisoned(std::optional<int32_t> partition) { poisoned_ = partition; }

  int64_t TotalLag() const {
    int64_t lag = 0;
    for (int32_t p = 0; p < partitions_; ++p) lag += end_offsets_[p] - committed_[p];
    return lag;
  }

  policy::Observation Observe(const std::string& topic) const {
    policy::Observation observation;
    observation.partitions.reserve(partitions_);
    for (int32_t p = 0; p < partitions_; ++p) {
      observation.partitions.push_back(policy::PartitionObservation{
          .topic = topic,
          .partition = p,
          .log_start_offset = 0,
          .log_end_offset = end_offsets_[p],
          .committed_offset = committed_[p],
          .failed = false,
      });
    }
    observation.current_replicas = Clamp32(replicas());
    observation.members = Clamp32(members_);
    return observation;
  }

  // Adds replicas that finish starting `startup_seconds` after `now`, or
  // removes the newest ones.
  void Resize(int64_t desired, int64_t now) {
    int64_t delta = desired - replicas();
    if (delta > 0) {
      starting_batches_.push_back({now + startup_seconds_, delta});
      starting_ += delta;
      return;
    }
    int64_t to_remove = -delta;
    while (to_remove > 0 && !starting_batches_.empty()) {
      Batch& newest = starting_batches_.back();
      int64_t n = std::min(to_remove, newest.count);
      newest.count -= n;
      starting_ -= n;
      to_remove -= n;
      if (newest.count == 0) starting_batches_.pop_back();
    }
    if (to_remove > 0 && running_ > 0) {
      running_ -= std::min(to_remove, running_);
      members_ = std::min(members_, running_);
      Rebalance(now);
    }
  }

  // At the start of second `now`: once no rebalance is under way, every
  // running replica is a member.
  void Settle(int64_t now) {
    if (now >= paused_until_) members_ = running_;
  }

  // Replicas whose start-up ends by `now` join the group: one rebalance.
  void FinishStarting(int64_t now) {
    bool joined = false;
    while (!starting_batches_.empty() && starting_batches_.front().ready_at <= now) {
      running_ += starting_batches_.front().count;
      starting_ -= starting_batches_.front().count;
      starting_batches_.pop_front();
      joined = true;
    }
    if (joined) Rebalance(now);
  }

  // Produces `rate` messages in second `now`, spread over the partitions;
  // returns `rate`.
  int64_t Produce(int64_t rate, int64_t now) {
    int64_t each = rate / partitions_;
    int64_t remainder = rate % partitions_;
    for (int32_t p = 0; p < partitions_; ++p) {
      int64_t extra = (p - next_extra_ + partitions_) % partitions_ < remainder ? 1 : 0;
      if (each + extra == 0) continue;
      end_offsets_[p] += each + extra;
      produced_[p].push_back({end_offsets_[p], now});
    }
    next_extra_ = static_cast<int32_t>((next_extra_ + remainder) % partitions_);
    return rate;
  }

  // One second (`now`) of consumption by the running replicas, none while the
  // group rebalances; returns the messages consumed.
  int64_t Consume(int64_t now) {
    if (now < paused_until_) return 0;
    int64_t owners = std::min<int64_t>(running_, partitions_);
    if (owners == 0) return 0;
    int64_t consumed = 0;
    int64_t block = partitions_ / owners;
    int64_t larger_blocks = partitions_ % owners;
    int32_t first = 0;
    for (int64_t owner = 0; owner < owners; ++owner) {
      int32_t count = static_cast<int32_t>(block + (owner < larger_blocks ? 1 : 0));
      consumed += ConsumeRange(first, count);
      first += count;
    }
    return consumed;
  }

  // The group's time lag at the end of second `now`: the age of the oldest
  // unconsumed message over the partitions but the poisoned one.
  int64_t TimeLag(int64_t now) {
    int64_t oldest = 0;
    for (int32_t p = 0; p < partitions_; ++p) {
      std::deque<Produced>& produced = produced_[p];
      while (!produced.empty() && produced.front().end_offset <= committed_[p]) {
        produced.pop_front();
      }
      if (produced.empty() || poisoned_ == p) continue;
      oldest = std::max(oldest, now - produced.front().second + 1);
    }
    return oldest;
  }

 private:
  struct Batch {
    int64_t ready_at;
    int64_t count;
  };

  // The messages one partition received in one second: offsets up to
  // end_offset (exclusive), after the previous entry's.
  struct Produced {
    int64_t end_offset;
    int64_t second;
  };

  void Rebalance(int64_t now) {
    ++rebalances_;
    paused_until_ = now + rebalance_pause_seconds_;
  }

  static int32_t Clamp32(int64_t n) {
    return static_cast<int32_t>(std::min<int64_t>(n, std::numeric_limits<int32_t>::max()));
  }

  // One replica's second on partitions [first, first + count): replica_rate_
  // shared max-min fairly. Going from the smallest lag up, each partition
  // gets an equal share of what is left; a partition that needs less leaves
  // the rest to the larger ones, so no capacity is wasted while any of them
  // has lag.
  int64_t ConsumeRange(int32_t first, int32_t count) {
    order_.resize(count);
    std::iota(order_.begin(), order_.end(), first);
    // The poisoned partition takes nothing; the others share the rate.
    std::erase(order_, poisoned_.value_or(-1));
    std::stable_sort(order_.begin(), order_.end(), [this](int32_t a, int32_t b) {
      return end_offsets_[a] - committed_[a] < end_offsets_[b] - committed_[b];
    });
    int64_t capacity = replica_rate_;
    for (size_t i = 0; i < order_.size(); ++i) {
      int32_t p = order_[i];
      int64_t share = capacity / static_cast<int64_t>(order_.size() - i);
      int64_t take = std::min(end_offsets_[p] - committed_[p], share);
      committed_[p] += take;
      capacity -= take;
    }
    return replica_rate_ - capacity;
  }

  int32_t partitions_;
  int64_t replica_rate_;
  int64_t startup_seconds_;
  int64_t rebalance_pause_seconds_;
  int64_t running_;
  int64_t members_;
  int64_t starting_ = 0;
  int64_t paused_until_ = 0;  // no consumption before this second
  int64_t rebalances_ = 0;
  std::optional<int32_t> poisoned_;
  std::deque<Batch> starting_batches_;  // oldest first
  std::vector<int64_t> end_offsets_;
  std::vector<int64_t> committed_;
  // Per partition, the unconsumed seconds of production, oldest first.
  std::vector<std::deque<Produced>> produced_;
  int32_t next_extra_ = 0;      // where the next remainder message goes
  std::vector<int32_t> order_;  // scratch for ConsumeRange
};

}  // namespace

int64_t RunLength(const Trace& trace, const ModelConfig& config) {
  if (config.duration_seconds) return *config.duration_seconds;
  int64_t last = trace.rows.empty() ? 0 : trace.rows.back().time_seconds;
  return last + kDefaultTailSeconds;
}

Status CheckModelInputs(const Trace& trace, const ModelConfig& config, const policy::Spec& spec) {
  if (Status s = CheckConfig(config); !s.ok()) return s;
  if (Status s = CheckTrace(trace, config); !s.ok()) return s;
  if (Status s = policy::ValidateSpec(spec); !s.ok()) return s;
  return CheckRange("duration", RunLength(trace, config), 1, kMaxDurationSeconds);
}

StatusOr<Result> Simulate(const Trace& trace, const ModelConfig& config, const policy::Spec& spec,
                          const DecideFunction& decide) {
  if (Status s = CheckModelInputs(trace, config, spec); !s.ok()) return s;
  const int64_t duration = RunLength(trace, config);

  Group group(config, config.initial_replicas.value_or(spec.min_replicas));
  policy::History history;
  Result result;
  Summary& summary = result.summary;
  summary.duration_seconds = duration;
  summary.min_replicas = std::numeric_limits<int32_t>::max();
  int64_t ceiling = 0;  // of the last decision
  int last_direction = 0;
  size_t next_row = 0;
  int64_t rate = 0;
  int64_t time_lag = 0;  // at the end of the previous second

  for (int64_t t = 0; t < duration; ++t) {
    while (next_row < trace.rows.size() && trace.rows[next_row].time_seconds <= t) {
      group.set_poisoned(trace.rows[next_row].poisoned_partition);
      rate = trace.rows[next_row++].produce_rate;
    }

    group.Settle(t);
    if (t % config.poll_interval_seconds == 0) {
      policy::Observation observation = group.Observe(config.topic);
      const int32_t members = *observation.members;
      policy::Decision decision =
          decide(observation, std::move(history), spec, Timestamp{} + std::chrono::seconds(t));
      history = std::move(decision.history);
      // A negative count is no count; the model takes zero.
      int64_t desired = std::max<int64_t>(decision.desired, 0);
      int64_t current = group.replicas();
      result.timeline.push_back(TimelineEntry{
          .time_seconds = t,
          .produce_rate = rate,
          .lag = group.TotalLag(),
          .replicas = static_cast<int32_t>(std::min<int64_t>(current, INT32_MAX)),
          .running = static_cast<int32_t>(std::min<int64_t>(group.running(), INT32_MAX)),
          .members = members,
          .time_lag_seconds = time_lag,
          .desired = static_cast<int32_t>(desired),
          .ceiling = decision.ceiling,
          .reason = decision.reason,
          .message = std::move(decision.message),
      });
      ++summary.polls;
      ceiling = decision.ceiling;
      if (desired != current) {
        int direction = desired > current ? 1 : -1;
        if (last_direction != 0 && direction != last_direction) ++summary.direction_changes;
        last_direction = direction;
        ++(direction > 0 ? summary.scale_ups : summary.scale_downs);
        group.Resize(desired, t);
      }
    }

    group.FinishStarting(t);
    summary.messages_produced += group.Produce(rate, t);
    summary.messages_consumed += group.Consume(t);
    time_lag = group.TimeLag(t);
    summary.max_lag_seconds = std::max(summary.max_lag_seconds, time_lag);
    if (time_lag > config.lag_seconds_target) ++summary.seconds_above_target;

    const int64_t replicas = group.replicas();
    const int64_t lag = group.TotalLag();
    summary.replica_seconds += replicas;
    summary.max_lag = std::max(summary.max_lag, lag);
    // 128 bits: lagThreshold x replicas may exceed int64.
    if (static_cast<__int128>(lag) >
        static_cast<__int128>(spec.lag_threshold) * static_cast<__int128>(replicas)) {
      ++summary.lag_seconds_above_target;
    }
    if (ceiling > 0 && replicas >= ceiling) ++summary.seconds_at_ceiling;
    const int32_t replicas32 = static_cast<int32_t>(std::min<int64_t>(replicas, INT32_MAX));
    summary.max_replicas = std::max(summary.max_replicas, replicas32);
    summary.min_replicas = std::min(summary.min_replicas, replicas32);
  }
  summary.final_lag = group.TotalLag();
  summary.rebalances = group.rebalances();
  return result;
}

}  // namespace groupscaler::sim
