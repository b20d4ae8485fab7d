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

// A partition's lag for the scaler: end - committed (>= 0); uncommitted: 1 if `latest`, else end.
int64_t LagOf(const policy::PartitionObservation& p, policy::OffsetResetPolicy reset) {
  if (p.committed_offset) return std::max<int64_t>(0, p.log_end_offset - *p.committed_offset);
  return reset == policy::OffsetResetPolicy::kLatest ? 1 : p.log_end_offset;
}

// Why the HPA chose `desired`: a scale (limited or not), a scale-down held back, or steady.
policy::Reason HpaReason(int32_t desired, int32_t current, int32_t recommendation, bool limited) {
  if (desired > current) {
    return limited ? policy::Reason::kScaleUpLimited : policy::Reason::kScaleUp;
  }
  if (desired < current) {
    return limited ? policy::Reason::kScaleDownLimited : policy::Reason::kScaleDown;
  }
  if (recommendation < current) return policy::Reason::kScaleDownStabilized;
  return policy::Reason::kSteady;
}

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
  const int32_t current = observation.current_replicas;
  // The HPA's recordInitialRecommendation: its first sync records the
  // replicas it found (pkg/controller/podautoscaler/horizontal.go).
  if (!synced_) recommendations_.push_back({now, current});
  synced_ = true;
  const LagMetric metric = ReadMetric(observation);
  std::optional<Verdict> verdict = Activate(metric.total, current, now);
  if (!verdict) verdict = HpaSync(metric, current, now);
  return ToDecision(metric, current, *verdict);
}

KedaScaler::LagMetric KedaScaler::ReadMetric(const policy::Observation& observation) const {
  LagMetric metric;
  for (const policy::PartitionObservation& p : observation.partitions) {
    const int64_t lag = LagOf(p, config_.offset_reset_policy);
    metric.total += lag;
    if (lag > 0) ++metric.partitions_with_lag;
  }
  metric.partitions = static_cast<int64_t>(observation.partitions.size());
  metric.ceiling = config_.max_replica_count;
  if (!config_.allow_idle_consumers || config_.limit_to_partitions_with_lag) {
    const int64_t bound =
        config_.limit_to_partitions_with_lag ? metric.partitions_with_lag : metric.partitions;
    if (metric.total / config_.lag_threshold > bound) {
      metric.total = bound * config_.lag_threshold;
      metric.capped = true;
    }
    metric.ceiling = std::min<int64_t>(metric.ceiling, bound);
  }
  const int64_t raw = (metric.total + config_.lag_threshold - 1) / config_.lag_threshold;
  metric.raw = static_cast<int32_t>(std::min<int64_t>(raw, INT32_MAX));
  return metric;
}

std::optional<KedaScaler::Verdict> KedaScaler::Activate(int64_t total, int32_t current,
                                                        Timestamp now) {
  const bool active = total > config_.activation_lag_threshold;
  if (!last_active_ || active) last_active_ = now;
  const bool poll =
      !last_poll_ || now - *last_poll_ >= std::chrono::seconds(config_.polling_interval_seconds);
  if (poll) last_poll_ = now;
  if (current == 0) {
    const int32_t desired = poll && active ? std::max(config_.min_replica_count, 1) : 0;
    return Verdict{.desired = desired,
                   .reason = desired > 0 ? policy::Reason::kScaleFromZero : policy::Reason::kSteady,
                   .detail = std::string("at zero, ") + (active ? "active" : "not active")};
  }
  if (config_.min_replica_count == 0 && poll && !active &&
      now - *last_active_ >= std::chrono::seconds(config_.cooldown_period_seconds)) {
    recommendations_.clear();
    return Verdict{.desired = 0,
                   .reason = policy::Reason::kScaleToZero,
                   .detail = "not active for the cooldown period"};
  }
  return std::nullopt;
}

