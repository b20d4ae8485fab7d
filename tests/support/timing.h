#pragma once

// Bounds on how long something may take, for tests that assert a deadline
// is kept. Under a sanitizer every instruction is slower, and CI runs a
// dozen test processes on two cores: the bound's allowance grows there, so
// that it still tells a kept deadline (seconds over) from an ignored one
// (librdkafka's own timeouts: tens of seconds).

#include <chrono>

namespace groupscaler::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kSlowdown = 3;
#else
inline constexpr int kSlowdown = 1;
#endif

// `allowance` past a deadline, times the build's slowdown.
constexpr std::chrono::milliseconds Overrun(std::chrono::milliseconds allowance) {
  return allowance * kSlowdown;
}

}  // namespace groupscaler::testing
