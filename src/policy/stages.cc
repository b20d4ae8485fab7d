#include "policy/stages.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy.h"

namespace groupscaler::policy::stages {
namespace {

// The throughput policy scales down only to a count that carries the demand
// and this fraction more: the HPA's tolerance, so that the produce rate's
// noise around one count's capacity does not flap between two counts.
constexpr double kScaleDownHeadroom = 0.1;

// Members that never all join hold scaling for at most this many times
// rebalanceSettleSeconds.
constexpr int64_t kSettleCapFactor = 4;

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

// The committed offset of `p`, where the group has one (librdkafka reports
// none as a negative sentinel).
std::optional<int64_t> Committed(const PartitionObservation& p) {
  if (p.committed_offset && *p.committed_offset >= 0) return p.committed_offset;
  return std::nullopt;
}

// `key`'s track, moved from `from` into `to`: the node itself, so the track
// keeps its address and nothing is allocated.
PartitionTrack& MoveTrack(std::map<TopicPartition, PartitionTrack>& from, const TopicPartition& key,
                          std::map<TopicPartition, PartitionTrack>& to) {
  return to.insert(from.extract(key)).position->second;
}

// `track` becomes `previous` (null: never seen) advanced to `p`, seen at
// `now` with `lag`; `previous` may be `track` itself.
PartitionStep Advance(const PartitionTrack* previous, std::optional<Timestamp> last_observed,
                      const PartitionObservation& p, int64_t lag, Timestamp now,
                      PartitionTrack* track) {
  PartitionStep step;
  const std::optional<int64_t> committed = Committed(p);
  if (previous) {
    if (previous != track) *track = *previous;
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

// This interval's sample per observed topic (zero where no partition of it
// was read at both ends).
std::map<std::string, RateSample> FreshSamples(const std::vector<PartitionStep>& steps,
                                               const std::vector<PartitionLag>& lags,
                                               double interval) {
  std::map<std::string, RateSample> fresh;
  for (size_t i = 0; i < steps.size(); ++i) {
    RateSample& sample = fresh[lags[i].topic];
    const PartitionStep& step = steps[i];
    if (!step.has_previous) continue;
    sample.seconds = interval;
    sample.produced += static_cast<double>(step.produced);
    sample.consumed += static_cast<double>(step.consumed);
    if (!lags[i].stalled) sample.produced_unstalled += static_cast<double>(step.produced);
  }
  return fresh;
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

// Every replica is a member (or each of its consumer threads is).
bool Joined(int64_t members, int64_t replicas, const Spec& spec) {
  return members == replicas || members == replicas * spec.consumers_per_replica;
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

// ---------------------------------------------------------------------------
// The message: one function a stage, each appending "; ..." where its stage
// has something to say.

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

// "produce 100.0/s + lag 600 / 60s drain = 110.0/s"
void DescribeDemand(std::ostream& out, const Demand& demand) {
  out << "produce " << demand.produce_rate << "/s + ";
  if (demand.rebalance_allowance > 0) {
    out << "(lag " << demand.lag << " - " << demand.rebalance_allowance
        << " left by the last scale-down's rebalance)";
  } else {
    out << "lag " << demand.lag;
  }
  out << " / " << demand.drain_seconds << "s drain = " << demand.PerSecond() << "/s";
}

void DescribeThroughput(std::ostream& out, const ThroughputTarget& t, const TargetInputs& in) {
  DescribeDemand(out, in.demand);
  out << " over " << in.carrying << " partitions, at " << *in.per_replica_rate
      << "/s per replica (";
  if (t.learned_from) {
    out << "learned from " << *t.learned_from << " saturated interval"
        << (*t.learned_from == 1 ? "" : "s");
  } else {
    out << "perReplicaRateHint";
  }
  out << ") = " << t.for_demand;
  if (t.replicas != t.for_demand) {
    out << " (" << t.replicas << " with " << kScaleDownHeadroom * 100
        << "% headroom to scale down)";
  }
}

void DescribeLag(std::ostream& out, const LagTarget& t, const TargetInputs& in, const Spec& spec) {
  if (t.fallback != FallbackCause::kNone) {
    out << "throughput policy falls back to lag ("
        << (t.fallback == FallbackCause::kProduceRateUnknown
                ? "produce rate not known yet"
                : "per-replica rate unknown: no hint, no saturated interval yet")
        << "): ";
  }
  out << "lag " << in.signal.lag << " / threshold " << spec.lag_threshold << " = " << t.for_lag;
  if (t.capped_by) {
    out << ", capped at " << t.replicas << ": ";
    DescribeDemand(out, in.demand);
    out << " at " << *t.capped_by << "/s per replica (lower bound: consumed per working replica)";
  }
}

void DescribeRaw(std::ostream& out, const RawTarget& raw, const TargetInputs& in,
                 const Spec& spec) {
  if (raw.throughput) DescribeThroughput(out, *raw.throughput, in);
  if (raw.lag) DescribeLag(out, *raw.lag, in, spec);
  if (raw.age) {
    out << "; time lag " << in.signal.max_age_bound << "s / target " << *spec.lag_seconds_threshold
        << "s x " << raw.age->working << " replicas = " << raw.age->replicas;
  }
}

void DescribeCeiling(std::ostream& out, const Bounds& b, const Spec& spec) {
  out << "; ceiling " << b.named_ceiling;
  if (b.ceiling_by == CeilingBy::kIdleAllowed) {
    out << " (maxReplicas; idle consumers allowed)";
    return;
  }
  out << " (";
  if (b.ceiling_by == CeilingBy::kMaxReplicas) {
    out << "maxReplicas";
  } else {
    out << b.ceiling_partitions
        << (spec.limit_to_partitions_with_lag ? " partitions with lag" : " partitions");
    if (spec.consumers_per_replica > 1) {
      out << " / " << spec.consumers_per_replica << " consumers per replica";
    }
  }
  out << ")";
}

void DescribeStalls(std::ostream& out, const LagSignal& signal) {
  const size_t stalled = signal.stalled_partitions.size();
  if (stalled > 0) {
    out << "; " << stalled << " stalled partition" << (stalled == 1 ? "" : "s") << " (lag "
        << signal.stalled_lag << ") left out";
  }
  if (signal.group_stopped) out << "; the group stopped committing";
}

void DescribeZero(std::ostream& out, const ZeroStep& zero, const Spec& spec) {
  if (zero.state == ZeroState::kActiveWithoutCommits) {
    out << "; partitions active without commits";
  }
  if (zero.state != ZeroState::kCooldownOver && zero.state != ZeroState::kCoolingDown) return;
  out << "; lag <= activation " << spec.activation_lag_threshold
      << (zero.by_rate ? " and nothing produced" : "") << " for " << zero.idle_seconds << "s";
  if (zero.state == ZeroState::kCooldownOver) {
    out << ": cooldown " << spec.cooldown_seconds << "s over";
  } else {
    out << " of cooldown " << spec.cooldown_seconds << "s";
  }
}

void DescribeAlignment(std::ostream& out, const Aligned& aligned, int32_t partitions,
                       Alignment alignment) {
  if (aligned.replicas == aligned.from) return;
  out << "; aligned " << aligned.from << " -> " << aligned.replicas << " ("
      << (alignment == Alignment::kBalanced ? "balanced" : "divisor") << ", "
      << CeilDiv(partitions, aligned.replicas) << " partitions per replica)";
}

void DescribeStabilized(std::ostream& out, const Stabilized& s) {
  if (s.held == Held::kScaleDown) {
    out << "; scale-down held by " << s.window_seconds << "s window (max recommendation " << s.bound
        << ")";
  } else if (s.held == Held::kScaleUp) {
    out << "; scale-up held by " << s.window_seconds << "s window (min recommendation " << s.bound
        << ")";
  }
}

void DescribeLimited(std::ostream& out, const Limited& l, const Rules& rules) {
  const bool up = l.direction == Direction::kUp;
  const ScalingRules& r = up ? rules.up : rules.down;
  const char* step = up ? "; scale-up" : "; scale-down";
  if (l.disabled) out << step << " disabled";
  if (!l.limited) return;
  out << step << " limited to " << l.replicas << " by behavior ("
      << SelectPolicyName(*r.select_policy) << " of "
      << DescribePolicies(*r.policies, up ? '+' : '-') << ")";
}

void DescribeSettle(std::ostream& out, const Pipeline& p, const Spec& spec) {
  if (p.settle.emergency) {
    out << "; emergency: lag " << p.signal.lag << " > " << spec.emergency_lag_factor << " x "
        << p.settle.baseline << " while the group settles";
  }
  if (!p.settle.held) return;
  const ScaleChange& last = *p.last_change;
  out << "; held while the group settles after the change to " << last.replicas << " replicas "
      << std::chrono::duration_cast<std::chrono::seconds>(p.now - last.time).count() << "s ago";
  if (p.members) out << " (" << *p.members << " members)";
}

// Why nothing changed, the first that applies.
Reason HoldReason(const Pipeline& p) {
  if (p.settle.held) return Reason::kRebalanceSettling;
  if (p.partial.held) return Reason::kPartialObservation;
  if (p.limited.disabled) return Reason::kScalingDisabled;
  if (p.limited.limited) {
    return p.limited.direction == Direction::kUp ? Reason::kScaleUpLimited
                                                 : Reason::kScaleDownLimited;
  }
  if (p.aligned.replicas < p.current) return Reason::kScaleDownStabilized;
  if (p.zero.state == ZeroState::kCoolingDown) return Reason::kCooldown;
  if (p.aligned.replicas > p.current) return Reason::kScaleUpStabilized;
  return Reason::kSteady;
}

}  // namespace

int32_t ClampToInt32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, 0, kInt32Max));
}

// ---------------------------------------------------------------------------
// 1. Observe lag.

LagObservation ObserveLag(const Observation& observation, History& history, OffsetResetPolicy reset,
                          Timestamp now) {
  const size_t n = observation.partitions.size();
  LagObservation out;
  out.steps.resize(n);
  out.age_bounds.resize(n, 0);
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
    PartitionLag lag = ComputePartitionLag(p, reset, previous_end);
    if (lag.known) {
      out.total_lag = SaturatingAdd(out.total_lag, lag.lag);
      if (lag.lag > 0 || lag.active) ++out.partitions_with_lag;
      // A partition listed twice: the second listing advances what the first left.
      PartitionTrack& track = previous && !out.tracks.contains(key)
                                  ? MoveTrack(history.partitions, key, out.tracks)
                                  : out.tracks[key];
      out.steps[i] = Advance(previous, history.last_observed, p, lag.lag, now, &track);
      if (lag.lag == 0) {
        lag.time_lag_seconds = 0.0;
      } else {
        lag.time_lag_seconds = TimeLagSeconds(track.end_points, p.log_end_offset - lag.lag, now);
        out.age_bounds[i] =
            lag.time_lag_seconds.value_or(ToSeconds(now - track.end_points.front().time));
      }
    } else {
      ++out.unknown;
      if (previous) out.tracks[key] = *previous;
    }
    out.any_active = out.any_active || lag.active;
    out.committed_beyond_end |= lag.committed_beyond_end;
    out.committed_missing |= lag.committed_missing;
    out.negative_offsets |= lag.negative_offsets;
    out.partition_lags.push_back(std::move(lag));
  }
  return out;
}

// ---------------------------------------------------------------------------
// 2. Stalls and the scaling signal.

std::vector<PartitionLag> MarkStalls(std::vector<PartitionLag> lags,
                                     const std::map<TopicPartition, PartitionTrack>& tracks,
                                     bool has_members, Timestamp::duration stall_window,
                                     Timestamp now) {
  bool committing = false;
  for (const auto& [key, track] : tracks) {
    committing = committing || now - track.commit_moved_at < stall_window;
  }
  for (PartitionLag& lag : lags) {
    if (!lag.known || lag.lag <= 0) continue;
    const auto track = tracks.find({lag.topic, lag.partition});
    if (track != tracks.end() && now - track->second.progress_at < stall_window) continue;
    if (has_members && committing) {
      lag.stalled = true;
    } else {
      lag.stopped = true;
    }
  }
  return lags;
}

LagSignal SignalLag(const std::vector<PartitionLag>& lags, const std::vector<double>& age_bounds) {
  LagSignal s;
  for (size_t i = 0; i < lags.size(); ++i) {
    const PartitionLag& lag = lags[i];
    if (!lag.known) continue;
    s.group_stopped = s.group_stopped || lag.stopped;
    if (lag.time_lag_seconds) {
      s.max_time_lag_seconds = std::max(s.max_time_lag_seconds.value_or(0), *lag.time_lag_seconds);
      s.total_time_lag_seconds = s.total_time_lag_seconds.value_or(0) + *lag.time_lag_seconds;
    }
    if (lag.stalled) {
      s.stalled_partitions.push_back({lag.topic, lag.partition});
      s.stalled_lag = SaturatingAdd(s.stalled_lag, lag.lag);
      continue;
    }
    s.lag = SaturatingAdd(s.lag, lag.lag);
    if (lag.lag > 0) {
      s.any_lag = true;
      s.max_age_bound = std::max(s.max_age_bound, age_bounds[i]);
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// 3. Rates per topic.

TopicRates MeasureRates(const std::vector<PartitionStep>& steps,
                        const std::vector<PartitionLag>& lags,
                        std::map<std::string, std::vector<RateSample>> previous, double interval,
                        Timestamp::duration rate_window, Timestamp now) {
  TopicRates out;
  for (const PartitionStep& step : steps) out.produced = SaturatingAdd(out.produced, step.produced);
  for (auto& [topic, sample] : FreshSamples(steps, lags, interval)) {
    std::vector<RateSample>& samples = out.samples[topic];
    if (auto it = previous.find(topic); it != previous.end()) samples = std::move(it->second);
    if (interval > 0 && sample.seconds > 0) {
      sample.time = now;
      samples.push_back(sample);
    }
    const std::optional<Rates> rates = WindowRates(&samples, now - rate_window);
    TopicRate& rate = out.topic_rates.emplace_back(TopicRate{.topic = topic});
    if (!rates) {
      out.produce_known = false;
      continue;
    }
    rate.produce_rate = rates->produced;
    rate.consume_rate = rates->consumed;
    out.produce_rate += rates->produced_unstalled;
  }
  return out;
}

// ---------------------------------------------------------------------------
// 4. Settling and learning the per-replica rate.

bool Settled(const History& history, const Observation& observation, const Spec& spec,
             Timestamp now) {
  if (!history.last_change || observation.current_replicas == 0) return true;
  const auto elapsed = now - history.last_change->time;
  if (!observation.members) return elapsed >= Seconds(spec.rebalance_settle_seconds);
  return (Joined(*observation.members, observation.current_replicas, spec) &&
          observation.group_stable.value_or(true)) ||
         elapsed >= Seconds(kSettleCapFactor * spec.rebalance_settle_seconds);
}

std::optional<ScaleChange> NoteSettled(std::optional<ScaleChange> last_change, bool settled,
                                       int32_t current, int64_t signal_lag, Timestamp now) {
  if (!settled || !last_change || last_change->settled_at) return last_change;
  last_change->settled_at = now;
  if (last_change->replicas < last_change->from && current == last_change->replicas) {
    last_change->rebalance_backlog = std::max<int64_t>(0, signal_lag - last_change->lag);
  }
  return last_change;
}

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

LearnedRate UpdateRate(LearnedRate learned, const RateEvidence& evidence,
                       std::optional<double> hint, double alpha) {
  learned.lower_bound = std::max(learned.lower_bound.value_or(0), evidence.lower_bound);
  if (!evidence.saturated) return learned;
  const std::optional<double> prior = learned.per_replica_rate ? learned.per_replica_rate : hint;
  if (!prior) {
    learned.per_replica_rate = evidence.rate;
  } else if (evidence.flat_out) {
    learned.per_replica_rate = *prior + alpha * (evidence.rate - *prior);
  } else {
    learned.per_replica_rate = std::max(*prior, evidence.rate);
  }
  if (learned.saturated_intervals < kInt64Max) ++learned.saturated_intervals;
  return learned;
}

LearnedRate LearnRate(LearnedRate learned, const History& history, const Observation& observation,
                      const Spec& spec, const LagObservation& lags, double interval,
                      bool group_stopped) {
  if (!(interval > 0) || lags.unknown != 0 || group_stopped) return learned;
  const std::optional<int32_t> steady = WorkingReplicas(history, observation, spec);
  if (!steady) return learned;
  const int32_t partitions = ClampToInt32(static_cast<int64_t>(lags.steps.size()));
  const int32_t working =
      std::min(*steady, PartitionCeiling(partitions, spec.consumers_per_replica));
  std::vector<bool> stalled(lags.partition_lags.size());
  for (size_t i = 0; i < stalled.size(); ++i) stalled[i] = lags.partition_lags[i].stalled;
  const std::optional<RateEvidence> evidence = IntervalRate(lags.steps, stalled, interval, working);
  if (!evidence) return learned;
  const double alpha = std::min(1.0, interval / static_cast<double>(spec.rate_window_seconds));
  return UpdateRate(learned, *evidence, spec.per_replica_rate_hint, alpha);
}

// ---------------------------------------------------------------------------
// 5. The raw target.

double Demand::PerSecond() const {
  return produce_rate +
         static_cast<double>(lag - rebalance_allowance) / static_cast<double>(drain_seconds);
}

double Demand::WholePerSecond() const {
  return produce_rate + static_cast<double>(lag) / static_cast<double>(drain_seconds);
}

int64_t RebalanceAllowance(const std::optional<ScaleChange>& last_change, int64_t signal_lag,
                           int64_t drain_seconds, Timestamp now) {
  if (!last_change || !last_change->settled_at) return 0;
  const double left =
      1 - ToSeconds(now - *last_change->settled_at) / static_cast<double>(drain_seconds);
  if (!(left > 0)) return 0;
  return std::min(signal_lag,
                  FloorToCount(static_cast<double>(last_change->rebalance_backlog) * left));
}

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

ThroughputTarget ByThroughput(const TargetInputs& in) {
  const double rate = *in.per_replica_rate;
  ThroughputTarget t;
  t.for_demand = ReplicasForDemand(in.demand.PerSecond(), rate, in.partitions, in.carrying);
  t.replicas = t.for_demand;
  if (in.learned.per_replica_rate) t.learned_from = in.learned.saturated_intervals;
  if (t.replicas < in.current) {
    const int32_t with_headroom = ReplicasForDemand(
        in.demand.WholePerSecond() * (1 + kScaleDownHeadroom), rate, in.partitions, in.carrying);
    if (with_headroom > t.replicas) t.replicas = std::min(with_headroom, in.current);
  }
  return t;
}

LagTarget ByLag(const TargetInputs& in, const Spec& spec) {
  LagTarget t;
  const bool throughput = spec.policy_type == PolicyType::kThroughput;
  if (throughput) {
    t.fallback = in.per_replica_rate ? FallbackCause::kProduceRateUnknown
                                     : FallbackCause::kPerReplicaRateUnknown;
  }
  t.for_lag = CeilDiv(in.signal.lag, spec.lag_threshold);
  t.replicas = t.for_lag;
  const std::optional<double> lower_bound = in.learned.lower_bound;
  if (!throughput || in.per_replica_rate || !lower_bound || !in.produce_known ||
      t.for_lag <= in.current) {
    return t;
  }
  const int32_t enough =
      std::max(ReplicasForDemand(in.demand.PerSecond(), *lower_bound, in.partitions, in.carrying),
               in.current);
  if (enough < t.for_lag) {
    t.replicas = enough;
    t.capped_by = *lower_bound;
  }
  return t;
}

std::optional<AgeTarget> ByAge(const TargetInputs& in, const Spec& spec) {
  if (!spec.lag_seconds_threshold || !in.signal.any_lag) return std::nullopt;
  AgeTarget t;
  t.working = std::clamp<int64_t>(in.current, 1, std::max(in.partition_cap, 1));
  t.replicas = CeilToReplicas(static_cast<double>(t.working) * in.signal.max_age_bound /
                              static_cast<double>(*spec.lag_seconds_threshold));
  return t;
}

RawTarget ComputeRawTarget(const TargetInputs& in, const Spec& spec) {
  RawTarget raw;
  int64_t replicas = 0;
  if (spec.policy_type == PolicyType::kThroughput && in.per_replica_rate && in.produce_known) {
    raw.throughput = ByThroughput(in);
    replicas = raw.throughput->replicas;
  } else {
    raw.lag = ByLag(in, spec);
    replicas = raw.lag->replicas;
  }
  raw.age = ByAge(in, spec);
  if (raw.age) replicas = std::max(replicas, raw.age->replicas);
  raw.replicas = ClampToInt32(replicas);
  return raw;
}

// ---------------------------------------------------------------------------
// 6. Ceiling and floor.

Bounds CeilingAndFloor(const Spec& spec, int32_t partitions, int32_t partitions_with_lag,
                       int32_t raw, int32_t current, std::optional<int32_t> members) {
  const int32_t partition_cap = PartitionCeiling(partitions, spec.consumers_per_replica);
  Bounds b;
  if (spec.allow_idle_consumers) {
    b.named_ceiling = spec.max_replicas;
    b.ceiling_by = CeilingBy::kIdleAllowed;
  } else {
    b.ceiling_partitions = spec.limit_to_partitions_with_lag ? partitions_with_lag : partitions;
    const int32_t cap = PartitionCeiling(b.ceiling_partitions, spec.consumers_per_replica);
    b.named_ceiling = std::min(spec.max_replicas, cap);
    b.ceiling_by = spec.max_replicas < cap ? CeilingBy::kMaxReplicas : CeilingBy::kPartitions;
  }
  b.floor = spec.min_replicas;
  if (!spec.allow_idle_consumers && b.floor > partition_cap) {
    b.floor = partition_cap;
    b.min_above_partitions = true;
  }
  b.ceiling = std::max(b.named_ceiling, b.floor);
  b.target = std::clamp(raw, b.floor, b.ceiling);
  b.at_ceiling = b.ceiling > 0 && raw >= b.ceiling;
  b.idle_members =
      !spec.allow_idle_consumers && (current > partition_cap || (members && *members > partitions));
  return b;
}

// ---------------------------------------------------------------------------
// 7. Zero.

std::optional<Timestamp> IdleSince(std::optional<Timestamp> since, const Spec& spec,
                                   int64_t total_lag, bool any_active, bool by_rate,
                                   int64_t produced, Timestamp now) {
  const bool quiet = !by_rate || produced == 0;
  if (total_lag <= spec.activation_lag_threshold && !any_active && quiet) {
    return since.value_or(now);
  }
  return std::nullopt;
}

ZeroStep ScaleToZero(const Bounds& bounds, const Spec& spec, int32_t current, int64_t total_lag,
                     bool any_active, bool by_rate, std::optional<Timestamp> idle_since,
                     Timestamp now) {
  ZeroStep z{.target = bounds.target, .by_rate = by_rate};
  if (bounds.floor != 0) return z;
  if (current == 0) {
    const bool activated = total_lag > spec.activation_lag_threshold || any_active;
    z.target = activated ? std::max(bounds.target, 1) : 0;
    if (any_active) z.state = ZeroState::kActiveWithoutCommits;
    return z;
  }
  if (bounds.target != 0 && !(by_rate && idle_since)) return z;
  const bool cooled = idle_since && now - *idle_since >= Seconds(spec.cooldown_seconds);
  z.idle_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now - idle_since.value_or(now)).count();
  if (cooled && bounds.target > 0) {
    z.target = 0;
    z.state = ZeroState::kCooldownOver;
  } else if (!cooled) {
    z.target = std::max(bounds.target, 1);
    z.state = ZeroState::kCoolingDown;
  }
  return z;
}

// ---------------------------------------------------------------------------
// 8. Alignment.

Aligned AlignTarget(int32_t target, int32_t partitions, Alignment alignment, int32_t ceiling,
                    int32_t floor) {
  return {.from = target,
          .replicas = std::max(Align(target, partitions, alignment, ceiling), floor)};
}

// ---------------------------------------------------------------------------
// 9. Stabilization.

Rules ResolveRules(const Spec& spec, bool by_rate) {
  ScalingRules down_defaults = DefaultScaleDown();
  if (by_rate) {
    down_defaults.stabilization_window_seconds =
        ClampToInt32(std::min<int64_t>(spec.rate_window_seconds, 300));
  }
  return {.up = Resolve(spec.behavior.scale_up, DefaultScaleUp()),
          .down = Resolve(spec.behavior.scale_down, down_defaults)};
}

Stabilized Stabilize(int32_t recommendation, int32_t current, const Bounds& bounds,
                     const std::vector<Recommendation>& past, const Rules& rules, Timestamp now) {
  Stabilized s{.replicas = recommendation};
  if (recommendation <= 0 && current != 0) return s;
  int32_t up_bound = recommendation;
  int32_t down_bound = recommendation;
  const int32_t up_window = *rules.up.stabilization_window_seconds;
  const int32_t down_window = *rules.down.stabilization_window_seconds;
  for (const Recommendation& r : past) {
    if (r.time > now - Seconds(up_window)) up_bound = std::min(up_bound, r.replicas);
    if (r.time > now - Seconds(down_window)) down_bound = std::max(down_bound, r.replicas);
  }
  s.replicas = std::clamp(std::clamp(current, up_bound, down_bound), bounds.floor, bounds.ceiling);
  if (s.replicas > recommendation && recommendation < current) {
    s = {.replicas = s.replicas,
         .held = Held::kScaleDown,
         .window_seconds = down_window,
         .bound = down_bound};
  } else if (s.replicas < recommendation && recommendation > current) {
    s = {.replicas = s.replicas,
         .held = Held::kScaleUp,
         .window_seconds = up_window,
         .bound = up_bound};
  }
  return s;
}

std::vector<Recommendation> KeepRecommendations(std::vector<Recommendation> past,
                                                Recommendation recommendation, const Rules& rules,
                                                Timestamp now) {
  past.push_back(recommendation);
  const Timestamp keep_after = now - Seconds(std::max(*rules.up.stabilization_window_seconds,
                                                      *rules.down.stabilization_window_seconds));
  std::erase_if(past, [&](const Recommendation& r) { return r.time <= keep_after; });
  return past;
}

// ---------------------------------------------------------------------------
// 10. Behavior limits.

Limited LimitStep(int32_t stabilized, int32_t current, const std::vector<ScaleEvent>& events,
                  const Rules& rules, bool up_in_one_step, Timestamp now) {
  Limited l{.replicas = stabilized};
  if (stabilized > current) {
    l.direction = Direction::kUp;
    if (*rules.up.select_policy == SelectPolicy::kDisabled) {
      l = {.replicas = current, .direction = l.direction, .disabled = true};
    } else if (!up_in_one_step) {
      const int32_t limit = std::max({ScaleUpLimit(current, events, rules.up, now), current, 1});
      if (limit < stabilized) l = {.replicas = limit, .direction = l.direction, .limited = true};
    }
  } else if (stabilized < current) {
    l.direction = Direction::kDown;
    if (stabilized == 0) return l;
    if (*rules.down.select_policy == SelectPolicy::kDisabled) {
      l = {.replicas = current, .direction = l.direction, .disabled = true};
    } else {
      const int32_t limit = std::min(ScaleDownLimit(current, events, rules.down, now), current);
      if (limit > stabilized) l = {.replicas = limit, .direction = l.direction, .limited = true};
    }
  }
  return l;
}

// ---------------------------------------------------------------------------
// 11. Settle and hold.

SettleHold HoldWhileSettling(int32_t desired, int32_t current, int32_t ceiling, bool settled,
                             const std::optional<ScaleChange>& last_change, int64_t signal_lag,
                             const Spec& spec) {
  SettleHold h{.replicas = desired};
  if (settled || desired == current || current > ceiling) return h;
  h.baseline = std::max(last_change->lag, spec.lag_threshold);
  if (desired > current && static_cast<double>(signal_lag) >
                               spec.emergency_lag_factor * static_cast<double>(h.baseline)) {
    h.emergency = true;
  } else {
    h.replicas = current;
    h.held = true;
  }
  return h;
}

PartialHold HoldOnPartialLag(int32_t desired, int32_t current, bool partial) {
  if (partial && desired < current) return {.replicas = current, .held = true};
  return {.replicas = desired};
}

// ---------------------------------------------------------------------------
// The reason and the message.

int32_t Desired(const Pipeline& p, bool paused) { return paused ? p.current : p.partial.replicas; }

Reason ChooseReason(const Pipeline& p, bool paused) {
  const int32_t desired = p.partial.replicas;
  if (paused) return Reason::kPaused;
  if (desired > p.current) {
    if (p.current == 0) return Reason::kScaleFromZero;
    return p.limited.limited ? Reason::kScaleUpLimited : Reason::kScaleUp;
  }
  if (desired < p.current) {
    if (desired == 0) return Reason::kScaleToZero;
    return p.limited.limited ? Reason::kScaleDownLimited : Reason::kScaleDown;
  }
  return HoldReason(p);
}

std::string DescribePipeline(const Pipeline& p, const Spec& spec) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  DescribeRaw(out, p.raw, p.inputs, spec);
  DescribeCeiling(out, p.bounds, spec);
  DescribeStalls(out, p.signal);
  if (p.bounds.min_above_partitions) {
    out << "; minReplicas " << spec.min_replicas << " capped at " << p.bounds.floor
        << " (partitions)";
  }
  if (p.lags.unknown > 0) {
    out << "; " << p.lags.unknown << " of " << p.partitions << " partitions unreadable";
  }
  DescribeZero(out, p.zero, spec);
  DescribeAlignment(out, p.aligned, p.partitions, spec.alignment);
  DescribeStabilized(out, p.stabilized);
  DescribeLimited(out, p.limited, p.rules);
  DescribeSettle(out, p, spec);
  if (p.partial.held) out << "; scale-down held: lag is a lower bound";
  if (spec.paused) {
    out << "; paused: holding " << p.current;
  } else {
    out << "; desired " << p.partial.replicas << " (current " << p.current << ")";
  }
  return out.str();
}

}  // namespace groupscaler::policy::stages
