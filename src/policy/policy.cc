#include "policy/policy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace groupscaler::policy {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

// The throughput policy scales down only to a count that carries the demand
// and this fraction more: the HPA's tolerance, so that the produce rate's
// noise around one count's capacity does not flap between two counts.
constexpr double kScaleDownHeadroom = 0.1;

// Both arguments >= 0.
int64_t SaturatingAdd(int64_t a, int64_t b) { return a > kInt64Max - b ? kInt64Max : a + b; }

int32_t ClampToInt32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, 0, kInt32Max));
}

std::chrono::milliseconds Seconds(int64_t s) { return std::chrono::seconds(s); }

const char* SelectPolicyName(SelectPolicy p) {
  switch (p) {
    case SelectPolicy::kMax:
      return "Max";
    case SelectPolicy::kMin:
      return "Min";
    case SelectPolicy::kDisabled:
      return "Disabled";
  }
  return "?";
}

// "+4 pods/15s, +100%/15s" (sign '+' up, '-' down).
std::string DescribePolicies(const std::vector<ScalingPolicy>& policies, char sign) {
  std::ostringstream out;
  for (size_t i = 0; i < policies.size(); ++i) {
    const ScalingPolicy& p = policies[i];
    if (i > 0) out << ", ";
    out << sign << p.value << (p.type == ScalingPolicyType::kPods ? " pods" : "%") << "/"
        << p.period_seconds << "s";
  }
  return out.str();
}

int32_t LongestPeriod(const ScalingRules& rules) {
  int32_t longest = 0;
  for (const ScalingPolicy& p : *rules.policies) longest = std::max(longest, p.period_seconds);
  return longest;
}

// Replicas added and removed by the events within `period_seconds` of now.
std::pair<int64_t, int64_t> ChangesInPeriod(const std::vector<ScaleEvent>& events,
                                            int32_t period_seconds, Timestamp now) {
  int64_t added = 0;
  int64_t removed = 0;
  const Timestamp cutoff = now - Seconds(period_seconds);
  for (const ScaleEvent& e : events) {
    if (e.time <= cutoff) continue;
    if (e.delta > 0) added += e.delta;
    if (e.delta < 0) removed -= e.delta;
  }
  return {added, removed};
}

// The HPA's scale-up limit: for each policy, the replicas at the start of its
// period plus what it allows; Max takes the most permissive, Min the least.
int32_t ScaleUpLimit(int32_t current, const std::vector<ScaleEvent>& events,
                     const ScalingRules& rules, Timestamp now) {
  const bool pick_max = *rules.select_policy == SelectPolicy::kMax;
  int64_t result = pick_max ? std::numeric_limits<int64_t>::min() : kInt64Max;
  for (const ScalingPolicy& p : *rules.policies) {
    auto [added, removed] = ChangesInPeriod(events, p.period_seconds, now);
    const int64_t start = std::max<int64_t>(0, current - added + removed);
    const int64_t proposed = p.type == ScalingPolicyType::kPods
                                 ? start + p.value
                                 : CeilDiv(start * (100 + static_cast<int64_t>(p.value)), 100);
    result = pick_max ? std::max(result, proposed) : std::min(result, proposed);
  }
  return ClampToInt32(result);
}

// The HPA's scale-down limit: Max picks the policy that allows the largest
// step down (the fewest replicas), Min the smallest step.
int32_t ScaleDownLimit(int32_t current, const std::vector<ScaleEvent>& events,
                       const ScalingRules& rules, Timestamp now) {
  const bool pick_max = *rules.select_policy == SelectPolicy::kMax;
  int64_t result = pick_max ? kInt64Max : std::numeric_limits<int64_t>::min();
  for (const ScalingPolicy& p : *rules.policies) {
    auto [added, removed] = ChangesInPeriod(events, p.period_seconds, now);
    const int64_t start = std::max<int64_t>(0, current - added + removed);
    int64_t proposed;
    if (p.type == ScalingPolicyType::kPods) {
      proposed = start - p.value;
    } else {
      proposed = p.value >= 100 ? 0 : start * (100 - static_cast<int64_t>(p.value)) / 100;
    }
    result = pick_max ? std::min(result, proposed) : std::max(result, proposed);
  }
  return ClampToInt32(result);
}

double ToSeconds(Timestamp::duration d) { return std::chrono::duration<double>(d).count(); }

// ceil(x) as a replica count, saturating; 0 for x <= 0 (or NaN).
int32_t CeilToReplicas(double x) {
  if (!(x > 0)) return 0;
  if (x >= static_cast<double>(kInt32Max)) return kInt32Max;
  return static_cast<int32_t>(std::ceil(x));
}

// floor(x) as a message count, saturating; 0 for x <= 0 (or NaN). A double
// as large as kInt64Max rounds up to 2^63, which no int64_t holds.
int64_t FloorToCount(double x) {
  if (!(x > 0)) return 0;
  if (x >= static_cast<double>(kInt64Max)) return kInt64Max;
  return static_cast<int64_t>(x);
}

void RecordChange(History* history, Timestamp now, int32_t from, int32_t to, int64_t lag) {
  history->scale_events.push_back({now, to - from});
  history->last_change = ScaleChange{.time = now, .from = from, .replicas = to, .lag = lag};
  if (history->rebalances_caused < kInt64Max) ++history->rebalances_caused;
}

// Whether the group settled since the last change Decide asked for: its
// members equal the replicas (each replica one member, or one per consumer
// thread) and, where known, its state is Stable; or, where the broker does
// not report members, rebalanceSettleSeconds passed. Members that never all
// join cannot hold scaling for longer than kSettleCapFactor times that. A
// group at zero replicas has nothing to rebalance.
constexpr int64_t kSettleCapFactor = 4;

