#pragma once

// What the controller reports to its metrics, behind an interface so that the
// controller stays free of any metrics library: src/metrics implements it
// with prometheus-cpp (metrics::Metrics); a null MetricsSink* means none.
//
// Contract for implementations: thread-safe (workers, the watch, the work
// queue and the Kafka request poller call concurrently); never block on I/O.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "controller/group_figures.h"
#include "kafka/lag_reader.h"
#include "policy/types.h"

namespace groupscaler::controller {

// How one reconcile ended.
enum class ReconcileResult {
  kSuccess,
  kError,  // a transient failure: the key is retried with backoff
  // Reconciled, but deliberately not scaling: invalid spec, auth Secret
  // missing or invalid, target missing, HPA conflict, Kafka unreachable.
  kHold,
};

// Why a Kafka observation failed, coarsely.
enum class KafkaErrorKind { kUnreachable, kTimeout, kCoordinator, kTopic, kAuth, kOther };

// "success", "error", "hold"; "unreachable", "timeout", ... (metric labels).
std::string_view ReconcileResultName(ReconcileResult result);
std::string_view KafkaErrorKindName(KafkaErrorKind kind);

struct TopicSample {
  std::string topic;
  std::optional<int64_t> lag;          // over the partitions whose lag is known
  std::optional<double> produce_rate;  // messages per second
  std::optional<double> consume_rate;
};

struct PartitionSample {
  std::string topic;
  int32_t partition = 0;
  int64_t lag = 0;
};

// What one reconcile knew of one autoscaler. Every unset field (and every
// topic or partition left out) is unknown now: its series is removed, never
// exported as 0. The one exception is observed_at: the last successful
// observation stays exported until the autoscaler goes.
struct AutoscalerSample {
  std::string namespace_name;
  std::string name;
  bool spec_valid = false;
  // The consumer group of a valid spec. Empty (an invalid spec): only the
  // spec-valid series is exported.
  std::string group;
  // Unset while Kafka is not observed at all (the auth Secret is missing or
  // invalid).
  std::optional<bool> kafka_reachable;
  // When this reconcile observed the group successfully.
  std::optional<Timestamp> observed_at;
  // Its rebalances_caused only where this reconcile decided (see SampleOf).
  GroupFigures figures;
  // From the decision of a successful observation.
  std::vector<TopicSample> topics;
  std::vector<PartitionSample> partitions;  // only partitions whose lag is known
  std::optional<bool> at_ceiling;
  std::optional<bool> idle_members;
  std::optional<int32_t> stalled_partitions;
  // +1: this reconcile scaled the target up; -1: down; 0: not at all.
  int scaled = 0;
};

// Fills `sample`'s topics, partitions, flags and stalled partitions from
// `decision`, which came from a successful observation (for SampleOf,
// reconcile_report.h; a failed observation's lag, partitions, rates and the
// rest mean nothing). The figures are FiguresOf's.
void AddDecision(const policy::Decision& decision, AutoscalerSample& sample);

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;

  // The per-autoscaler series, replaced by what `sample` knows.
  virtual void RecordAutoscaler(const AutoscalerSample& sample) = 0;
  // Removes every series of the autoscaler (it was deleted).
  virtual void ForgetAutoscaler(const std::string& namespace_name, const std::string& name) = 0;

  virtual void RecordReconcile(ReconcileResult result, std::chrono::duration<double> duration) = 0;

  // Keys due and waiting for a worker.
  virtual void SetWorkQueueDepth(size_t depth) = 0;
  // Worker threads started (they grow with the work; see workers.h).
  virtual void SetWorkers(size_t workers) = 0;
  // How long a key waited from its due time until a worker took it.
  virtual void ObserveWorkQueueWait(std::chrono::duration<double> wait) = 0;

  // Requests sent to Kafka since the last call, by API.
  virtual void AddKafkaRequests(const kafka::RequestCounts& delta) = 0;
  virtual void CountKafkaError(KafkaErrorKind kind) = 0;

  // One HTTP request to the Kubernetes API server. `verb`: GET, LIST,
  // WATCH, PATCH, POST, PUT, DELETE; `code`: the HTTP status ("200"), or
  // "error" when no response came.
  virtual void CountKubeRequest(std::string_view verb, std::string_view code) = 0;

  // This process holds the Lease (or leader election is off). Called with
  // false once the term's controller has stopped: the per-autoscaler series
  // are the leader's alone.
  virtual void SetLeader(bool leader) = 0;
};

}  // namespace groupscaler::controller
