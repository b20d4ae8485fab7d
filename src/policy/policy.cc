#include "policy/policy.h"

#include <algorithm>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "policy/stages.h"

namespace groupscaler::policy {
namespace {

using stages::kInt32Max;
using stages::kInt64Max;

int32_t LongestPeriod(const ScalingRules& rules) {
  int32_t longest = 0;
  for (const ScalingPolicy& p : *rules.policies) longest = std::max(longest, p.period_seconds);
  return longest;
}

void RecordChange(History* history, Timestamp now, int32_t from, int32_t to, int64_t lag) {
  history->scale_events.push_back({now, to - from});
  history->last_change = ScaleChange{.time = now, .from = from, .replicas = to, .lag = lag};
  if (history->rebalances_caused < kInt64Max) ++history->rebalances_caused;
}

// Messages/s one replica sustains: learned, else the spec's hint.
std::optional<double> PerReplicaRate(const std::optional<double>& learned, const Spec& spec) {
  return learned ? learned : spec.per_replica_rate_hint;
}

Decision HoldForFailure(const Observation& observation, History history, const Spec& spec,
                        Timestamp now, std::string why) {
  Decision d;
  d.current = observation.current_replicas;
  d.desired = d.current;
  history.consecutive_failures = std::min(history.consecutive_failures, kInt32Max - 1) + 1;
  const int32_t failures = history.consecutive_failures;
  std::ostringstream msg;
  msg << "observation failed (" << why << ")";
  if (spec.paused) {
    d.reason = Reason::kPaused;
    msg << "; paused: holding " << d.current << " replicas";
  } else if (spec.fallback.replicas && failures >= spec.fallback.failure_threshold) {
    d.desired = *spec.fallback.replicas;
    d.reason = Reason::kFallback;
    msg << "; " << failures << " consecutive failures >= failureThreshold "
        << spec.fallback.failure_threshold << ": fallback to " << d.desired << " replicas";
    if (d.desired != d.current) RecordChange(&history, now, d.current, d.desired, 0);
  } else {
    d.reason = Reason::kObservationFailed;
    msg << "; holding " << d.current << " replicas";
    if (spec.fallback.replicas) {
      msg << " (failure " << failures << " of " << spec.fallback.failure_threshold
          << " before fallback to " << *spec.fallback.replicas << ")";
    }
  }
  d.message = msg.str();
  d.per_replica_rate = PerReplicaRate(history.per_replica_rate, spec);
  d.rebalances_caused = history.rebalances_caused;
  d.history = std::move(history);
  return d;
}

Decision HoldForNoPartitions(int32_t current, History history, const Spec& spec) {
  Decision d;
  d.current = current;
  d.desired = current;
  d.reason = Reason::kNoPartitions;
  d.message = "no partitions observed: holding " + std::to_string(current) + " replicas";
  d.per_replica_rate = PerReplicaRate(history.per_replica_rate, spec);
  d.rebalances_caused = history.rebalances_caused;
  d.history = std::move(history);
  return d;
}

// Whether the group has members that could consume: as the broker reports,
// else as the replicas suggest.
bool HasMembers(const Observation& observation) {
  return observation.members ? *observation.members > 0 : observation.current_replicas > 0;
}

stages::LearnedRate LearnedOf(const History& history) {
  return {.per_replica_rate = history.per_replica_rate,
          .saturated_intervals = history.saturated_intervals,
          .lower_bound = history.per_replica_rate_lower_bound};
}

// `history` after a readable observation: what the next Decide compares with
// (tracks, rate samples, when and at what size the group was seen) and the
// per-replica rate learned so far.
History Remember(History history, std::map<TopicPartition, PartitionTrack> tracks,
                 std::map<std::string, std::vector<RateSample>> rate_samples,
                 const stages::LearnedRate& learned, const stages::Pipeline& p, Timestamp now) {
  history.consecutive_failures = 0;
  history.partitions = std::move(tracks);
  history.rate_samples = std::move(rate_samples);
  history.per_replica_rate = learned.per_replica_rate;
  history.saturated_intervals = learned.saturated_intervals;
  history.per_replica_rate_lower_bound = learned.lower_bound;
  history.last_observed = now;
  history.last_replicas = p.current;
  history.last_members = p.members;
  return history;
}

// What the raw target stage needs from the stages before it.
stages::TargetInputs TargetInputsOf(const stages::Pipeline& p, const stages::LearnedRate& learned,
                                    const History& history, const Spec& spec, Timestamp now) {
  const int64_t drain = spec.target_drain_seconds;
  const int64_t stalled = static_cast<int64_t>(p.signal.stalled_partitions.size());
  return {.current = p.current,
          .partitions = p.partitions,
          .carrying = p.partitions - p.lags.unknown - stages::ClampToInt32(stalled),
          .partition_cap = PartitionCeiling(p.partitions, spec.consumers_per_replica),
          .signal = p.signal,
          .demand = {.produce_rate = p.rates.produce_rate,
                     .lag = p.signal.lag,
                     .rebalance_allowance =
                         stages::RebalanceAllowance(history.last_change, p.signal.lag, drain, now),
                     .drain_seconds = drain},
          .produce_known = p.rates.produce_known,
          .per_replica_rate = PerReplicaRate(learned.per_replica_rate, spec),
          .learned = learned};
}

DecisionFlags FlagsOf(const stages::Pipeline& p) {
  return {.at_ceiling = p.bounds.at_ceiling,
          .idle_members = p.bounds.idle_members,
          .partial_observation = p.lags.unknown > 0,
          .committed_beyond_end = p.lags.committed_beyond_end,
          .committed_missing = p.lags.committed_missing,
          .negative_offsets = p.lags.negative_offsets,
          .min_above_partitions = p.bounds.min_above_partitions,
          .throughput_fallback = p.raw.lag && p.raw.lag->fallback != stages::FallbackCause::kNone,
          .group_stopped = p.signal.group_stopped,
          .emergency = p.settle.emergency};
}

// The Decision from every stage's result; `history` records the change it
// asks for and keeps the scale events the longest policy period still
// counts.
Decision Conclude(stages::Pipeline p, const Spec& spec, History history, Timestamp now) {
  Decision d;
  d.current = p.current;
  d.desired = stages::Desired(p, spec.paused);
  d.raw = p.raw.replicas;
  d.ceiling = p.bounds.ceiling;
  d.partitions = p.partitions;
  d.partitions_with_lag = p.lags.partitions_with_lag;
  d.total_lag = p.lags.total_lag;
  d.lag_known = true;
  d.reason = stages::ChooseReason(p, spec.paused);
  d.message = stages::DescribePipeline(p, spec);
  d.flags = FlagsOf(p);
  d.max_time_lag_seconds = p.signal.max_time_lag_seconds;
  d.total_time_lag_seconds = p.signal.total_time_lag_seconds;
  d.per_replica_rate = p.inputs.per_replica_rate;
  if (d.desired != d.current) RecordChange(&history, now, d.current, d.desired, p.signal.lag);
  const int32_t period = std::max(LongestPeriod(p.rules.up), LongestPeriod(p.rules.down));
  const Timestamp events_after = now - stages::Seconds(period);
  std::erase_if(history.scale_events, [&](const ScaleEvent& e) { return e.time <= events_after; });
  d.rebalances_caused = history.rebalances_caused;
  d.history = std::move(history);
  d.partition_lags = std::move(p.lags.partition_lags);
  d.topic_rates = std::move(p.rates.topic_rates);
  d.stalled_partitions = std::move(p.signal.stalled_partitions);
  return d;
}

}  // namespace

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kScaleUp:
      return "ScaleUp";
    case Reason::kScaleDown:
      return "ScaleDown";
    case Reason::kSteady:
      return "Steady";
    case Reason::kScaleDownStabilized:
      return "ScaleDownStabilized";
    case Reason::kScaleUpStabilized:
      return "ScaleUpStabilized";
    case Reason::kScaleUpLimited:
      return "ScaleUpLimited";
    case Reason::kScaleDownLimited:
      return "ScaleDownLimited";
    case Reason::kScalingDisabled:
      return "ScalingDisabled";
    case Reason::kScaleFromZero:
      return "ScaleFromZero";
    case Reason::kScaleToZero:
      return "ScaleToZero";
    case Reason::kCooldown:
      return "Cooldown";
    case Reason::kPaused:
      return "Paused";
    case Reason::kObservationFailed:
      return "ObservationFailed";
    case Reason::kFallback:
      return "Fallback";
    case Reason::kNoPartitions:
      return "NoPartitions";
    case Reason::kPartialObservation:
      return "PartialObservation";
    case Reason::kRebalanceSettling:
      return "RebalanceSettling";
  }
  return "Unknown";
}