// Every replica is a member (or each of its consumer threads is).
bool Joined(int64_t members, int64_t replicas, const Spec& spec) {
  return members == replicas || members == replicas * spec.consumers_per_replica;
}

bool Settled(const History& history, const Observation& observation, const Spec& spec,
             Timestamp now) {
  if (!history.last_change || observation.current_replicas == 0) return true;
  const auto elapsed = now - history.last_change->time;
  if (!observation.members) return elapsed >= Seconds(spec.rebalance_settle_seconds);
  return (Joined(*observation.members, observation.current_replicas, spec) &&
          observation.group_stable.value_or(true)) ||
         elapsed >= Seconds(kSettleCapFactor * spec.rebalance_settle_seconds);
}

// The replicas that consumed throughout the interval since the last
// observation, unset when the group did not work at one size through it:
// * the replicas did not change and, where the broker reports members, all
//   had joined at both ends; elsewhere the last change had settled
//   (rebalanceSettleSeconds) before the interval began;
// * or replicas were added, but the broker reports the same members at both
//   ends, all of the earlier replicas at the start and a stable group at the
//   end: the new ones are still starting (a replica joins, and the group
//   rebalances, only once it started), so the earlier ones did the work.
std::optional<int32_t> WorkingReplicas(const History& history, const Observation& observation,
                                       const Spec& spec) {
  if (!history.last_observed || history.last_replicas <= 0) return std::nullopt;
  const int32_t before = history.last_replicas;
  const bool stable = observation.group_stable.value_or(true);
  if (before == observation.current_replicas) {
    if (observation.members) {
      if (Joined(*observation.members, before, spec) && stable && history.last_members &&
          Joined(*history.last_members, before, spec)) {
        return before;
      }
      return std::nullopt;
    }
    if (!history.last_change ||
        history.last_change->time + Seconds(spec.rebalance_settle_seconds) <=
            *history.last_observed) {
      return before;
    }
    return std::nullopt;
  }
  if (observation.current_replicas > before && observation.members && history.last_members &&
      *observation.members == *history.last_members && stable &&
      Joined(*history.last_members, before, spec)) {
    return before;
  }
  return std::nullopt;
}

// The committed offset of `p`, where the group has one (librdkafka reports
// none as a negative sentinel).
std::optional<int64_t> Committed(const PartitionObservation& p) {
  if (p.committed_offset && *p.committed_offset >= 0) return p.committed_offset;
  return std::nullopt;
}

// A known partition between the last observation and this one.
struct PartitionStep {
  // The partition was read at the last observation too and its log did not
  // shrink since: the fields below mean something.
  bool has_previous = false;
  int64_t produced = 0;
  int64_t consumed = 0;
  int64_t previous_lag = 0;
  int64_t lag = 0;  // at this observation
};

// `track` becomes `previous` (null: never seen) advanced to `p`, seen at
// `now` with `lag`.
PartitionStep Advance(const PartitionTrack* previous, std::optional<Timestamp> last_observed,
                      const PartitionObservation& p, int64_t lag, Timestamp now,
                      PartitionTrack* track) {
  PartitionStep step;
  const std::optional<int64_t> committed = Committed(p);
  if (previous) {
    *track = *previous;
    if (previous->committed != committed) track->commit_moved_at = now;
    if (last_observed && !previous->end_points.empty() &&
        previous->end_points.back().time == *last_observed &&
        p.log_end_offset >= previous->end_points.back().offset) {
      step.has_previous = true;
      step.produced = p.log_end_offset - previous->end_points.back().offset;
      if (previous->committed && committed && *committed >= *previous->committed) {
        step.consumed = *committed - *previous->committed;
      }
      step.previous_lag = previous->lag;
      step.lag = lag;
    }
  } else {
    track->commit_moved_at = now;
  }
  AddOffsetPoint(&track->end_points, {.offset = p.log_end_offset, .time = now});
  track->committed = committed;
  track->lag = lag;
  if (lag == 0 || track->commit_moved_at == now) track->progress_at = now;
  return step;
}

// Produce, consume and unstalled produce rates, messages/s.
struct Rates {
  double produced = 0;
  double consumed = 0;
  double produced_unstalled = 0;
};

// Drops the samples at or before `cutoff` and merges the oldest beyond
// kMaxRateSamples; the rates over what is left, unset when nothing is.
std::optional<Rates> WindowRates(std::vector<RateSample>* samples, Timestamp cutoff) {
  std::erase_if(*samples, [&](const RateSample& s) { return s.time <= cutoff; });
  while (samples->size() > kMaxRateSamples) {
    RateSample& second = (*samples)[1];
    const RateSample& first = (*samples)[0];
    second.seconds += first.seconds;
    second.produced += first.produced;
    second.consumed += first.consumed;
    second.produced_unstalled += first.produced_unstalled;
    samples->erase(samples->begin());
  }
  RateSample sum;
  for (const RateSample& s : *samples) {
    sum.seconds += s.seconds;
    sum.produced += s.produced;
    sum.consumed += s.consumed;
    sum.produced_unstalled += s.produced_unstalled;
  }
  if (!(sum.seconds > 0)) return std::nullopt;
  return Rates{.produced = sum.produced / sum.seconds,
               .consumed = sum.consumed / sum.seconds,
               .produced_unstalled = sum.produced_unstalled / sum.seconds};
}

