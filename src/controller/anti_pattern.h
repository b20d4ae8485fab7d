#pragma once

// The group-per-instance anti-pattern, read from the target's pod template.
// When each replica derives its consumer group id from its own identity,
// every replica joins a group of its own: each reads every partition, every
// message is processed once per replica, and scaling multiplies the work
// instead of sharing it.
//
// How the group id is recognised (the CR names a group, not where the
// consumer reads it from):
// * a group-id setting is an env var whose name contains "GROUP" (any case:
//   KAFKA_GROUP_ID, GROUP_ID, SPRING_KAFKA_CONSUMER_GROUP_ID,
//   CONSUMER_GROUP, ...), or a command/args item containing "group" (any
//   case: --group-id=..., -Dgroup.id=...);
// * it is derived from the pod's identity when the env var comes from
//   `valueFrom.fieldRef` of metadata.name, metadata.uid or status.podIP, or
//   its value (or the argument) refers to HOSTNAME, POD_NAME or an env var of
//   the same container that comes from such a fieldRef, as $(X), ${X} or $X.
// Pure: no I/O.

#include <cstdint>
#include <optional>
#include <string>

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

// One line for the Event and the condition: what was found, and the
// multiplier (each of `replicas` replicas processing every message).
std::string DescribePerInstanceGroupId(const PerInstanceGroupId& finding, int32_t replicas,
                                       const std::string& group_id);

}  // namespace groupscaler::controller
