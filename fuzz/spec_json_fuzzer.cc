// ParseAutoscaler on JSON, the way the controller gets it: the API server's
// JSON is read by cpprestsdk (KubeClient keeps each object as
// web::json::value::serialize() text) and handed to ParseAutoscaler with
// "namespace/name" as the source. Input that is not a JSON object is parsed
// as it is, as `kubectl apply -f x.json`-style files would be.
//
// Besides the spec contract: whatever cpprestsdk serializes is JSON, and JSON
// is YAML, so ParseAutoscaler must never call it invalid YAML.

#include <cpprest/json.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "spec_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using groupscaler::fuzz::CheckParseAutoscaler;
  const std::string text(reinterpret_cast<const char*>(data), size);
  web::json::value object;
  try {
    object = web::json::value::parse(text);
  } catch (const std::exception&) {
    (void)CheckParseAutoscaler(text, "autoscaler.json");
    return 0;
  }
  if (!object.is_object()) {
    (void)CheckParseAutoscaler(text, "autoscaler.json");
    return 0;
  }
  const std::string serialized = object.serialize();
  auto parsed = CheckParseAutoscaler(serialized, "payments/orders");
  if (!parsed.ok()) {
    // "payments/orders:LINE: invalid YAML: ..." (the format is checked above).
    const std::string& message = parsed.status().message();
    const std::string_view what = std::string_view(message).substr(message.find(": ") + 2);
    FUZZ_CHECK_MSG(!what.starts_with("invalid YAML") && !what.starts_with("cannot parse"),
                   message + "\n  serialized: " + serialized.substr(0, 400));
  }
  return 0;
}
