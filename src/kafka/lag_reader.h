#pragma once

// What groupscaler observes of Kafka, behind an interface so that the
// controller can be tested with a fake and the librdkafka adapter
// (rdkafka_lag_reader.h) stays the only place that speaks the protocol.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kafka/auth.h"
#include "policy/types.h"

namespace groupscaler::kafka {

// A Kafka cluster as the user names it. Two autoscalers with equal
// ClusterConfigs share one client.
struct ClusterConfig {
  std::vector<std::string> bootstrap_servers;  // "host:port"
  AuthSettings auth;                           // see auth.h; may hold secrets
  friend bool operator==(const ClusterConfig&, const ClusterConfig&) = default;
};

// One consumer group and the topics it consumes.
struct GroupQuery {
  std::string group_id;
  std::vector<std::string> topics;  // non-empty, no duplicates
  friend bool operator==(const GroupQuery&, const GroupQuery&) = default;
};

// A topic of a GroupQuery that could not be observed (missing, not
// authorised, ...). Its partitions are absent from the observation; the
// group's other topics are still observed.
struct TopicError {
  std::string topic;
  Status status;
};

// A member of a consumer group, where the broker describes groups.
struct Member {
  std::string member_id;
  std::string client_id;
  std::string host;
  std::vector<policy::TopicPartition> assignment;
};

struct GroupObservation {
  std::string group_id;
  // Per partition of every observable topic, sorted by (topic, partition).
  // `observation.failed` is set, with `observation.error`, when the group's
  // committed offsets could not be read or no topic could be observed: then
  // nothing in it may be read as lag. `current_replicas` is left 0 (the
  // Kubernetes side knows it). `members` is set only with `member_list`.
  policy::Observation observation;
  std::vector<TopicError> topic_errors;
  // "Stable", "PreparingRebalance", "Empty", ...; empty when unknown.
  std::string group_state;
  // Unknown where the broker does not describe groups (librdkafka's mock)
  // or not this group (see members_unknown).
  std::optional<std::vector<Member>> member_list;
  // Why member_list is unknown, when it is: "the broker does not describe
  // groups", "no classic group: ...", an error.
  std::string members_unknown;
};

// The policy's view of a cycle that failed as a whole: it holds, never
// reading the failure as zero lag.
policy::Observation FailedObservation(const Status& why);

// Requests sent to Kafka, by API name as librdkafka's statistics spell them
// ("Metadata", "ListOffsets", "OffsetFetch", "FindCoordinator", ...).
struct RequestCounts {
  std::map<std::string, int64_t> by_api;  // only APIs with a count > 0
  int64_t Total() const;                  // saturates instead of overflowing
  // Per-API difference (this - earlier), dropping zeros.
  RequestCounts Since(const RequestCounts& earlier) const;
  // "ListOffsets=6 Metadata=1 OffsetFetch=100" (sorted by API).
  std::string ToString() const;
};

class LagReader {
 public:
  virtual ~LagReader() = default;

  // One observation cycle for all `groups`, returning within `timeout`
  // (plus scheduling slack) whatever the cluster does. One result per
  // query, in the same order. An error Status means the cluster could not
  // be observed at all (unreachable, deadline exceeded): every group's
  // observation failed (see FailedObservation). Thread-safe; cycles on one
  // reader are serialised.
  virtual StatusOr<std::vector<GroupObservation>> Observe(const std::vector<GroupQuery>& groups,
                                                          std::chrono::milliseconds timeout) = 0;

  // The topics `group` has committed offsets for, where the broker lists
  // them (an OffsetFetch without a partition list); NOT_FOUND when it lists
  // none (librdkafka's mock never does).
  virtual StatusOr<std::vector<std::string>> CommittedTopics(const std::string& group,
                                                             std::chrono::milliseconds timeout) = 0;

  // The ids of every consumer group the cluster has (ListGroups to every
  // broker), sorted, returning within `timeout`. A cluster-wide request: the
  // caller bounds how often it is made. UNIMPLEMENTED when the brokers do
  // not list groups (librdkafka's mock); a reader remembers that and never
  // asks its cluster again. An incomplete answer (a broker that did not
  // answer) is an error, never a partial list. Never blocks Observe.
  virtual StatusOr<std::vector<std::string>> ListGroups(std::chrono::milliseconds timeout) = 0;

  // Requests sent since the client was created, by API, from a statistics
  // report emitted after this call began (so it covers every cycle that
  // returned before). Waits up to two statistics intervals.
  virtual StatusOr<RequestCounts> RequestCountsSnapshot(std::chrono::milliseconds timeout) = 0;
};

// Makes the reader for one cluster: NewRdKafkaLagReader in production
// (RdKafkaLagReaderFactory), a fake or a wrapper in tests and the controller.
using LagReaderFactory = std::function<StatusOr<std::unique_ptr<LagReader>>(const ClusterConfig&)>;

// One reader per distinct ClusterConfig, shared by every autoscaler pointing
// at that cluster: Get returns the live reader for an equal config, or makes
// one with the factory. The pool holds only weak references, so a reader is
// closed as soon as the last user lets it go (its autoscalers were deleted or
// moved to another cluster). Thread-safe.
class LagReaderPool {
 public:
  explicit LagReaderPool(LagReaderFactory factory) : factory_(std::move(factory)) {}

  // The shared reader for `cluster`, or the factory's error (bad auth
  // settings).
  StatusOr<std::shared_ptr<LagReader>> Get(const ClusterConfig& cluster);
  // Readers alive now.
  size_t size();

 private:
  std::mutex mu_;
  LagReaderFactory factory_;
  // Few clusters per controller: a linear scan is enough, and it compares
  // configs without serialising their secrets anywhere.
  std::vector<std::pair<ClusterConfig, std::weak_ptr<LagReader>>> readers_;
};

}  // namespace groupscaler::kafka