// What one interval says of the messages/s a working replica sustains.
struct RateEvidence {
  // What the working replicas consumed per replica: never more than they
  // sustain, however loaded they were, so a lower bound of the rate. With
  // partitions spread unevenly (12 over 5 replicas: 3, 3, 2, 2, 2) the
  // replicas holding fewer may keep up while the others are flat out, so it
  // can be well below the rate.
  double lower_bound = 0;
  // Every partition with traffic was busy (see IntervalRate): every replica
  // worked at capacity, however many partitions it held, and `rate` is what
  // one sustains.
  bool saturated = false;
  double rate = 0;
  // Of a saturated interval: every busy partition's backlog at the start
  // covered what was consumed from it, so no consumer ran out of work before
  // the end and `rate` is a measurement; otherwise some were only busy at the
  // end, and `rate` is a lower bound.
  bool flat_out = false;
};

// The evidence of an interval from its partitions' steps, the stalled ones
// (`stalled[i]`) left out: their consumption says nothing of a replica's rate
// and their owners are unknown, so for `rate` the working replicas count in
// proportion to the partitions not stalled. A partition with traffic was busy
// when it had a backlog at the start at least what was consumed from it in
// the interval, or at the end, or when its backlog grew (it got less than
// arrived) to at least half of that. A consumer that keeps up shows less
// (only what arrived since its last commit), so an idle group never passes
// for a busy one; a partition with backlog that consumed nothing is a stall
// in the making (or a paused consumer), not a busy one. Unset when some
// partition was not seen at both ends or nothing was consumed.
std::optional<RateEvidence> IntervalRate(const std::vector<PartitionStep>& steps,
                                         const std::vector<bool>& stalled, double interval,
                                         int32_t working) {
  if (working <= 0 || !(interval > 0)) return std::nullopt;
  double consumed = 0;
  size_t counted = 0;
  bool saturated = true;
  bool flat_out = true;
  for (size_t i = 0; i < steps.size(); ++i) {
    const PartitionStep& s = steps[i];
    if (!s.has_previous) return std::nullopt;
    if (stalled[i]) continue;
    ++counted;
    consumed += static_cast<double>(s.consumed);
    if (s.previous_lag == 0 && s.produced == 0 && s.consumed == 0) continue;
    const bool backlog_at_start = s.previous_lag > s.consumed;
    const bool backlog_at_end =
        s.lag >= s.consumed || (s.lag > s.previous_lag && 2 * s.lag >= s.consumed);
    saturated = saturated && s.consumed > 0 && (backlog_at_start || backlog_at_end);
    flat_out = flat_out && backlog_at_start;
  }
  if (!(consumed > 0)) return std::nullopt;
  const double replicas = static_cast<double>(working) * static_cast<double>(counted) /
                          static_cast<double>(steps.size());
  return RateEvidence{.lower_bound = consumed / interval / static_cast<double>(working),
                      .saturated = saturated,
                      .rate = consumed / interval / replicas,
                      .flat_out = saturated && flat_out};
}

