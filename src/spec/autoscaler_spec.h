#pragma once

// A ConsumerGroupAutoscaler object (apiVersion groupscaler.io/v1alpha1) as
// read from YAML or JSON, checked and turned into typed values.
//
// Contract of the parser:
// * The input is the whole object: apiVersion, kind, metadata, spec, status.
//   `status` is ignored whatever it holds; of `metadata` only name and
//   namespace are read, its other fields (labels, annotations, managedFields)
//   are ignored. Every other field must be one the CRD defines: an unknown
//   field is an error that names it, so typos are caught.
// * Field names use the CR's spelling (camelCase), enum values are
//   case-sensitive as in Kubernetes (`Deployment`, `earliest`, `balanced`,
//   `Max`, `Pods`).
// * An explicit null (`minReplicas:` or `minReplicas: ~`) means unset, as a
//   null does in a Kubernetes merge patch; the default applies.
// * Integers must be plain YAML integers (a quoted "10" is a string and
//   rejected, as the API server would); booleans are true/false.
// * Every error is a Status with the message `SOURCE:LINE: what is wrong`,
//   LINE 1-based. Cross-field rules are policy::ValidateSpec's, reported at
//   the line of the field they name. No exception leaves this library.
// * JSON is YAML, so the API server's JSON for the object goes through
//   ParseAutoscaler unchanged (its lines are then the JSON text's lines).
//
// Required fields depend on the use (see Use): the controller needs to know
// what to scale and which group to read; the simulator needs only the policy
// and the poll interval, so there `scaleTargetRef` and `kafka` may be absent.
// A section that is present is always checked in full, in either use, so a
// spec that simulates cleanly is one the controller accepts once the two
// sections are filled in.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/types.h"

namespace groupscaler::spec {

inline constexpr std::string_view kApiVersion = "groupscaler.io/v1alpha1";
inline constexpr std::string_view kKind = "ConsumerGroupAutoscaler";

// What the autoscaler scales: spec.scaleTargetRef.
struct TargetRef {
  std::string api_version = "apps/v1";  // optional in the CR; this default
  std::string kind;                     // Deployment or StatefulSet
  std::string name;
  friend bool operator==(const TargetRef&, const TargetRef&) = default;
};

// Which group to read: spec.kafka. offsetResetPolicy lives in
// policy::Spec::offset_reset_policy, where the lag math uses it.
struct KafkaSpec {
  std::vector<std::string> bootstrap_servers;
  std::string group_id;
  std::vector<std::string> topics;
  // spec.kafka.authSecretRef.name; empty when absent (no authentication).
  std::string auth_secret_ref;
  friend bool operator==(const KafkaSpec&, const KafkaSpec&) = default;
};

struct AutoscalerSpec {
  // metadata.name and metadata.namespace; empty when absent.
  std::string name;
  std::string namespace_name;
  TargetRef scale_target_ref;
  KafkaSpec kafka;
  // How often the controller observes the group (and the simulator polls).
  int32_t poll_interval_seconds = 10;
  policy::Spec policy;
  // Whether the optional-for-simulation sections were present.
  bool has_scale_target_ref = false;
  bool has_kafka = false;
  friend bool operator==(const AutoscalerSpec&, const AutoscalerSpec&) = default;
};

enum class Use {
  // scaleTargetRef and kafka are required.
  kController,
  // scaleTargetRef and kafka may be absent: `groupscaler simulate` only needs
  // the policy and pollIntervalSeconds.
  kSimulate,
};

// Parses one ConsumerGroupAutoscaler from YAML or JSON `text`. `source_name`
// is the SOURCE of error messages (a file name, or "namespace/name").
StatusOr<AutoscalerSpec> ParseAutoscaler(std::string_view text, std::string_view source_name,
                                         Use use = Use::kController);

// Reads `path` and parses it as above, with `path` as the source name. An
// unreadable file gives `PATH: cannot read: reason`.
StatusOr<AutoscalerSpec> LoadAutoscalerFile(const std::string& path, Use use = Use::kController);

}  // namespace groupscaler::spec