ScalingRules DefaultScaleUp() {
  return {.stabilization_window_seconds = 0,
          .select_policy = SelectPolicy::kMax,
          .policies = std::vector<ScalingPolicy>{
              {.type = ScalingPolicyType::kPods, .value = 4, .period_seconds = 15},
              {.type = ScalingPolicyType::kPercent, .value = 100, .period_seconds = 15}}};
}

ScalingRules DefaultScaleDown() {
  return {.stabilization_window_seconds = 300,
          .select_policy = SelectPolicy::kMax,
          .policies = std::vector<ScalingPolicy>{
              {.type = ScalingPolicyType::kPercent, .value = 100, .period_seconds = 15}}};
}

ScalingRules Resolve(const ScalingRules& rules, const ScalingRules& defaults) {
  ScalingRules r = rules;
  if (!r.stabilization_window_seconds) {
    r.stabilization_window_seconds = defaults.stabilization_window_seconds;
  }
  if (!r.select_policy) r.select_policy = defaults.select_policy;
  if (!r.policies) r.policies = defaults.policies;
  return r;
}

namespace {

Status OutOfRange(const std::string& field, const std::string& rule, int64_t got) {
  return InvalidArgumentError("spec." + field + " must be " + rule + " (got " +
                              std::to_string(got) + ")");
}

Status RealOutOfRange(const std::string& field, const std::string& rule, double got) {
  std::ostringstream out;
  out << "spec." << field << " must be " << rule << " (got " << got << ")";
  return InvalidArgumentError(out.str());
}

// min/maxReplicas, consumersPerReplica, the thresholds and the cooldown.
Status ValidateCounts(const Spec& spec) {
  if (spec.min_replicas < 0) return OutOfRange("minReplicas", ">= 0", spec.min_replicas);
  if (spec.max_replicas < 1) return OutOfRange("maxReplicas", ">= 1", spec.max_replicas);
  if (spec.min_replicas > spec.max_replicas) {
    return OutOfRange("minReplicas",
                      "<= spec.maxReplicas (" + std::to_string(spec.max_replicas) + ")",
                      spec.min_replicas);
  }
  if (spec.consumers_per_replica < 1) {
    return OutOfRange("consumersPerReplica", ">= 1", spec.consumers_per_replica);
  }
  if (spec.lag_threshold < 1) return OutOfRange("lagThreshold", "> 0", spec.lag_threshold);
  if (spec.activation_lag_threshold < 0) {
    return OutOfRange("activationLagThreshold", ">= 0", spec.activation_lag_threshold);
  }
  if (spec.cooldown_seconds < 0) {
    return OutOfRange("cooldownSeconds", ">= 0", spec.cooldown_seconds);
  }
  if (spec.allow_idle_consumers && spec.limit_to_partitions_with_lag) {
    return InvalidArgumentError(
        "spec.allowIdleConsumers and spec.limitToPartitionsWithLag cannot both be true");
  }
  return Status::Ok();
}

// One direction of spec.behavior, named `field` ("behavior.scaleUp").
Status ValidateRules(const std::string& field, const ScalingRules& rules) {
  if (rules.stabilization_window_seconds &&
      (*rules.stabilization_window_seconds < 0 || *rules.stabilization_window_seconds > 3600)) {
    return OutOfRange(field + ".stabilizationWindowSeconds", "between 0 and 3600",
                      *rules.stabilization_window_seconds);
  }
  if (!rules.policies) return Status::Ok();
  if (rules.policies->empty() && rules.select_policy != SelectPolicy::kDisabled) {
    return InvalidArgumentError("spec." + field +
                                ".policies must not be empty unless selectPolicy is Disabled");
  }
  for (size_t i = 0; i < rules.policies->size(); ++i) {
    const ScalingPolicy& p = (*rules.policies)[i];
    const std::string at = field + ".policies[" + std::to_string(i) + "]";
    if (p.value < 1) return OutOfRange(at + ".value", "> 0", p.value);
    if (p.period_seconds < 1 || p.period_seconds > 1800) {
      return OutOfRange(at + ".periodSeconds", "between 1 and 1800", p.period_seconds);
    }
  }
  return Status::Ok();
}

// spec.policy's tuning and lagSecondsThreshold.
Status ValidateTuning(const Spec& spec) {
  if (spec.target_drain_seconds < 1 || spec.target_drain_seconds > 86400) {
    return OutOfRange("policy.targetDrainSeconds", "between 1 and 86400",
                      spec.target_drain_seconds);
  }
  if (spec.per_replica_rate_hint &&
      !(*spec.per_replica_rate_hint > 0 && *spec.per_replica_rate_hint < 1e15)) {
    return RealOutOfRange("policy.perReplicaRateHint", "> 0 and < 1e15",
                          *spec.per_replica_rate_hint);
  }
  if (spec.rate_window_seconds < 1 || spec.rate_window_seconds > 3600) {
    return OutOfRange("policy.rateWindowSeconds", "between 1 and 3600", spec.rate_window_seconds);
  }
  if (spec.lag_seconds_threshold &&
      (*spec.lag_seconds_threshold < 1 || *spec.lag_seconds_threshold > 86400)) {
    return OutOfRange("lagSecondsThreshold", "between 1 and 86400", *spec.lag_seconds_threshold);
  }
  if (spec.rebalance_settle_seconds < 0 || spec.rebalance_settle_seconds > 3600) {
    return OutOfRange("policy.rebalanceSettleSeconds", "between 0 and 3600",
                      spec.rebalance_settle_seconds);
  }
  if (!(spec.emergency_lag_factor >= 1 && spec.emergency_lag_factor <= 1000)) {
    return RealOutOfRange("policy.emergencyLagFactor", "between 1 and 1000",
                          spec.emergency_lag_factor);
  }
  if (spec.stall_seconds < 1 || spec.stall_seconds > 86400) {
    return OutOfRange("policy.stallSeconds", "between 1 and 86400", spec.stall_seconds);
  }
  return Status::Ok();
}

Status ValidateFallback(const Spec& spec) {
  if (spec.fallback.failure_threshold < 1) {
    return OutOfRange("fallback.failureThreshold", ">= 1", spec.fallback.failure_threshold);
  }
  if (spec.fallback.replicas && (*spec.fallback.replicas < spec.min_replicas ||
                                 *spec.fallback.replicas > spec.max_replicas)) {
    return OutOfRange("fallback.replicas", "between spec.minReplicas and spec.maxReplicas",
                      *spec.fallback.replicas);
  }
  return Status::Ok();
}

// A history that has not begun begins now, the current replicas its first
// recommendation (History::recommendations).
History Begin(History history, int32_t current, Timestamp now) {
  if (history.began) return history;
  history.began = now;
  history.recommendations.push_back({now, current});
  return history;
}

}  // namespace

