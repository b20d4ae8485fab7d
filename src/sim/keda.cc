#include "sim/keda.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace groupscaler::sim {
namespace {

bool After(Timestamp t, Timestamp cutoff) { return t > cutoff; }

}  // namespace

KedaConfig KedaConfigFromSpec(const policy::Spec& spec) {
  KedaConfig config;
  config.lag_threshold = spec.lag_threshold;
  config.activation_lag_threshold = spec.activation_lag_threshold;
  config.min_replica_count = spec.min_replicas;
  config.max_replica_count = spec.max_replicas;
  config.allow_idle_consumers = spec.allow_idle_consumers;
  config.limit_to_partitions_with_lag = spec.limit_to_partitions_with_lag;
  config.offset_reset_policy = spec.offset_reset_policy;
  return config;
}

int32_t KedaScaler::ChangeInPeriod(const std::vector<ScaleEvent>& events, Timestamp now,
                                   int64_t period_seconds) {
  const Timestamp cutoff = now - std::chrono::seconds(period_seconds);
  int32_t change = 0;
  for (const ScaleEvent& e : events) {
    if (After(e.time, cutoff)) change += e.change;
  }
  return change;
}

policy::Decision KedaScaler::Sync(const policy::Observation& observation, Timestamp now) {
  policy::Decision decision;
  const int32_t current = observation.current_replicas;
  decision.current = current;

  // The scaler's metric.
  int64_t total = 0;
  int64_t partitions_with_lag = 0;
  for (const policy::PartitionObservation& p : observation.partitions) {
    int64_t lag = 0;
    if (p.committed_offset) {
      lag = std::max<int64_t>(0, p.log_end_offset - *p.committed_offset);
    } else {
      lag =
          config_.offset_reset_policy == policy::OffsetResetPolicy::kLatest ? 1 : p.log_end_offset;
    }
    total += lag;
    if (lag > 0) ++partitions_with_lag;
  }
  const int64_t partitions = static_cast<int64_t>(observation.partitions.size());
  int64_t ceiling = config_.max_replica_count;
  bool capped = false;
  if (!config_.allow_idle_consumers || config_.limit_to_partitions_with_lag) {
    const int64_t bound = config_.limit_to_partitions_with_lag ? partitions_with_lag : partitions;
    if (total / config_.lag_threshold > bound) {
      total = bound * config_.lag_threshold;
      capped = true;
    }
    ceiling = std::min<int64_t>(ceiling, bound);
  }
  decision.total_lag = total;
  decision.lag_known = true;
  decision.partitions = static_cast<int32_t>(partitions);
  decision.partitions_with_lag = static_cast<int32_t>(partitions_with_lag);
  decision.ceiling = static_cast<int32_t>(ceiling);
  const int64_t raw = (total + config_.lag_threshold - 1) / config_.lag_threshold;
  decision.raw = static_cast<int32_t>(std::min<int64_t>(raw, INT32_MAX));
  const std::string metric = "keda: lag " + std::to_string(total) + (capped ? " (capped)" : "") +
                             " / lagThreshold " + std::to_string(config_.lag_threshold);

  // KEDA's activation loop.
  const bool active = total > config_.activation_lag_threshold;
  if (!last_active_ || active) last_active_ = now;
  const bool poll =
      !last_poll_ || now - *last_poll_ >= std::chrono::seconds(config_.polling_interval_seconds);
  if (poll) last_poll_ = now;
  if (current == 0) {
    decision.desired = poll && active ? std::max(config_.min_replica_count, 1) : 0;
    decision.reason =
        decision.desired > 0 ? policy::Reason::kScaleFromZero : policy::Reason::kSteady;
    decision.message = metric + "; at zero, " + (active ? "active" : "not active");
    return decision;
  }
  if (config_.min_replica_count == 0 && poll && !active &&
      now - *last_active_ >= std::chrono::seconds(config_.cooldown_period_seconds)) {
    decision.desired = 0;
    decision.reason = policy::Reason::kScaleToZero;
    decision.message = metric + "; not active for the cooldown period";
    recommendations_.clear();
    return decision;
  }

  // The HPA: AverageValue with tolerance.
  const double usage_ratio =
      static_cast<double>(total) / (static_cast<double>(config_.lag_threshold) * current);
  const int32_t recommendation = std::abs(1.0 - usage_ratio) <= config_.tolerance
                                     ? current
                                     : static_cast<int32_t>(std::min<int64_t>(raw, INT32_MAX));

  // Stabilization: up 0 s (the recommendation itself), down the highest of
  // the window.
  const Timestamp down_cutoff =
      now - std::chrono::seconds(config_.scale_down_stabilization_seconds);
  std::erase_if(recommendations_,
                [&](const Recommendation& r) { return !After(r.time, down_cutoff); });
  int32_t down_recommendation = recommendation;
  for (const Recommendation& r : recommendations_) {
    down_recommendation = std::max(down_recommendation, r.replicas);
  }
  recommendations_.push_back({now, recommendation});
  int32_t stabilized = std::max(current, recommendation);
  stabilized = std::min(stabilized, down_recommendation);

  // Rate limits, from the replicas at the start of the period.
  const int32_t hpa_min = std::max(config_.min_replica_count, 1);
  const int32_t hpa_max = config_.max_replica_count;
  const int32_t period_start =
      current - ChangeInPeriod(scale_up_events_, now, config_.scale_period_seconds) +
      ChangeInPeriod(scale_down_events_, now, config_.scale_period_seconds);
  int32_t desired = stabilized;
  bool limited = false;
  if (stabilized > current) {
    int32_t limit = std::max<int32_t>(
        period_start + config_.scale_up_pods,
        static_cast<int32_t>(std::ceil(period_start * (1.0 + config_.scale_up_percent / 100.0))));
    limit = std::min(std::max(limit, current), hpa_max);
    if (desired > limit) {
      desired = limit;
      limited = true;
    }
  } else if (stabilized < current) {
    int32_t limit = static_cast<int32_t>(period_start * (1.0 - config_.scale_down_percent / 100.0));
    limit = std::min(limit, current);
    if (desired < limit) {
      desired = limit;
      limited = true;
    }
  }
  desired = std::clamp(desired, hpa_min, std::max(hpa_min, hpa_max));

  const Timestamp period_cutoff = now - std::chrono::seconds(config_.scale_period_seconds);
  for (auto* events : {&scale_up_events_, &scale_down_events_}) {
    std::erase_if(*events, [&](const ScaleEvent& e) { return !After(e.time, period_cutoff); });
  }
  if (desired > current) scale_up_events_.push_back({now, desired - current});
  if (desired < current) scale_down_events_.push_back({now, current - desired});

  decision.desired = desired;
  if (desired > current) {
    decision.reason = limited ? policy::Reason::kScaleUpLimited : policy::Reason::kScaleUp;
  } else if (desired < current) {
    decision.reason = limited ? policy::Reason::kScaleDownLimited : policy::Reason::kScaleDown;
  } else if (recommendation < current) {
    decision.reason = policy::Reason::kScaleDownStabilized;
  } else {
    decision.reason = policy::Reason::kSteady;
  }
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2f", usage_ratio);
  decision.message = metric + "; usage ratio " + ratio + " -> " + std::to_string(recommendation) +
                     "; stabilized " + std::to_string(stabilized) + "; desired " +
                     std::to_string(desired) + " (current " + std::to_string(current) + ")";
  return decision;
}

DecideFunction KedaScaler::AsDecideFunction() {
  return [this](const policy::Observation& observation, policy::History history,
                const policy::Spec&, Timestamp now) {
    policy::Decision decision = Sync(observation, now);
    decision.history = std::move(history);
    return decision;
  };
}

}  // namespace groupscaler::sim
