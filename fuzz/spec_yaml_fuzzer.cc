// ParseAutoscaler on YAML, as `groupscaler simulate --spec FILE` and users'
// manifests give it: any text is a spec or a `SOURCE:LINE: what` error.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)groupscaler::fuzz::CheckParseAutoscaler(text, "autoscaler.yaml");
  return 0;
}
