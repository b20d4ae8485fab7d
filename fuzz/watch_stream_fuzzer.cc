// The list-and-watch of ConsumerGroupAutoscalers (KubeClient::
// WatchAutoscalers) over a scripted API server (tests/support/scripted_transport.h): the first
// answer is usually the list, the next ones watch streams whose lines are
// watch events, then whatever the loop asks for after an error, a 410 or a
// relist:
//
//   --- 200
//   {"kind":"ConsumerGroupAutoscalerList","metadata":{"resourceVersion":"5"},"items":[]}
//   --- 200
//   {"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"6"}}}
//   {"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}
//
// The watch runs on its own thread until the script is used up; then the
// handle is destroyed, which must stop it at once. Every list and event
// handed to the handlers must be well-formed.

// spdlog first: cpprestsdk defines a macro U that breaks fmt's headers.
#include <spdlog/spdlog.h>

#include <cpprest/json.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/manual_clock.h"
#include "fuzz_check.h"
#include "kube/kube_client.h"
#include "kube_checks.h"
#include "support/scripted_transport.h"

namespace groupscaler::fuzz {
namespace {

void CheckObject(const kube::Autoscaler& object) { CheckClientJson(object.json); }

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
  // Waits move the clock instead of sleeping (once the script ran out, the
  // watch retries at full speed until it is stopped).
  ManualClock clock(Timestamp(std::chrono::seconds(1'700'000'000)),
                    ManualClock::Sleeping::kAdvance);
  auto owned = std::make_unique<ScriptedTransport>(std::move(script.frames));
  ScriptedTransport* transport = owned.get();
  kube::KubeClient client(std::move(owned), nullptr, ScriptOptions(), &clock);

  bool listed = false;  // handlers run on the watch's thread, one at a time
  kube::WatchHandlers handlers{
      .on_list =
          [&](const kube::AutoscalerList& list) {
            listed = true;
            for (const kube::Autoscaler& item : list.items) CheckObject(item);
          },
      .on_event =
          [&](const kube::AutoscalerEvent& event) {
            FUZZ_CHECK(listed);  // a watch starts from a list
            FUZZ_CHECK(kube::WatchEventTypeName(event.type) != "UNKNOWN");
            CheckObject(event.object);
          },
  };
  std::unique_ptr<kube::WatchHandle> watch = client.WatchAutoscalers("payments", handlers);
  transport->WaitExhausted();
  watch.reset();
  return 0;
}
