// The API server's answers, as the real KubeClient (and RestClient under it)
// reads them: objects, lists, Status error bodies with any status code,
// Retry-After, broken connections. The input is a script (tests/support/scripted_transport.h):
// operations, one per line, then the answers in the order the calls ask for
// them:
//
//   get
//   secret
//   --- 200
//   {"apiVersion":"groupscaler.io/v1alpha1","kind":"ConsumerGroupAutoscaler",...}
//   --- 404
//   {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}
//
// Operations: list get patch-status scale patch-scale event secret lease-get
// lease-create lease-update hpa pod-template. Each call must return a value
// or an error that says why; a non-2xx answer to the first call maps to the
// code rest_client.h documents; the autoscalers go on through
// ParseAutoscaler and the Secret through BuildAuthConfig, as the controller
// does with them.

// spdlog first: cpprestsdk defines a macro U that breaks fmt's headers.
#include <spdlog/spdlog.h>

#include <cpprest/json.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth_checks.h"
#include "common/manual_clock.h"
#include "common/time_format.h"
#include "fuzz_check.h"
#include "kube/kube_client.h"
#include "kube_checks.h"
#include "spec_checks.h"
#include "support/scripted_transport.h"

namespace groupscaler::fuzz {
namespace {

using kube::KubeClient;

enum class Op {
  kList,
  kGet,
  kPatchStatus,
  kScale,
  kPatchScale,
  kEvent,
  kSecret,
  kLeaseGet,
  kLeaseCreate,
  kLeaseUpdate,
  kHpa,
  kPodTemplate,
};

struct OpName {
  std::string_view name;
  Op op;
  // One request whose non-2xx answer is the result (no discovery first, no
  // fallback to a second request).
  bool single_request;
};

constexpr std::array<OpName, 12> kOps = {{
    {"list", Op::kList, true},
    {"get", Op::kGet, true},
    {"patch-status", Op::kPatchStatus, true},
    {"scale", Op::kScale, true},
    {"patch-scale", Op::kPatchScale, true},
    {"event", Op::kEvent, false},
    {"secret", Op::kSecret, true},
    {"lease-get", Op::kLeaseGet, true},
    {"lease-create", Op::kLeaseCreate, true},
    {"lease-update", Op::kLeaseUpdate, true},
    {"hpa", Op::kHpa, false},
    {"pod-template", Op::kPodTemplate, true},
}};

constexpr size_t kMaxOps = 16;

// The codes rest_client.h documents for an answer that is not retried.
std::optional<std::array<StatusCode, 2>> DocumentedCodes(int http_code) {
  using C = StatusCode;
  if (http_code >= 200 && http_code <= 299) return std::nullopt;
  if (http_code == 429 || http_code >= 500) return std::nullopt;  // retried
  switch (http_code) {
    case 400:
    case 415:
    case 422:
      return std::array{C::kInvalidArgument, C::kInvalidArgument};
    case 401:
    case 403:
      return std::array{C::kPermissionDenied, C::kPermissionDenied};
    case 404:
      return std::array{C::kNotFound, C::kNotFound};
    case 409:
      return std::array{C::kAborted, C::kAlreadyExists};
    case 410:
      return std::array{C::kOutOfRange, C::kOutOfRange};
    default:
      return std::array{C::kInternal, C::kInternal};
  }
}

// The client's text of an object is JSON, and ParseAutoscaler's contract
// holds on it.
void CheckAutoscaler(const kube::Autoscaler& autoscaler) {
  CheckClientJson(autoscaler.json);
  (void)CheckParseAutoscaler(autoscaler.json, "payments/orders");
}

// Times the client read come back unchanged through what it writes.
void CheckTimeRoundTrip(std::optional<Timestamp> t) {
  using std::chrono::seconds;
  // Years 1000-9999: what RFC 3339's four-digit years can say.
  if (!t || *t < Timestamp(seconds(-30610224000)) || *t > Timestamp(seconds(253402300799))) {
    return;
  }
  const std::string text = FormatMicroTime(*t);
  StatusOr<Timestamp> back = ParseTime(text);
  FUZZ_CHECK_MSG(back.ok() && *back == *t, text);
}

kube::Lease SomeLease() {
  kube::Lease lease;
  lease.metadata = {
      .namespace_name = "groupscaler", .name = "groupscaler-leader", .resource_version = "7"};
  lease.holder_identity = "pod-a";
  lease.lease_duration_seconds = 15;
  lease.renew_time = Timestamp(std::chrono::seconds(1'700'000'000));
  return lease;
}

void CheckLease(const StatusOr<kube::Lease>& lease) {
  if (!lease.ok()) return CheckRejection(lease.status());
  CheckTimeRoundTrip(lease->acquire_time);
  CheckTimeRoundTrip(lease->renew_time);
}

template <typename T>
void CheckResult(const StatusOr<T>& result) {
  if (!result.ok()) CheckRejection(result.status());
}

// Runs `op`; returns its status for the documented-code check.
Status Run(KubeClient& client, Op op) {
  const kube::WorkloadRef ref{
      .kind = kube::WorkloadKind::kDeployment, .namespace_name = "payments", .name = "orders"};
  switch (op) {
    case Op::kList: {
      auto list = client.ListAutoscalers("payments");
      CheckResult(list);
      if (list.ok()) {
        for (const kube::Autoscaler& item : list->items) CheckAutoscaler(item);
      }
      return list.status();
    }
    case Op::kGet: {
      auto got = client.GetAutoscaler("payments", "orders");
      CheckResult(got);
      if (got.ok()) CheckAutoscaler(*got);
      return got.status();
    }
    case Op::kPatchStatus: {
      auto patched = client.PatchAutoscalerStatus("payments", "orders", R"({"replicas":3})", "41");
      CheckResult(patched);
      if (patched.ok()) CheckAutoscaler(*patched);
      return patched.status();
    }
    case Op::kScale: {
      auto scale = client.GetScale(ref);
      CheckResult(scale);
      return scale.status();
    }
    case Op::kPatchScale: {
      auto scale = client.PatchScale(ref, 3);
      CheckResult(scale);
      return scale.status();
    }
    case Op::kEvent: {
      kube::Event event{.involved = {.api_version = "groupscaler.io/v1alpha1",
                                     .kind = "ConsumerGroupAutoscaler",
                                     .namespace_name = "payments",
                                     .name = "orders"},
                        .type = kube::EventType::kNormal,
                        .reason = "ScaledUp",
                        .message = "2 -> 3 replicas"};
      Status s = client.RecordEvent(event);
      if (!s.ok()) CheckRejection(s);
      return s;
    }
    case Op::kSecret: {
      auto data = client.GetSecretData("payments", "kafka-client");
      CheckResult(data);
      if (data.ok()) CheckBuildAuthConfig(*data);
      return data.status();
    }
    case Op::kLeaseGet: {
      auto lease = client.GetLease("groupscaler", "groupscaler-leader");
      CheckLease(lease);
      return lease.status();
    }
    case Op::kLeaseCreate: {
      auto lease = client.CreateLease(SomeLease());
      CheckLease(lease);
      return lease.status();
    }
    case Op::kLeaseUpdate: {
      auto lease = client.UpdateLease(SomeLease());
      CheckLease(lease);
      return lease.status();
    }
    case Op::kHpa: {
      auto hpas = client.ListHpas("payments");
      CheckResult(hpas);
      if (hpas.ok()) (void)kube::HpasTargeting(*hpas, ref);
      return hpas.status();
    }
    case Op::kPodTemplate: {
      auto pod_template = client.GetPodTemplate(ref);
      CheckResult(pod_template);
      return pod_template.status();
    }
  }
  return Status::Ok();
}

}  // namespace
}  // namespace groupscaler::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace groupscaler;
  using namespace groupscaler::fuzz;
  using namespace groupscaler::testing;
  Script script = ParseScript(std::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<const OpName*> ops;
  for (std::string_view line : script.preamble) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    for (const OpName& op : kOps) {
      if (line == op.name && ops.size() < kMaxOps) ops.push_back(&op);
    }
  }
  if (ops.empty()) return -1;  // nothing to run: keep it out of the corpus
  std::optional<std::array<StatusCode, 2>> expected;
  int first_code = 0;
  if (!script.frames.empty() && script.frames.front().kind == Frame::Kind::kAnswer &&
      ops.front()->single_request) {
    first_code = script.frames.front().response.status_code;
    expected = DocumentedCodes(first_code);
  }

  // Retries wait by moving the clock, never by sleeping.
  ManualClock clock(Timestamp(std::chrono::seconds(1'700'000'000)),
                    ManualClock::Sleeping::kAdvance);
  auto transport = std::make_unique<ScriptedTransport>(std::move(script.frames));
  kube::KubeClient client(std::move(transport), nullptr, ScriptOptions(), &clock);
  for (size_t i = 0; i < ops.size(); ++i) {
    Status s = Run(client, ops[i]->op);
    if (i == 0 && expected) {
      FUZZ_CHECK_MSG(
          (s.code() == (*expected)[0] || s.code() == (*expected)[1]) &&
              s.message().find("(HTTP " + std::to_string(first_code) + ")") != std::string::npos,
          s.ToString());
    }
  }
  return 0;
}
