#pragma once

// Times as Kubernetes writes them (metav1.Time, metav1.MicroTime): the one
// formatter and parser.

#include <fmt/chrono.h>

#include <chrono>
#include <ctime>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace groupscaler {

// RFC 3339 at whole seconds, UTC: "2026-01-02T03:04:05Z". Floored, so that a
// time before 1970 names its own second; through time_t, not
// system_clock::to_time_t, which goes through nanoseconds and overflows past
// the year 2262 (a Lease's times come back from the server).
inline std::string FormatRfc3339(Timestamp t) {
  const std::time_t seconds =
      std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(seconds));
}

// RFC 3339 with microseconds ("2026-01-02T03:04:05.123000Z"), Kubernetes'
// MicroTime; ParseTime also takes whole seconds, other fractions and offsets.
std::string FormatMicroTime(Timestamp t);
StatusOr<Timestamp> ParseTime(std::string_view text);

}  // namespace groupscaler
