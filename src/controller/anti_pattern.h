#pragma once

// The group-per-instance anti-pattern. When each replica derives its
// consumer group id from its own identity, every replica joins a group of
// its own: each reads every partition, every message is processed once per
// replica, and scaling multiplies the work instead of sharing it. Two
// detectors: the target's pod template (FindPerInstanceGroupId), and, where
// the brokers list groups, the groups named like the autoscaler's group plus
// an instance suffix that commit offsets on its topics
// (GroupsNamedPerInstance, CheckGroupsPerInstance, GroupListCache).
//
// From the pod template: how the group id is recognised (the CR names a group, not where the
// consumer reads it from):
// * a group-id setting is an env var whose name contains "GROUP" (any case:
//   KAFKA_GROUP_ID, GROUP_ID, SPRING_KAFKA_CONSUMER_GROUP_ID,
//   CONSUMER_GROUP, ...), or a command/args item containing "group" (any
//   case: --group-id=..., -Dgroup.id=...);
// * it is derived from the pod's identity when the env var comes from
//   `valueFrom.fieldRef` of metadata.name, metadata.uid or status.podIP, or
//   its value (or the argument) refers to HOSTNAME, POD_NAME or an env var of
//   the same container that comes from such a fieldRef, as $(X), ${X} or $X.
//
// From the listed groups: see GroupsNamedPerInstance for the names, and
// CheckGroupsPerInstance for the confirmation.
//
// All pure (no I/O) but CheckGroupsPerInstance and GroupListCache, which
// read Kafka through a LagReader.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kafka/lag_reader.h"
#include "kube/client.h"

namespace groupscaler::controller {

struct PerInstanceGroupId {
  std::string container;
  std::string setting;  // "env KAFKA_GROUP_ID" or "args \"--group=x-$(POD_NAME)\""
  std::string source;   // "fieldRef metadata.name" or "$(POD_NAME)"
};

// The first group-id setting of `pod_template` derived from the pod's
// identity; nullopt when there is none.
std::optional<PerInstanceGroupId> FindPerInstanceGroupId(const kube::PodTemplate& pod_template);

// Only the parts of `pod_template` that FindPerInstanceGroupId reads: env
// vars naming a group or set from a pod field, command and args items naming
// a group. It finds the same in them as in the whole; the target cache keeps
// only these.
kube::PodTemplate GroupIdSettings(kube::PodTemplate pod_template);

// One line for the Event and the condition: what was found, and the
// multiplier (each of `replicas` replicas processing every message).
std::string DescribePerInstanceGroupId(const PerInstanceGroupId& finding, int32_t replicas,
                                       const std::string& group_id);

// The listed groups (sorted, without duplicates) named like `group_id` plus
// an instance suffix: `group_id`, one separator (`-`, `_` or `.`), then a
// suffix whose segments (split at `-`, `_`, `.`) end in an instance id:
// * an ordinal, 1 to 3 digits: orders-0, orders_3, orders.12,
//   orders-consumer-2 (a StatefulSet's pod name), orders-replica-1, and
//   with it an IP address (orders-10-0-3-7);
// * a Deployment pod's generated tail, a 5 to 10 character template hash
//   then a 5 character random id, both from Kubernetes' alphabet
//   (bcdfghjklmnpqrstvwxz2456789: no vowels, so words do not pass for one):
//   orders-7d9f8b6c4-x2kq9, orders-consumer-7d9f8b6c4-x2kq9;
// * a UUID (metadata.uid): orders-0f8fad5b-d9cb-469f-a165-70867728950e;
// * or a segment naming the instance (host, hostname, pod, instance,
//   replica; any case) with at least one segment after it: orders.host-abc,
//   orders-pod-a.
// Not matched: `group_id` itself; other services' groups (orders-audit,
// orders-billing-eu: other services reading the same topics under their own
// group is how Kafka is meant to be used); numbers that are not ordinals
// (orders-2024, orders-v2); names without a separator (orders2); names that
// only contain `group_id` (eu-orders-0).
std::vector<std::string> GroupsNamedPerInstance(const std::string& group_id,
                                                const std::vector<std::string>& listed);

// Fewer groups named per instance than this is not a finding: one such
// group is as likely a deliberate replay as a replica.
inline constexpr size_t kMinGroupsPerInstance = 2;

// A cluster's groups as listed at `listed_at`.
struct GroupListing {
  Timestamp listed_at;
  std::vector<std::string> groups;
};

// The outcome of the listed-groups detector for one autoscaler.
struct GroupsPerInstance {
  Timestamp listed_at;  // of the listing it comes from
  kafka::GroupQuery query;
  // The groups named per instance (GroupsNamedPerInstance) that have a
  // committed offset on a partition of `query.topics`, sorted; empty when
  // fewer than kMinGroupsPerInstance.
  std::vector<std::string> groups;
};

// Checks `listing` for groups named like `query.group_id` plus an instance
// suffix and confirms them with one Observe of those groups on
// `query.topics` through `reader` (within `timeout`); nothing is read when
// no name matches. The Observe's error when the confirmation failed.
StatusOr<GroupsPerInstance> CheckGroupsPerInstance(const GroupListing& listing,
                                                   const kafka::GroupQuery& query,
                                                   kafka::LagReader& reader,
                                                   std::chrono::milliseconds timeout);

// Only the parts of `pod_template` that FindPerInstanceGroupId reads: env
// vars naming a group or set from a pod field, command and args items naming
// a group. It finds the same in them as in the whole; the target cache keeps
// only these.
kube::PodTemplate GroupIdSettings(kube::PodTemplate pod_template);

// One line for the Event and the condition: the multiplier (the number of
// groups), the first few groups, and what to fix. Precondition:
// `check.groups` is not empty.
std::string DescribeGroupsPerInstance(const GroupsPerInstance& check);

// The groups each Kafka cluster lists, asked of the cluster's shared reader
// (one per cluster, see LagReaderPool) at most once per `interval` on
// `clock`, whatever the number of autoscalers and reconciles. A failed
// listing (UNIMPLEMENTED where the brokers do not list groups) is kept for
// the interval as well. Entries go with their reader. Thread-safe; callers
// for one cluster wait for a listing in flight rather than ask again.
class GroupListCache {
 public:
  GroupListCache(const Clock* clock, std::chrono::milliseconds interval)
      : clock_(clock), interval_(interval) {}

  // The latest listing of `reader`'s cluster; asks it (within `timeout`)
  // when the kept one is older than the interval.
  StatusOr<std::shared_ptr<const GroupListing>> Get(const std::shared_ptr<kafka::LagReader>& reader,
                                                    std::chrono::milliseconds timeout);

 private:
  struct Entry {
    std::weak_ptr<kafka::LagReader> reader;
    std::mutex mu;       // held while listing
    Timestamp asked_at;  // of `result`, when set
    std::optional<StatusOr<std::shared_ptr<const GroupListing>>> result;
  };

  const Clock* clock_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::map<const kafka::LagReader*, std::shared_ptr<Entry>> entries_;
};

}  // namespace groupscaler::controller
