#pragma once

// The oracle: a replica schedule chosen with the whole trace known in
// advance, the yardstick of how few replica-seconds any policy could spend.
//
// It plans on a fluid version of the model (sim/model.h), then the plan is
// run through the real model, so its figures are measured exactly as every
// policy's are. The plan:
// * changes the replica count only at polls (every poll_interval_seconds)
//   and only once the previous change has settled: a scale-up waits out the
//   start-up and the rebalance pause it causes, a scale-down its pause;
// * pays what every policy pays: new replicas cost from the moment they are
//   added, consume only after startup_seconds, and every change of the
//   running replicas stops the whole group for rebalance_pause_seconds;
// * uses only balanced counts (each the fewest replicas for its busiest
//   replica's partition count: 1, 2, 3, 4, 6, 12 of 12 partitions), between
//   minReplicas and min(maxReplicas, partitions), plus the initial count;
// * minimises, first, the seconds whose time lag exceeds lag_seconds_target
//   (zero whenever the ceiling can keep up), then replica-seconds: dynamic
//   programming over (poll, replicas, backlog), keeping per poll and replica
//   count the Pareto front of (backlog, cost), thinned to kOracleFrontSize.
// The fluid model's assumptions: messages spread evenly over the partitions
// that can be consumed (not the poisoned one) and every partition is served
// at its busiest replica's share, replica_rate / ceil(partitions / replicas);
// time lag exceeds the target exactly when the backlog exceeds what was
// produced in the last lag_seconds_target seconds (first in, first out).
// The run's end is its horizon: backlog left at the end costs nothing, so in
// the last lag_seconds_target seconds it may scale down early. The fluid
// plan keeps one second short of the target, as the real model's integer
// shares age some messages a second more. The thinning and the integer effects of the real model
// (remainders, uneven blocks) make it near-optimal, not provably optimal: a policy may beat it by a
// little.

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "policy/types.h"
#include "sim/model.h"
#include "sim/trace.h"

namespace groupscaler::sim {

inline constexpr size_t kOracleFrontSize = 16;
// The most planning steps (polls x balanced counts^2 x kOracleFrontSize)
// PlanOracle takes on; a day polled every 10 s over 12 partitions is 5e6,
// a week over 4096 partitions would be 1e10.
inline constexpr double kOracleMaxWork = 2e9;

// The oracle's desired replicas at each poll (index t / poll_interval).
// Fails as Simulate does on a bad config, trace or spec, and when the plan
// would take more than kOracleMaxWork steps.
StatusOr<std::vector<int32_t>> PlanOracle(const Trace& trace, const ModelConfig& config,
                                          const policy::Spec& spec);

// PlanOracle, then the plan run through Simulate.
StatusOr<Result> SimulateOracle(const Trace& trace, const ModelConfig& config,
                                const policy::Spec& spec);

}  // namespace groupscaler::sim
