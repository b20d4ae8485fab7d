#pragma once

// Text kept packed in memory: zlib's deflate (RFC 1950) at its fastest
// level, for caches of many similar JSON objects (2 KB of a cached
// autoscaler deflate to about 700 bytes, and inflate in microseconds).

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace groupscaler {

struct Deflated {
  std::string bytes;
  size_t size = 0;  // of the text they inflate to
};

Deflated Deflate(std::string_view text);
// INTERNAL when `deflated` is not what Deflate made.
StatusOr<std::string> Inflate(const Deflated& deflated);

}  // namespace groupscaler