Status ValidateSpec(const Spec& spec) {
  for (Status status :
       {ValidateCounts(spec), ValidateRules("behavior.scaleUp", spec.behavior.scale_up),
        ValidateRules("behavior.scaleDown", spec.behavior.scale_down), ValidateTuning(spec),
        ValidateFallback(spec)}) {
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

int32_t PartitionCeiling(int32_t partitions, int32_t consumers_per_replica) {
  return static_cast<int32_t>(CeilDiv(std::max(partitions, 0), consumers_per_replica));
}

PartitionLag ComputePartitionLag(const PartitionObservation& p, OffsetResetPolicy reset,
                                 std::optional<int64_t> previous_end) {
  PartitionLag r{.topic = p.topic, .partition = p.partition};
  if (p.failed) {
    r.known = false;
    return r;
  }
  if (p.log_start_offset < 0 || p.log_end_offset < 0 || p.log_start_offset > p.log_end_offset) {
    r.known = false;
    r.negative_offsets = true;
    return r;
  }
  // librdkafka reports "no committed offset" as a negative sentinel; treat
  // any negative commit as none.
  if (p.committed_offset && *p.committed_offset >= 0) {
    const int64_t committed = *p.committed_offset;
    if (committed > p.log_end_offset) {
      r.committed_beyond_end = true;
      r.lag = 0;
      return r;
    }
    if (committed >= p.log_start_offset) {
      // Both operands are in [0, 2^63-1]: the difference cannot overflow.
      r.lag = p.log_end_offset - committed;
      if (p.records_after_commit) r.lag = std::clamp<int64_t>(*p.records_after_commit, 0, r.lag);
      return r;
    }
    // Deleted past the commit: the consumer's fetch is out of range, and it
    // resumes where auto.offset.reset says, as without a commit.
    r.committed_below_start = true;
  } else {
    r.committed_missing = true;
  }
  r.lag = reset == OffsetResetPolicy::kEarliest ? p.log_end_offset - p.log_start_offset : 0;
  r.active = previous_end.has_value() && p.log_end_offset > *previous_end;
  return r;
}

int32_t Align(int32_t desired, int32_t partitions, Alignment alignment, int32_t ceiling) {
  // Alignment only has meaning while every replica owns partitions.
  if (desired <= 0 || partitions <= 0 || desired > partitions) return desired;
  switch (alignment) {
    case Alignment::kNone:
      return desired;
    case Alignment::kBalanced: {
      const int64_t per_replica = CeilDiv(partitions, desired);
      return static_cast<int32_t>(CeilDiv(partitions, per_replica));
    }
    case Alignment::kDivisor:
      for (int32_t d = desired; d <= std::min(partitions, ceiling); ++d) {
        if (partitions % d == 0) return d;
      }
      return desired;
  }
  return desired;
}

void AddOffsetPoint(std::vector<OffsetPoint>* points, OffsetPoint point) {
  // A log that shrank (a recreated topic) or a clock that went back makes
  // the old points meaningless.
  if (!points->empty() &&
      (point.offset < points->back().offset || point.time < points->back().time)) {
    points->clear();
  }
  const size_t n = points->size();
  if (n >= 2 && (*points)[n - 1].offset == point.offset &&
      (*points)[n - 2].offset == point.offset) {
    points->back() = point;
  } else {
    points->push_back(point);
  }
  if (points->size() <= kMaxOffsetPoints) return;
  // Drop the interior point whose neighbours are closest relative to their
  // age: the interpolation error it adds is a fraction of the age estimated.
  size_t drop = 1;
  double best = std::numeric_limits<double>::infinity();
  const std::vector<OffsetPoint>& p = *points;
  for (size_t i = 1; i + 1 < p.size(); ++i) {
    const double span = stages::ToSeconds(p[i + 1].time - p[i - 1].time);
    const double age = stages::ToSeconds(point.time - p[i - 1].time) + 1e-3;
    if (span / age < best) {
      best = span / age;
      drop = i;
    }
  }
  points->erase(points->begin() + static_cast<std::ptrdiff_t>(drop));
}

std::optional<double> TimeLagSeconds(const std::vector<OffsetPoint>& end_points, int64_t offset,
                                     Timestamp now) {
  const auto after = std::upper_bound(end_points.begin(), end_points.end(), offset,
                                      [](int64_t o, const OffsetPoint& p) { return o < p.offset; });
  if (after == end_points.begin()) return std::nullopt;
  if (after == end_points.end()) return 0.0;
  const OffsetPoint& a = *(after - 1);
  const OffsetPoint& b = *after;
  // The message at `offset` appeared when the end passed it: between a and
  // b, assumed at an even pace.
  const double fraction =
      static_cast<double>(offset - a.offset + 1) / static_cast<double>(b.offset - a.offset);
  const double produced_after_a = fraction * stages::ToSeconds(b.time - a.time);
  return std::max(0.0, stages::ToSeconds(now - a.time) - produced_after_a);
}

Decision Decide(const Observation& observation, History history, const Spec& spec, Timestamp now) {
  history = Begin(std::move(history), observation.current_replicas, now);
  if (observation.failed) {
    return HoldForFailure(observation, std::move(history), spec, now,
                          observation.error.empty() ? "no reason given" : observation.error);
  }
  stages::Pipeline p{
      .current = observation.current_replicas, .members = observation.members, .now = now};
  p.lags = stages::ObserveLag(observation, history, spec.offset_reset_policy, now);
  p.partitions = stages::ClampToInt32(static_cast<int64_t>(p.lags.partition_lags.size()));
  if (p.partitions == 0) return HoldForNoPartitions(p.current, std::move(history), spec);
  if (p.lags.unknown == p.partitions) {
    return HoldForFailure(observation, std::move(history), spec, now,
                          "no partition's offsets could be read");
  }
  p.lags.partition_lags =
      stages::MarkStalls(std::move(p.lags.partition_lags), p.lags.tracks, HasMembers(observation),
                         stages::Seconds(spec.stall_seconds), now);
  p.signal = stages::SignalLag(p.lags.partition_lags, p.lags.age_bounds);
  const double interval =
      history.last_observed ? stages::ToSeconds(now - *history.last_observed) : 0.0;
  p.rates =
      stages::MeasureRates(p.lags.steps, p.lags.partition_lags, std::move(history.rate_samples),
                           interval, stages::Seconds(spec.rate_window_seconds), now);
  const bool settled = stages::Settled(history, observation, spec, now);
  history.last_change =
      stages::NoteSettled(history.last_change, settled, p.current, p.signal.lag, now);
  const stages::LearnedRate learned = stages::LearnRate(
      LearnedOf(history), history, observation, spec, p.lags, interval, p.signal.group_stopped);
  history = Remember(std::move(history), std::move(p.lags.tracks), std::move(p.rates.samples),
                     learned, p, now);

  p.inputs = TargetInputsOf(p, learned, history, spec, now);
  p.raw = stages::ComputeRawTarget(p.inputs, spec);
  p.bounds = stages::CeilingAndFloor(spec, p.partitions, p.lags.partitions_with_lag, p.raw.replicas,
                                     p.current, p.members);
  const bool by_rate = p.raw.throughput.has_value();
  history.low_lag_since = stages::IdleSince(history.low_lag_since, spec, p.lags.total_lag,
                                            p.lags.any_active, by_rate, p.rates.produced, now);
  p.zero = stages::ScaleToZero(p.bounds, spec, p.current, p.lags.total_lag, p.lags.any_active,
                               by_rate, history.low_lag_since, now);
  p.aligned = stages::AlignTarget(p.zero.target, p.partitions, spec.alignment, p.bounds.ceiling,
                                  p.bounds.floor);
  p.rules = stages::ResolveRules(spec, by_rate);
  p.stabilized = stages::Stabilize(p.aligned.replicas, p.current, p.bounds, history.recommendations,
                                   p.rules, now);
  history.recommendations = stages::KeepRecommendations(std::move(history.recommendations),
                                                        {now, p.aligned.replicas}, p.rules, now);
  p.limited = stages::LimitStep(p.stabilized.replicas, p.current, history.scale_events, p.rules,
                                by_rate && !spec.behavior.scale_up.policies, now);
  p.settle = stages::HoldWhileSettling(p.limited.replicas, p.current, p.bounds.ceiling, settled,
                                       history.last_change, p.signal.lag, spec);
  p.partial = stages::HoldOnPartialLag(p.settle.replicas, p.current, p.lags.unknown > 0);
  p.last_change = history.last_change;
  return Conclude(std::move(p), spec, std::move(history), now);
}

}  // namespace groupscaler::policy
