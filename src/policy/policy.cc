#include "policy/policy.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace groupscaler::policy {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

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
    if (d.desired != d.current) {
      history.scale_events.push_back({now, d.desired - d.current});
    }
  } else {
    d.reason = Reason::kObservationFailed;
    msg << "; holding " << d.current << " replicas";
    if (spec.fallback.replicas) {
      msg << " (failure " << failures << " of " << spec.fallback.failure_threshold
          << " before fallback to " << *spec.fallback.replicas << ")";
    }
  }
  d.message = msg.str();
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
    } else {
      // Both operands are in [0, 2^63-1]: the difference cannot overflow.
      r.lag = p.log_end_offset - std::max(committed, p.log_start_offset);
    }
    return r;
  }
  r.committed_missing = true;
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

Decision Decide(const Observation& observation, History history, const Spec& spec, Timestamp now) {
  if (observation.failed) {
    return HoldForFailure(observation, std::move(history), spec, now,
                          observation.error.empty() ? "no reason given" : observation.error);
  }

  Decision d;
  d.current = observation.current_replicas;

  // Lag per partition, against the end offsets seen last time.
  std::map<TopicPartition, int64_t> end_offsets;
  int32_t unknown = 0;
  bool any_active = false;
  for (const PartitionObservation& p : observation.partitions) {
    const TopicPartition key{p.topic, p.partition};
    std::optional<int64_t> previous_end;
    if (auto it = history.last_end_offsets.find(key); it != history.last_end_offsets.end()) {
      previous_end = it->second;
    }
    PartitionLag lag = ComputePartitionLag(p, spec.offset_reset_policy, previous_end);
    if (lag.known) {
      end_offsets[key] = p.log_end_offset;
      d.total_lag = SaturatingAdd(d.total_lag, lag.lag);
      if (lag.lag > 0 || lag.active) ++d.partitions_with_lag;
    } else {
      ++unknown;
      if (previous_end) end_offsets[key] = *previous_end;
    }
    any_active = any_active || lag.active;
    d.flags.committed_beyond_end |= lag.committed_beyond_end;
    d.flags.committed_missing |= lag.committed_missing;
    d.flags.negative_offsets |= lag.negative_offsets;
    d.partition_lags.push_back(std::move(lag));
  }
  d.partitions = ClampToInt32(static_cast<int64_t>(observation.partitions.size()));

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
  history.last_end_offsets = std::move(end_offsets);
  d.lag_known = true;
  d.flags.partial_observation = unknown > 0;

  // Ceiling and floor.
  const int32_t cpr = spec.consumers_per_replica;
  const int32_t partition_cap = PartitionCeiling(d.partitions, cpr);
  std::ostringstream msg;
  msg << "lag " << d.total_lag << " / threshold " << spec.lag_threshold << " = ";
  const int64_t raw = CeilDiv(d.total_lag, spec.lag_threshold);
  d.raw = ClampToInt32(raw);
  msg << raw << "; ceiling ";
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
      d.current > partition_cap || (observation.members && *observation.members > d.partitions);
  if (d.flags.partial_observation) {
    msg << "; " << unknown << " of " << d.partitions << " partitions unreadable";
  }

  // Scale to and from zero.
  if (d.total_lag <= spec.activation_lag_threshold && !any_active) {
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
    } else if (target == 0) {
      const bool cooled =
          history.low_lag_since && now - *history.low_lag_since >= Seconds(spec.cooldown_seconds);
      if (!cooled) {
        target = 1;
        cooling_down = true;
        const auto waited = std::chrono::duration_cast<std::chrono::seconds>(
            now - history.low_lag_since.value_or(now));
        msg << "; lag <= activation " << spec.activation_lag_threshold << " for " << waited.count()
            << "s of cooldown " << spec.cooldown_seconds << "s";
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
  const ScalingRules down = Resolve(spec.behavior.scale_down, DefaultScaleDown());
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

  // Rate limits, as the HPA's behavior policies.
  int32_t desired = stabilized;
  bool limited = false;
  bool disabled = false;
  if (stabilized > d.current) {
    if (*up.select_policy == SelectPolicy::kDisabled) {
      desired = d.current;
      disabled = true;
      msg << "; scale-up disabled";
    } else {
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

  if (d.desired != d.current) history.scale_events.push_back({now, d.desired - d.current});
  const Timestamp events_after = now - Seconds(std::max(LongestPeriod(up), LongestPeriod(down)));
  std::erase_if(history.scale_events, [&](const ScaleEvent& e) { return e.time <= events_after; });
  d.history = std::move(history);
  return d;
}

}  // namespace groupscaler::policy