KedaScaler::Verdict KedaScaler::HpaSync(const LagMetric& metric, int32_t current, Timestamp now) {
  const double usage_ratio =
      static_cast<double>(metric.total) / (static_cast<double>(config_.lag_threshold) * current);
  const int32_t recommendation =
      std::abs(1.0 - usage_ratio) <= config_.tolerance ? current : metric.raw;
  const int32_t stabilized = Stabilize(recommendation, current, now);
  const RateLimited limited = LimitRate(stabilized, current, now);
  const int32_t hpa_min = std::max(config_.min_replica_count, 1);
  const int32_t desired =
      std::clamp(limited.replicas, hpa_min, std::max(hpa_min, config_.max_replica_count));
  RecordScale(desired, current, now);
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2f", usage_ratio);
  return {.desired = desired,
          .reason = HpaReason(desired, current, recommendation, limited.limited),
          .detail = std::string("usage ratio ") + ratio + " -> " + std::to_string(recommendation) +
                    "; stabilized " + std::to_string(stabilized) + "; desired " +
                    std::to_string(desired) + " (current " + std::to_string(current) + ")"};
}

int32_t KedaScaler::Stabilize(int32_t recommendation, int32_t current, Timestamp now) {
  const Timestamp cutoff = now - std::chrono::seconds(config_.scale_down_stabilization_seconds);
  std::erase_if(recommendations_, [&](const Recommendation& r) { return !After(r.time, cutoff); });
  int32_t highest = recommendation;
  for (const Recommendation& r : recommendations_) highest = std::max(highest, r.replicas);
  recommendations_.push_back({now, recommendation});
  return std::min(std::max(current, recommendation), highest);
}

KedaScaler::RateLimited KedaScaler::LimitRate(int32_t stabilized, int32_t current,
                                              Timestamp now) const {
  const int32_t period_start =
      current - ChangeInPeriod(scale_up_events_, now, config_.scale_period_seconds) +
      ChangeInPeriod(scale_down_events_, now, config_.scale_period_seconds);
  if (stabilized > current) {
    int32_t limit = std::max<int32_t>(
        period_start + config_.scale_up_pods,
        static_cast<int32_t>(std::ceil(period_start * (1.0 + config_.scale_up_percent / 100.0))));
    limit = std::min(std::max(limit, current), config_.max_replica_count);
    if (stabilized > limit) return {.replicas = limit, .limited = true};
  } else if (stabilized < current) {
    int32_t limit = static_cast<int32_t>(period_start * (1.0 - config_.scale_down_percent / 100.0));
    limit = std::min(limit, current);
    if (stabilized < limit) return {.replicas = limit, .limited = true};
  }
  return {.replicas = stabilized};
}

void KedaScaler::RecordScale(int32_t desired, int32_t current, Timestamp now) {
  const Timestamp cutoff = now - std::chrono::seconds(config_.scale_period_seconds);
  for (auto* events : {&scale_up_events_, &scale_down_events_}) {
    std::erase_if(*events, [&](const ScaleEvent& e) { return !After(e.time, cutoff); });
  }
  if (desired > current) scale_up_events_.push_back({now, desired - current});
  if (desired < current) scale_down_events_.push_back({now, current - desired});
}

policy::Decision KedaScaler::ToDecision(const LagMetric& metric, int32_t current,
                                        const Verdict& verdict) const {
  return {.current = current,
          .desired = verdict.desired,
          .raw = metric.raw,
          .ceiling = static_cast<int32_t>(metric.ceiling),
          .partitions = static_cast<int32_t>(metric.partitions),
          .partitions_with_lag = static_cast<int32_t>(metric.partitions_with_lag),
          .total_lag = metric.total,
          .lag_known = true,
          .reason = verdict.reason,
          .message = "keda: lag " + std::to_string(metric.total) +
                     (metric.capped ? " (capped)" : "") + " / lagThreshold " +
                     std::to_string(config_.lag_threshold) + "; " + verdict.detail};
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
