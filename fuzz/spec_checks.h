#pragma once

// ParseAutoscaler's contract (src/spec/autoscaler_spec.h), checked on one
// input: shared by spec_yaml, spec_json and kube_answers (which hands the
// API server's objects to it as the controller does).

#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "policy/policy.h"
#include "spec/autoscaler_spec.h"

namespace groupscaler::fuzz {

inline bool AllNonEmpty(const std::vector<std::string>& items) {
  if (items.empty()) return false;
  for (const std::string& item : items) {
    if (item.empty()) return false;
  }
  return true;
}

// An accepted spec is one the policy accepts, with every section present
// that `use` requires and every string it names non-empty.
inline void CheckAcceptedSpec(const spec::AutoscalerSpec& s, spec::Use use) {
  Status valid = policy::ValidateSpec(s.policy);
  FUZZ_CHECK_MSG(valid.ok(), valid.ToString());
  FUZZ_CHECK(s.poll_interval_seconds >= 1 && s.poll_interval_seconds <= 24 * 60 * 60);
  if (use == spec::Use::kController) FUZZ_CHECK(s.has_scale_target_ref && s.has_kafka);
  if (s.has_scale_target_ref) {
    const spec::TargetRef& ref = s.scale_target_ref;
    FUZZ_CHECK(ref.kind == "Deployment" || ref.kind == "StatefulSet");
    FUZZ_CHECK(!ref.name.empty() && !ref.api_version.empty());
  }
  if (s.has_kafka) {
    FUZZ_CHECK(!s.kafka.group_id.empty());
    FUZZ_CHECK(AllNonEmpty(s.kafka.bootstrap_servers) && AllNonEmpty(s.kafka.topics));
  }
}

// Parses `text` for both uses. Each result is a valid spec or a
// `SOURCE:LINE: what` error; a spec the controller accepts, the simulator
// accepts as the same spec (a present section is checked in full in either
// use). Returns the controller's result.
inline StatusOr<spec::AutoscalerSpec> CheckParseAutoscaler(std::string_view text,
                                                           std::string_view source) {
  StatusOr<spec::AutoscalerSpec> controller =
      spec::ParseAutoscaler(text, source, spec::Use::kController);
  StatusOr<spec::AutoscalerSpec> simulate =
      spec::ParseAutoscaler(text, source, spec::Use::kSimulate);
  for (auto [result, use] : {std::pair{&controller, spec::Use::kController},
                             std::pair{&simulate, spec::Use::kSimulate}}) {
    if (result->ok()) {
      CheckAcceptedSpec(**result, use);
    } else {
      CheckLineError(result->status(), source);
      FUZZ_CHECK(result->status().code() == StatusCode::kInvalidArgument);
    }
  }
  if (controller.ok()) FUZZ_CHECK(simulate.ok() && *simulate == *controller);
  return controller;
}

}  // namespace groupscaler::fuzz
