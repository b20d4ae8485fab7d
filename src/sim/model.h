#pragma once

// A model of one consumer group on one topic, driven by a produce-rate trace
// and scaled by the policy, in steps of one simulated second. Pure: no I/O,
// no clock; the same arguments always give the same Result.
//
// The model, each second t from 0 to the end of the run:
// 1. Poll, when t is a multiple of the poll interval: the autoscaler observes
//    the group (per partition: log start 0, log end, committed offset; current
//    replicas counting those still starting; members = the replicas that took
//    part in the last completed rebalance and are still there: started
//    replicas count only once the rebalance they cause has finished), calls
//    the decision function with the history the previous call returned and
//    `now` = the epoch + t seconds, and applies `desired` at once: new
//    replicas are added starting, removed ones go newest first (starting ones
//    before running ones), without delay.
// 2. Replicas added at t' finish starting at t' + startup_seconds and join
//    the group then.
// 3. Rebalances: every change of the running replicas (some joined, some
//    were removed) stops the whole group for rebalance_pause_seconds from
//    that second on, as the eager protocol does (every member gives up its
//    partitions and rejoins); a change during a pause starts it again.
//    Removing replicas that were still starting changes no membership and
//    costs nothing.
// 4. The trace's rate for t is produced: rate / partitions messages on every
//    partition, the remainder one message each on the next partitions in a
//    rotating order, so nothing is lost to rounding and no partition is
//    favoured over time.
// 5. Unless paused, the running replicas consume. Partitions are assigned as
//    Kafka's range assignor does for one topic: contiguous blocks, the first
//    partitions % replicas replicas holding one more; replicas beyond the
//    partition count are idle. A replica consumes at most replica_rate
//    messages per second in total, only from its own partitions, shared
//    max-min fairly among them; consumption commits at once. The trace's
//    poisoned partition, if any, is not consumed at all; its owner spends
//    its rate on its other partitions.
// 6. The second's numbers go into the summary. Time lag is measured, not
//    estimated: a message produced in second s and still unconsumed at the
//    end of second t is t - s + 1 seconds old; a partition's time lag is the
//    age of its oldest unconsumed message (0 without lag), the group's the
//    largest over its partitions, the poisoned one left out (no replica
//    count can help it; its messages still count in lag).
//
// The group starts with `initial_replicas` running replicas (default: the
// spec's minReplicas), all of them members, and empty partitions. The run
// lasts `duration_seconds`, by default until the trace's last row's time +
// kDefaultTailSeconds, so the last rate is seen for a while and the policy's
// reaction to it is visible.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "policy/policy.h"
#include "policy/types.h"
#include "sim/trace.h"

namespace groupscaler::sim {

inline constexpr int64_t kDefaultTailSeconds = 60;
// The default run length of the longest trace, and a little more.
inline constexpr int64_t kMaxDurationSeconds = kMaxTraceSeconds + 24 * 60 * 60;
inline constexpr int64_t kMaxReplicaRate = 1'000'000'000'000;
inline constexpr int64_t kMaxStartupSeconds = 24 * 60 * 60;
// A rebalance of the eager protocol: members notice on their next heartbeat
// or poll, give up their partitions, rejoin and sync; with Kafka's default
// 3 s heartbeat and a consumer's commit-on-revoke, about 10 s is typical.
// Cooperative-sticky moves only the partitions that change owner, and the
// others keep consuming: a shorter pause models it.
inline constexpr int64_t kDefaultRebalancePauseSeconds = 10;
// The time-lag target, when neither the spec nor the caller gives one.
inline constexpr int64_t kDefaultLagSecondsTarget = 60;

struct ModelConfig {
  int32_t partitions = 1;                   // [1, kMaxPartitions]
  int64_t replica_rate = 1;                 // messages/s per replica, [1, kMaxReplicaRate]
  int64_t startup_seconds = 10;             // [0, kMaxStartupSeconds]
  int32_t poll_interval_seconds = 10;       // >= 1
  std::optional<int64_t> duration_seconds;  // [1, kMaxDurationSeconds]
  std::optional<int32_t> initial_replicas;  // >= 0; default spec.min_replicas
  std::string topic = "events";             // the topic name in observations
  int64_t rebalance_pause_seconds = kDefaultRebalancePauseSeconds;  // [0, kMaxStartupSeconds]
  // Seconds whose time lag exceeds this count as above the target; >= 1.
  int64_t lag_seconds_target = kDefaultLagSecondsTarget;
};

// One poll of the autoscaler.
struct TimelineEntry {
  int64_t time_seconds = 0;
  int64_t produce_rate = 0;      // the trace's rate at this time
  int64_t lag = 0;               // the group's total lag when observed
  int32_t replicas = 0;          // before the decision, starting ones included
  int32_t running = 0;           // of those, the ones that finished starting
  int32_t members = 0;           // as observed (see the file comment)
  int64_t time_lag_seconds = 0;  // the group's time lag at the end of t - 1
  int32_t desired = 0;           // what the policy decided (and the model applied)
  int32_t ceiling = 0;
  policy::Reason reason = policy::Reason::kSteady;
  std::string message;
};

struct Summary {
  int64_t duration_seconds = 0;
  int64_t polls = 0;
  int64_t messages_produced = 0;
  int64_t messages_consumed = 0;
  int64_t final_lag = 0;  // messages_produced - messages_consumed
  // Sum over the seconds of the replica count (starting ones included: they
  // cost as much as running ones).
  int64_t replica_seconds = 0;
  // The largest total lag at the end of any second.
  int64_t max_lag = 0;
  // Seconds at whose end total lag exceeded lagThreshold x replicas.
  int64_t lag_seconds_above_target = 0;
  // How often a change of the replica count went the other way than the
  // change before it (up, down, up: 2).
  int64_t direction_changes = 0;
  // Seconds during which the replica count was at or above the ceiling of
  // the last decision: the group could not have been scaled further.
  int64_t seconds_at_ceiling = 0;
  int32_t max_replicas = 0;  // the most replicas at any second
  int32_t min_replicas = 0;  // the fewest replicas at any second
  int64_t scale_ups = 0;     // polls that added replicas
  int64_t scale_downs = 0;   // polls that removed replicas
  // The largest time lag at the end of any second (see the file comment).
  int64_t max_lag_seconds = 0;
  // Seconds at whose end the time lag exceeded lag_seconds_target.
  int64_t seconds_above_target = 0;
  // Changes of the running replicas, each a pause of the whole group.
  int64_t rebalances = 0;
  friend bool operator==(const Summary&, const Summary&) = default;
};

struct Result {
  Summary summary;
  std::vector<TimelineEntry> timeline;  // one entry per poll
};

// The decision function; policy::Decide in production, a fake in tests of
// the model itself.
using DecideFunction = std::function<policy::Decision(const policy::Observation&, policy::History,
                                                      const policy::Spec&, Timestamp)>;

// The run length for `trace` under `config` (see the file comment).
int64_t RunLength(const Trace& trace, const ModelConfig& config);

// What Simulate checks before it runs (see Simulate).
Status CheckModelInputs(const Trace& trace, const ModelConfig& config, const policy::Spec& spec);

// Runs the model. Fails (InvalidArgument, message naming the setting) when
// `config` is out of its bounds, the trace poisons a partition the topic
// does not have, or `spec` fails policy::ValidateSpec.
StatusOr<Result> Simulate(const Trace& trace, const ModelConfig& config, const policy::Spec& spec,
                          const DecideFunction& decide = policy::Decide);

}  // namespace groupscaler::sim
