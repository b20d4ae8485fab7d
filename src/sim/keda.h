#pragma once

// KEDA's Kafka scaler behind a Kubernetes HPA, as a stepper the model can
// call in place of policy::Decide: the baseline groupscaler is measured
// against. Independent of src/policy on purpose (it shares no code with the
// policy it is compared with). Pure: the same calls give the same answers.
//
// What it reproduces, with KEDA's and the HPA's defaults:
// * The scaler's metric (pkg/scalers/kafka_scaler.go, getTotalLag): the sum
//   over partitions of end - committed (a partition without a commit: 1
//   under `latest`, as with scaleToZeroOnInvalidOffset false; its end under
//   `earliest`). With allowIdleConsumers false (the default) the total is
//   capped at partitions x lagThreshold, so the HPA never asks for more
//   replicas than partitions; with limitToPartitionsWithLag (default false)
//   at partitions-with-lag x lagThreshold. excludePersistentLag is off.
// * The HPA, every sync (15 s, the controller manager's default): the
//   metric is an External metric of type AverageValue with target
//   lagThreshold, so usage ratio = total / (lagThreshold x current); within
//   the 10% tolerance the replicas stay, otherwise the recommendation is
//   ceil(total / lagThreshold). Then the default behavior: scale-up
//   stabilization 0 s, scale-down stabilization 300 s (the highest
//   recommendation of the last 300 s), scale-up limited to max(+4 pods,
//   +100%) per 15 s counted from the replicas at the start of the period,
//   scale-down 100% per 15 s; then [max(minReplicaCount, 1), maxReplicaCount].
// * KEDA's own loop, every pollingInterval (30 s): only activation. A target
//   at zero goes to one when the total exceeds activationLagThreshold; with
//   minReplicaCount 0 a target goes to zero after cooldownPeriod (300 s)
//   without activity. Metrics are not cached (useCachedMetrics false), so
//   the HPA reads fresh lag at each sync.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "policy/types.h"
#include "sim/model.h"

namespace groupscaler::sim {

// The HPA controller's default --horizontal-pod-autoscaler-sync-period: the
// poll interval to run the model with for KEDA.
inline constexpr int32_t kHpaSyncPeriodSeconds = 15;

struct KedaConfig {
  int64_t lag_threshold = 10;  // KEDA's default lagThreshold
  int64_t activation_lag_threshold = 0;
  int32_t min_replica_count = 0;    // KEDA's default
  int32_t max_replica_count = 100;  // KEDA's default
  bool allow_idle_consumers = false;
  bool limit_to_partitions_with_lag = false;
  policy::OffsetResetPolicy offset_reset_policy = policy::OffsetResetPolicy::kLatest;
  double tolerance = 0.1;
  int64_t polling_interval_seconds = 30;
  int64_t cooldown_period_seconds = 300;
  int64_t scale_down_stabilization_seconds = 300;
  int32_t scale_up_pods = 4;         // per scale_period_seconds
  int32_t scale_up_percent = 100;    // per scale_period_seconds
  int32_t scale_down_percent = 100;  // per scale_period_seconds
  int64_t scale_period_seconds = 15;
};

// The ScaledObject a user would write for `spec`: its lagThreshold,
// activationLagThreshold, minReplicas, maxReplicas, offset reset policy,
// allowIdleConsumers and limitToPartitionsWithLag; KEDA's defaults for the
// rest.
KedaConfig KedaConfigFromSpec(const policy::Spec& spec);

class KedaScaler {
 public:
  explicit KedaScaler(KedaConfig config) : config_(config) {}

  // One HPA sync at `now`. Fills desired, current, raw (the metric's
  // recommendation), total_lag, ceiling (the replicas the capped metric can
  // ask for at most), reason and message.
  policy::Decision Sync(const policy::Observation& observation, Timestamp now);

  // Sync as a DecideFunction (the spec and history are not used). The
  // scaler must outlive the function.
  DecideFunction AsDecideFunction();

 private:
  // The scaler's metric for one observation.
  struct LagMetric {
    int64_t total = 0;  // capped as allowIdleConsumers and limitToPartitionsWithLag say
    bool capped = false;
    int64_t partitions = 0;
    int64_t partitions_with_lag = 0;
    int64_t ceiling = 0;  // the replicas the capped total can ask for at most
    int32_t raw = 0;      // ceil(total / lagThreshold), at most INT32_MAX
  };
  // What KEDA's loop or the HPA decided; `detail` follows the metric in the message.
  struct Verdict {
    int32_t desired = 0;
    policy::Reason reason = policy::Reason::kSteady;
    std::string detail;
  };
  struct RateLimited {
    int32_t replicas = 0;
    bool limited = false;  // replicas is the limit, not the stabilized recommendation
  };
  struct Recommendation {
    Timestamp time;
    int32_t replicas;
  };
  struct ScaleEvent {
    Timestamp time;
    int32_t change;  // > 0
  };

  // The partitions' lag summed, then capped as the config says.
  LagMetric ReadMetric(const policy::Observation& observation) const;

  // KEDA's loop (tracks polls and activity): a verdict at zero or after the cooldown, else none.
  std::optional<Verdict> Activate(int64_t total, int32_t current, Timestamp now);

  // The HPA on a running target: recommend, stabilize, rate-limit, bound; records the scale.
  Verdict HpaSync(const LagMetric& metric, int32_t current, Timestamp now);

  // Up at once; down no lower than the window's highest recommendation, which now holds this one.
  int32_t Stabilize(int32_t recommendation, int32_t current, Timestamp now);

  // `stabilized` within the scale rates, counted from the replicas at the start of the period.
  RateLimited LimitRate(int32_t stabilized, int32_t current, Timestamp now) const;

  // Forgets scale events older than the period; records the change from `current` to `desired`.
  void RecordScale(int32_t desired, int32_t current, Timestamp now);

  // Replicas added (or removed) within `period_seconds` before `now`.
  static int32_t ChangeInPeriod(const std::vector<ScaleEvent>& events, Timestamp now,
                                int64_t period_seconds);

  // The decision of `verdict`, with the metric's numbers and its message.
  policy::Decision ToDecision(const LagMetric& metric, int32_t current,
                              const Verdict& verdict) const;

  KedaConfig config_;
  std::vector<Recommendation> recommendations_;
  std::vector<ScaleEvent> scale_up_events_;
  std::vector<ScaleEvent> scale_down_events_;
  std::optional<Timestamp> last_poll_;
  std::optional<Timestamp> last_active_;
  bool synced_ = false;
};

}  // namespace groupscaler::sim