// The fewest replicas that carry `demand` messages/s spread evenly over
// `carrying` of `partitions` partitions at `per_replica_rate` each: the
// partition is the unit of work, so the busiest replica, holding
// ceil(partitions / replicas) of them, must give each its share. With k the
// most partitions one replica can carry, ceil(partitions / k); when one
// replica cannot carry even one partition, ceil(demand / per_replica_rate),
// which is beyond the partitions. 0 for no demand.
int32_t ReplicasForDemand(double demand, double per_replica_rate, int32_t partitions,
                          int32_t carrying) {
  if (!(demand > 0)) return 0;
  const int32_t linear = CeilToReplicas(demand / per_replica_rate);
  if (partitions <= 0 || carrying <= 0) return linear;
  const double per_partition = demand / static_cast<double>(carrying);
  // A relative 1e-9 absorbs rounding in the rates: a replica exactly as fast
  // as its partitions' share carries them.
  const double most = std::floor(per_replica_rate / per_partition * (1 + 1e-9));
  if (most < 1) return linear;
  const int64_t k = most >= partitions ? partitions : static_cast<int64_t>(most);
  return std::max(linear, static_cast<int32_t>(CeilDiv(partitions, k)));
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
  d.per_replica_rate =
      history.per_replica_rate ? history.per_replica_rate : spec.per_replica_rate_hint;
  d.rebalances_caused = history.rebalances_caused;
  d.history = std::move(history);
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

Status ValidateSpec(const Spec& spec) {
  auto error = [](const std::string& field, const std::string& rule, int64_t got) {
    return InvalidArgumentError("spec." + field + " must be " + rule + " (got " +
                                std::to_string(got) + ")");
  };
  auto real_error = [](const std::string& field, const std::string& rule, double got) {
    std::ostringstream out;
    out << "spec." << field << " must be " << rule << " (got " << got << ")";
    return InvalidArgumentError(out.str());
  };
  if (spec.min_replicas < 0) return error("minReplicas", ">= 0", spec.min_replicas);
  if (spec.max_replicas < 1) return error("maxReplicas", ">= 1", spec.max_replicas);
  if (spec.min_replicas > spec.max_replicas) {
    return error("minReplicas", "<= spec.maxReplicas (" + std::to_string(spec.max_replicas) + ")",
                 spec.min_replicas);
  }
  if (spec.consumers_per_replica < 1) {
    return error("consumersPerReplica", ">= 1", spec.consumers_per_replica);
  }
  if (spec.lag_threshold < 1) return error("lagThreshold", "> 0", spec.lag_threshold);
  if (spec.activation_lag_threshold < 0) {
    return error("activationLagThreshold", ">= 0", spec.activation_lag_threshold);
  }
  if (spec.cooldown_seconds < 0) return error("cooldownSeconds", ">= 0", spec.cooldown_seconds);
  if (spec.allow_idle_consumers && spec.limit_to_partitions_with_lag) {
    return InvalidArgumentError(
        "spec.allowIdleConsumers and spec.limitToPartitionsWithLag cannot both be true");
  }
  const std::pair<const char*, const ScalingRules*> directions[] = {
      {"behavior.scaleUp", &spec.behavior.scale_up},
      {"behavior.scaleDown", &spec.behavior.scale_down}};
  for (const auto& [name, rules] : directions) {
    const std::string field = name;
    if (rules->stabilization_window_seconds &&
        (*rules->stabilization_window_seconds < 0 || *rules->stabilization_window_seconds > 3600)) {
      return error(field + ".stabilizationWindowSeconds", "between 0 and 3600",
                   *rules->stabilization_window_seconds);
    }
    if (!rules->policies) continue;
    if (rules->policies->empty() && rules->select_policy != SelectPolicy::kDisabled) {
      return InvalidArgumentError("spec." + field +
                                  ".policies must not be empty unless selectPolicy is Disabled");
    }
    for (size_t i = 0; i < rules->policies->size(); ++i) {
      const ScalingPolicy& p = (*rules->policies)[i];
      const std::string at = field + ".policies[" + std::to_string(i) + "]";
      if (p.value < 1) return error(at + ".value", "> 0", p.value);
      if (p.period_seconds < 1 || p.period_seconds > 1800) {
        return error(at + ".periodSeconds", "between 1 and 1800", p.period_seconds);
      }
    }
  }
  if (spec.target_drain_seconds < 1 || spec.target_drain_seconds > 86400) {
    return error("policy.targetDrainSeconds", "between 1 and 86400", spec.target_drain_seconds);
  }
  if (spec.per_replica_rate_hint &&
      !(*spec.per_replica_rate_hint > 0 && *spec.per_replica_rate_hint < 1e15)) {
    return real_error("policy.perReplicaRateHint", "> 0 and < 1e15", *spec.per_replica_rate_hint);
  }
  if (spec.rate_window_seconds < 1 || spec.rate_window_seconds > 3600) {
    return error("policy.rateWindowSeconds", "between 1 and 3600", spec.rate_window_seconds);
  }
  if (spec.lag_seconds_threshold &&
      (*spec.lag_seconds_threshold < 1 || *spec.lag_seconds_threshold > 86400)) {
    return error("lagSecondsThreshold", "between 1 and 86400", *spec.lag_seconds_threshold);
  }
  if (spec.rebalance_settle_seconds < 0 || spec.rebalance_settle_seconds > 3600) {
    return error("policy.rebalanceSettleSeconds", "between 0 and 3600",
                 spec.rebalance_settle_seconds);
  }
  if (!(spec.emergency_lag_factor >= 1 && spec.emergency_lag_factor <= 1000)) {
    return real_error("policy.emergencyLagFactor", "between 1 and 1000", spec.emergency_lag_factor);
  }
  if (spec.stall_seconds < 1 || spec.stall_seconds > 86400) {
    return error("policy.stallSeconds", "between 1 and 86400", spec.stall_seconds);
  }
  if (spec.fallback.failure_threshold < 1) {
    return error("fallback.failureThreshold", ">= 1", spec.fallback.failure_threshold);
  }
  if (spec.fallback.replicas && (*spec.fallback.replicas < spec.min_replicas ||
                                 *spec.fallback.replicas > spec.max_replicas)) {
    return error("fallback.replicas", "between spec.minReplicas and spec.maxReplicas",
                 *spec.fallback.replicas);
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
    const double span = ToSeconds(p[i + 1].time - p[i - 1].time);
    const double age = ToSeconds(point.time - p[i - 1].time) + 1e-3;
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
  const double produced_after_a = fraction * ToSeconds(b.time - a.time);
  return std::max(0.0, ToSeconds(now - a.time) - produced_after_a);
}

Decision Decide(const Observation& observation, History history, const Spec& spec, Timestamp now) {
  if (observation.failed) {
    return HoldForFailure(observation, std::move(history), spec, now,
                          observation.error.empty() ? "no reason given" : observation.error);
  }

  Decision d;
  d.current = observation.current_replicas;
  d.per_replica_rate =
      history.per_replica_rate ? history.per_replica_rate : spec.per_replica_rate_hint;
  d.rebalances_caused = history.rebalances_caused;

  // Lag per partition, against the end offsets seen last time; each known
  // partition's track advances to this observation.
  const size_t n = observation.partitions.size();
  std::map<TopicPartition, PartitionTrack> tracks;
  std::vector<PartitionStep> steps(n);
  std::vector<double> age_bounds(n, 0);
  int32_t unknown = 0;
  bool any_active = false;
  for (size_t i = 0; i < n; ++i) {
    const PartitionObservation& p = observation.partitions[i];
    const TopicPartition key{p.topic, p.partition};
    const PartitionTrack* previous = nullptr;
    if (auto it = history.partitions.find(key); it != history.partitions.end()) {
      previous = &it->second;
    }
    std::optional<int64_t> previous_end;
    if (previous && !previous->end_points.empty()) {
      previous_end = previous->end_points.back().offset;
    }
    PartitionLag lag = ComputePartitionLag(p, spec.offset_reset_policy, previous_end);
    if (lag.known) {
      d.total_lag = SaturatingAdd(d.total_lag, lag.lag);
      if (lag.lag > 0 || lag.active) ++d.partitions_with_lag;
      PartitionTrack& track = tracks[key];
      steps[i] = Advance(previous, history.last_observed, p, lag.lag, now, &track);
      if (lag.lag == 0) {
        lag.time_lag_seconds = 0.0;
      } else {
        lag.time_lag_seconds = TimeLagSeconds(track.end_points, p.log_end_offset - lag.lag, now);
        age_bounds[i] =
            lag.time_lag_seconds.value_or(ToSeconds(now - track.end_points.front().time));
      }
    } else {
      ++unknown;
      if (previous) tracks[key] = *previous;
    }
    any_active = any_active || lag.active;
    d.flags.committed_beyond_end |= lag.committed_beyond_end;
    d.flags.committed_missing |= lag.committed_missing;
    d.flags.negative_offsets |= lag.negative_offsets;
    d.partition_lags.push_back(std::move(lag));
  }
  d.partitions = ClampToInt32(static_cast<int64_t>(n));

  if (d.partitions == 0) {
    d.desired = d.current;
    d.reason = Reason::kNoPartitions;
    d.message = "no partitions observed: holding " + std::to_string(d.current) + " replicas";
    d.history = std::move(history);
    return d;
  }
  if (unknown == d.partitions) {
    return HoldForFailure(observation, std::move(history), spec, now,
                          "no partition's offsets could be read");
  }
  history.consecutive_failures = 0;
  d.lag_known = true;
  d.flags.partial_observation = unknown > 0;

  // Stalls: lag whose committed offset has not moved over the stall window.
  // While other partitions' commits move and the group has members, more
  // replicas cannot help it (stalled); when nothing moves, the whole group
  // stopped (stopped), and replicas may be exactly what it lacks.
  const auto stall_window = Seconds(spec.stall_seconds);
  const bool has_members = observation.members ? *observation.members > 0 : d.current > 0;
  bool committing = false;
  for (const auto& [key, track] : tracks) {
    committing = committing || now - track.commit_moved_at < stall_window;
  }
  int64_t signal_lag = 0;
  int64_t stalled_lag = 0;
  double max_age_bound = 0;
  bool any_signal_lag = false;
  for (size_t i = 0; i < n; ++i) {
    PartitionLag& lag = d.partition_lags[i];
    if (!lag.known) continue;
    const PartitionTrack& track = tracks[{lag.topic, lag.partition}];
    if (lag.lag > 0 && now - track.progress_at >= stall_window) {
      if (has_members && committing) {
        lag.stalled = true;
      } else {
        lag.stopped = true;
        d.flags.group_stopped = true;
      }
    }
    if (lag.time_lag_seconds) {
      d.max_time_lag_seconds = std::max(d.max_time_lag_seconds.value_or(0), *lag.time_lag_seconds);
      d.total_time_lag_seconds = d.total_time_lag_seconds.value_or(0) + *lag.time_lag_seconds;
    }
    if (lag.stalled) {
      d.stalled_partitions.push_back({lag.topic, lag.partition});
      stalled_lag = SaturatingAdd(stalled_lag, lag.lag);
      continue;
    }
    signal_lag = SaturatingAdd(signal_lag, lag.lag);
    if (lag.lag > 0) {
      any_signal_lag = true;
      max_age_bound = std::max(max_age_bound, age_bounds[i]);
    }
  }

  // Rates per topic over the window, and the produce rate into the
  // partitions that count.
  const double interval = history.last_observed ? ToSeconds(now - *history.last_observed) : 0.0;
  std::map<std::string, RateSample> fresh;
  for (size_t i = 0; i < n; ++i) {
    const PartitionObservation& p = observation.partitions[i];
    RateSample& sample = fresh[p.topic];
    if (!steps[i].has_previous) continue;
    sample.seconds = interval;
    sample.produced += static_cast<double>(steps[i].produced);
    sample.consumed += static_cast<double>(steps[i].consumed);
    if (!d.partition_lags[i].stalled) {
      sample.produced_unstalled += static_cast<double>(steps[i].produced);
    }
  }
  int64_t produced_in_interval = 0;
  for (const auto& step : steps)
    produced_in_interval = SaturatingAdd(produced_in_interval, step.produced);
  std::map<std::string, std::vector<RateSample>> rate_samples;
  bool produce_known = true;
  double produce_rate = 0;
  for (auto& [topic, sample] : fresh) {
    std::vector<RateSample>& samples = rate_samples[topic];
    if (auto it = history.rate_samples.find(topic); it != history.rate_samples.end()) {
      samples = std::move(it->second);
    }
    if (interval > 0 && sample.seconds > 0) {
      sample.time = now;
      samples.push_back(sample);
    }
    const std::optional<Rates> rates =
        WindowRates(&samples, now - Seconds(spec.rate_window_seconds));
    TopicRate& out = d.topic_rates.emplace_back(TopicRate{.topic = topic});
    if (rates) {
      out.produce_rate = rates->produced;
      out.consume_rate = rates->consumed;
      produce_rate += rates->produced_unstalled;
    } else {
      produce_known = false;
    }
  }

  // The per-replica rate, learned from this interval if the group worked at
  // one size through it: saturated and flat out, the average moves towards
  // its rate; saturated but maybe not throughout, its rate can only raise
  // the average; the first saturated interval sets it. Any interval's
  // consumption per working replica is a lower bound.
  const bool settled = Settled(history, observation, spec, now);
  if (settled && history.last_change && !history.last_change->settled_at) {
    ScaleChange& change = *history.last_change;
    change.settled_at = now;
    if (change.replicas < change.from && d.current == change.replicas) {
      change.rebalance_backlog = std::max<int64_t>(0, signal_lag - change.lag);
    }
  }
  const std::optional<int32_t> steady_replicas =
      interval > 0 && unknown == 0 && !d.flags.group_stopped
          ? WorkingReplicas(history, observation, spec)
          : std::nullopt;
  if (steady_replicas) {
    const int32_t working =
        std::min(*steady_replicas, PartitionCeiling(d.partitions, spec.consumers_per_replica));
    std::vector<bool> stalled(n);
    for (size_t i = 0; i < n; ++i) stalled[i] = d.partition_lags[i].stalled;
    if (std::optional<RateEvidence> sample = IntervalRate(steps, stalled, interval, working)) {
      history.per_replica_rate_lower_bound =
          std::max(history.per_replica_rate_lower_bound.value_or(0), sample->lower_bound);
      const std::optional<double> prior =
          history.per_replica_rate ? history.per_replica_rate : spec.per_replica_rate_hint;
      if (sample->saturated) {
        if (!prior) {
          history.per_replica_rate = sample->rate;
        } else if (sample->flat_out) {
          const double alpha =
              std::min(1.0, interval / static_cast<double>(spec.rate_window_seconds));
          history.per_replica_rate = *prior + alpha * (sample->rate - *prior);
        } else {
          history.per_replica_rate = std::max(*prior, sample->rate);
        }
        if (history.saturated_intervals < kInt64Max) ++history.saturated_intervals;
      }
    }
  }
  d.per_replica_rate =
      history.per_replica_rate ? history.per_replica_rate : spec.per_replica_rate_hint;
  history.partitions = std::move(tracks);
  history.rate_samples = std::move(rate_samples);
  history.last_observed = now;
  history.last_replicas = d.current;
  history.last_members = observation.members;

  // What the policy's targets ask for.
  const int32_t cpr = spec.consumers_per_replica;
  const int32_t partition_cap = PartitionCeiling(d.partitions, cpr);
  std::ostringstream msg;
  msg << std::fixed << std::setprecision(1);
  int64_t raw = 0;
  const bool throughput = spec.policy_type == PolicyType::kThroughput;
  const bool by_rate = throughput && d.per_replica_rate && produce_known;
  const double drain = static_cast<double>(spec.target_drain_seconds);
  // For a scale-up, the backlog the last scale-down's rebalance left is
  // drained over targetDrainSeconds from when the group settled, not counted
  // at once: the count was chosen to carry the produce rate with headroom,
  // so it drains it in time, and scaling up for it would pause the group
  // once more and leave as much again. A scale-down counts the whole lag.
  int64_t rebalance_allowance = 0;
  if (history.last_change && history.last_change->settled_at) {
    const double left = 1 - ToSeconds(now - *history.last_change->settled_at) / drain;
    if (left > 0) {
      rebalance_allowance = std::min(
          signal_lag,
          FloorToCount(static_cast<double>(history.last_change->rebalance_backlog) * left));
    }
  }
  const double demand =
      produce_rate + static_cast<double>(signal_lag - rebalance_allowance) / drain;
  std::string demand_text;  // "produce 100.0/s + lag 600 / 60s drain = 110.0/s"
  {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << "produce " << produce_rate << "/s + ";
    if (rebalance_allowance > 0) {
      out << "(lag " << signal_lag << " - " << rebalance_allowance
          << " left by the last scale-down's rebalance)";
    } else {
      out << "lag " << signal_lag;
    }
    out << " / " << spec.target_drain_seconds << "s drain = " << demand << "/s";
    demand_text = out.str();
  }
  const int32_t carrying =
      d.partitions - unknown - ClampToInt32(static_cast<int64_t>(d.stalled_partitions.size()));
  if (by_rate) {
    raw = ReplicasForDemand(demand, *d.per_replica_rate, d.partitions, carrying);
    msg << demand_text << " over " << carrying << " partitions, at " << *d.per_replica_rate
        << "/s per replica (";
    if (history.per_replica_rate) {
      msg << "learned from " << history.saturated_intervals << " saturated interval"
          << (history.saturated_intervals == 1 ? "" : "s");
    } else {
      msg << "perReplicaRateHint";
    }
    msg << ") = " << raw;
    if (raw < d.current) {
      // A smaller count must carry the demand with headroom, so that noise
      // in the produce rate around one count's capacity does not flap.
      const double whole_demand = produce_rate + static_cast<double>(signal_lag) / drain;
      const int32_t with_headroom = ReplicasForDemand(whole_demand * (1 + kScaleDownHeadroom),
                                                      *d.per_replica_rate, d.partitions, carrying);
      if (with_headroom > raw) {
        raw = std::min(with_headroom, d.current);
        msg << " (" << raw << " with " << kScaleDownHeadroom * 100 << "% headroom to scale down)";
      }
    }
  } else {
    if (throughput) {
      d.flags.throughput_fallback = true;
      msg << "throughput policy falls back to lag ("
          << (d.per_replica_rate ? "produce rate not known yet"
                                 : "per-replica rate unknown: no hint, no saturated interval yet")
          << "): ";
    }
    raw = CeilDiv(signal_lag, spec.lag_threshold);
    msg << "lag " << signal_lag << " / threshold " << spec.lag_threshold << " = " << raw;
    const std::optional<double> lower_bound = history.per_replica_rate_lower_bound;
    if (throughput && !d.per_replica_rate && lower_bound && produce_known && raw > d.current) {
      // Replicas sustain at least the lower bound, so the count that carries
      // the demand at it is enough: a scale-up need not go beyond it. The
      // demand holds the backlog's drain, so the cap never leaves it
      // undrained; scaling down still waits for what lag allows.
      const int32_t enough =
          std::max(ReplicasForDemand(demand, *lower_bound, d.partitions, carrying), d.current);
      if (enough < raw) {
        raw = enough;
        msg << ", capped at " << raw << ": " << demand_text << " at " << *lower_bound
            << "/s per replica (lower bound: consumed per working replica)";
      }
    }
  }
  if (spec.lag_seconds_threshold && any_signal_lag) {
    // In proportion to how far the oldest message's age is over the target,
    // as the HPA does with a Value metric.
    const int64_t working = std::clamp<int64_t>(d.current, 1, std::max(partition_cap, 1));
    const int64_t by_age = CeilToReplicas(static_cast<double>(working) * max_age_bound /
                                          static_cast<double>(*spec.lag_seconds_threshold));
    msg << "; time lag " << max_age_bound << "s / target " << *spec.lag_seconds_threshold << "s x "
        << working << " replicas = " << by_age;
    raw = std::max(raw, by_age);
  }
  d.raw = ClampToInt32(raw);

  // Ceiling and floor.
  msg << "; ceiling ";
  if (spec.allow_idle_consumers) {
    d.ceiling = spec.max_replicas;
    msg << d.ceiling << " (maxReplicas; idle consumers allowed)";
  } else {
    const int32_t parts = spec.limit_to_partitions_with_lag ? d.partitions_with_lag : d.partitions;
    const int32_t cap = PartitionCeiling(parts, cpr);
    d.ceiling = std::min(spec.max_replicas, cap);
    msg << d.ceiling << " (";
    if (spec.max_replicas < cap) {
      msg << "maxReplicas";
    } else {
      msg << parts << (spec.limit_to_partitions_with_lag ? " partitions with lag" : " partitions");
      if (cpr > 1) msg << " / " << cpr << " consumers per replica";
    }
    msg << ")";
  }
  if (!d.stalled_partitions.empty()) {
    msg << "; " << d.stalled_partitions.size() << " stalled partition"
        << (d.stalled_partitions.size() == 1 ? "" : "s") << " (lag " << stalled_lag << ") left out";
  }
  if (d.flags.group_stopped) msg << "; the group stopped committing";
  int32_t floor = spec.min_replicas;
  if (!spec.allow_idle_consumers && floor > partition_cap) {
    floor = partition_cap;
    d.flags.min_above_partitions = true;
    msg << "; minReplicas " << spec.min_replicas << " capped at " << partition_cap
        << " (partitions)";
  }
  d.ceiling = std::max(d.ceiling, floor);
  d.flags.at_ceiling = d.ceiling > 0 && d.raw >= d.ceiling;
  d.flags.idle_members =
      !spec.allow_idle_consumers &&
      (d.current > partition_cap || (observation.members && *observation.members > d.partitions));
  if (d.flags.partial_observation) {
    msg << "; " << unknown << " of " << d.partitions << " partitions unreadable";
  }

  // Scale to and from zero. The group is idle while its lag is at or below
  // activation and no partition is active; deciding from rates, also while
  // nothing is produced: the produce rate is an average over the rate
  // window, which stays above zero for that long after the last message, so
  // an idle group goes to zero after the cooldown whatever the average asks.
  const bool quiet = !by_rate || produced_in_interval == 0;
  if (d.total_lag <= spec.activation_lag_threshold && !any_active && quiet) {
    if (!history.low_lag_since) history.low_lag_since = now;
  } else {
    history.low_lag_since.reset();
  }
  int32_t target = std::clamp(d.raw, floor, d.ceiling);
  bool cooling_down = false;
  if (floor == 0) {
    const bool activated = d.total_lag > spec.activation_lag_threshold || any_active;
    if (d.current == 0) {
      target = activated ? std::max(target, 1) : 0;
      if (any_active) msg << "; partitions active without commits";
    } else if (target == 0 || (by_rate && history.low_lag_since)) {
      const bool cooled =
          history.low_lag_since && now - *history.low_lag_since >= Seconds(spec.cooldown_seconds);
      const char* idle = by_rate ? " and nothing produced" : "";
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(
          now - history.low_lag_since.value_or(now));
      if (cooled && target > 0) {
        target = 0;
        msg << "; lag <= activation " << spec.activation_lag_threshold << idle << " for "
            << waited.count() << "s: cooldown " << spec.cooldown_seconds << "s over";
      } else if (!cooled) {
        target = std::max(target, 1);
        cooling_down = true;
        msg << "; lag <= activation " << spec.activation_lag_threshold << idle << " for "
            << waited.count() << "s of cooldown " << spec.cooldown_seconds << "s";
      }
    }
  }

  // Alignment.
  int32_t recommendation = std::max(Align(target, d.partitions, spec.alignment, d.ceiling), floor);
  if (recommendation != target) {
    msg << "; aligned " << target << " -> " << recommendation << " ("
        << (spec.alignment == Alignment::kBalanced ? "balanced" : "divisor") << ", "
        << CeilDiv(d.partitions, recommendation) << " partitions per replica)";
  }

  // Scale to zero after the cooldown bypasses the stabilization window: the
  // cooldown is that window.
  const ScalingRules up = Resolve(spec.behavior.scale_up, DefaultScaleUp());
  ScalingRules down_defaults = DefaultScaleDown();
  if (by_rate) {
    // The produce rate is already an average over the rate window: holding
    // its recommendations for the HPA's 300 s on top would smooth twice.
    down_defaults.stabilization_window_seconds =
        ClampToInt32(std::min<int64_t>(spec.rate_window_seconds, 300));
  }
  const ScalingRules down = Resolve(spec.behavior.scale_down, down_defaults);
  int32_t stabilized = recommendation;
  if (recommendation > 0 || d.current == 0) {
    // Stabilization over earlier recommendations, as the HPA: the lowest of
    // the up window bounds a rise, the highest of the down window a fall.
    int32_t up_bound = recommendation;
    int32_t down_bound = recommendation;
    const Timestamp up_cutoff = now - Seconds(*up.stabilization_window_seconds);
    const Timestamp down_cutoff = now - Seconds(*down.stabilization_window_seconds);
    for (const Recommendation& r : history.recommendations) {
      if (r.time > up_cutoff) up_bound = std::min(up_bound, r.replicas);
      if (r.time > down_cutoff) down_bound = std::max(down_bound, r.replicas);
    }
    stabilized = std::clamp(d.current, up_bound, down_bound);
    stabilized = std::clamp(stabilized, floor, d.ceiling);
    if (stabilized > recommendation && recommendation < d.current) {
      msg << "; scale-down held by " << *down.stabilization_window_seconds
          << "s window (max recommendation " << down_bound << ")";
    } else if (stabilized < recommendation && recommendation > d.current) {
      msg << "; scale-up held by " << *up.stabilization_window_seconds
          << "s window (min recommendation " << up_bound << ")";
    }
  }
  history.recommendations.push_back({now, recommendation});
  const Timestamp keep_after =
      now - Seconds(std::max(*up.stabilization_window_seconds, *down.stabilization_window_seconds));
  std::erase_if(history.recommendations,
                [&](const Recommendation& r) { return r.time <= keep_after; });

  // Rate limits, as the HPA's behavior policies. Unless the user set
  // scale-up policies, a count from the rates is reached in one step: it is
  // what the group needs, not a metric's proportional guess that the HPA's
  // steps guard against, and every intermediate step would cost the whole
  // group one more rebalance.
  const bool up_in_one_step = by_rate && !spec.behavior.scale_up.policies;
  int32_t desired = stabilized;
  bool limited = false;
  bool disabled = false;
  if (stabilized > d.current) {
    if (*up.select_policy == SelectPolicy::kDisabled) {
      desired = d.current;
      disabled = true;
      msg << "; scale-up disabled";
    } else if (!up_in_one_step) {
      // From zero, every policy's percentage of nothing is nothing; the HPA
      // never scales from zero, so allow at least one replica.
      const int32_t limit =
          std::max({ScaleUpLimit(d.current, history.scale_events, up, now), d.current, 1});
      if (limit < stabilized) {
        desired = limit;
        limited = true;
        msg << "; scale-up limited to " << limit << " by behavior ("
            << SelectPolicyName(*up.select_policy) << " of " << DescribePolicies(*up.policies, '+')
            << ")";
      }
    }
  } else if (stabilized < d.current && stabilized > 0) {
    if (*down.select_policy == SelectPolicy::kDisabled) {
      desired = d.current;
      disabled = true;
      msg << "; scale-down disabled";
    } else {
      const int32_t limit =
          std::min(ScaleDownLimit(d.current, history.scale_events, down, now), d.current);
      if (limit > stabilized) {
        desired = limit;
        limited = true;
        msg << "; scale-down limited to " << limit << " by behavior ("
            << SelectPolicyName(*down.select_policy) << " of "
            << DescribePolicies(*down.policies, '-') << ")";
      }
    }
  }

  // Every change costs the group a rebalance: after one, the next waits
  // until the group settled, unless lag ran away meanwhile, or the replicas
  // stand above the ceiling (maxReplicas lowered, partitions gone): a bound
  // the user set applies at once, as the HPA's maxReplicas does.
  bool settling = false;
  if (!settled && desired != d.current && d.current <= d.ceiling) {
    const ScaleChange& last = *history.last_change;
    const int64_t baseline = std::max(last.lag, spec.lag_threshold);
    if (desired > d.current && static_cast<double>(signal_lag) >
                                   spec.emergency_lag_factor * static_cast<double>(baseline)) {
      d.flags.emergency = true;
      msg << "; emergency: lag " << signal_lag << " > " << spec.emergency_lag_factor << " x "
          << baseline << " while the group settles";
    } else {
      desired = d.current;
      settling = true;
      msg << "; held while the group settles after the change to " << last.replicas << " replicas "
          << std::chrono::duration_cast<std::chrono::seconds>(now - last.time).count() << "s ago";
      if (observation.members) msg << " (" << *observation.members << " members)";
    }
  }

  // A partial observation's lag is a lower bound: never scale down on it.
  bool partial_hold = false;
  if (d.flags.partial_observation && desired < d.current) {
    desired = d.current;
    partial_hold = true;
    msg << "; scale-down held: lag is a lower bound";
  }

  d.desired = desired;
  if (spec.paused) {
    d.desired = d.current;
    d.reason = Reason::kPaused;
  } else if (desired > d.current) {
    d.reason = d.current == 0 ? Reason::kScaleFromZero
               : limited      ? Reason::kScaleUpLimited
                              : Reason::kScaleUp;
  } else if (desired < d.current) {
    d.reason = desired == 0 ? Reason::kScaleToZero
               : limited    ? Reason::kScaleDownLimited
                            : Reason::kScaleDown;
  } else if (settling) {
    d.reason = Reason::kRebalanceSettling;
  } else if (partial_hold) {
    d.reason = Reason::kPartialObservation;
  } else if (disabled) {
    d.reason = Reason::kScalingDisabled;
  } else if (limited) {
    d.reason = stabilized > d.current ? Reason::kScaleUpLimited : Reason::kScaleDownLimited;
  } else if (recommendation < d.current) {
    d.reason = Reason::kScaleDownStabilized;
  } else if (cooling_down) {
    d.reason = Reason::kCooldown;
  } else if (recommendation > d.current) {
    d.reason = Reason::kScaleUpStabilized;
  } else {
    d.reason = Reason::kSteady;
  }
  if (spec.paused) {
    msg << "; paused: holding " << d.current;
  } else {
    msg << "; desired " << d.desired << " (current " << d.current << ")";
  }
  d.message = msg.str();

  if (d.desired != d.current) RecordChange(&history, now, d.current, d.desired, signal_lag);
  const Timestamp events_after = now - Seconds(std::max(LongestPeriod(up), LongestPeriod(down)));
  std::erase_if(history.scale_events, [&](const ScaleEvent& e) { return e.time <= events_after; });
  d.rebalances_caused = history.rebalances_caused;
  d.history = std::move(history);
  return d;
}

}  // namespace groupscaler::policy
