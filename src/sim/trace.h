#pragma once

// A produce-rate trace: the load that `groupscaler simulate` replays.
//
// The format is CSV with the header `time_seconds,produce_rate`, then one row
// per change of rate:
//
//   time_seconds,produce_rate
//   0,800
//   600,4000
//
// From each row's time on, the topic receives `produce_rate` messages per
// second (until the next row's time); before the first row it receives none.
// Both columns are non-negative whole numbers (seconds, messages per second),
// times strictly increasing. Blank lines are skipped, spaces around a value
// and CRLF line ends are allowed. Errors are `SOURCE:LINE: what is wrong`.
//
// An optional third column, `poisoned_partition`, names a partition that no
// consumer can get past from that row's time on (a poison message, a stuck
// thread), until the next row; empty means none:
//
//   time_seconds,produce_rate,poisoned_partition
//   0,800,
//   600,800,3

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace groupscaler::sim {

// Bounds that keep every simulation finite and every offset far from
// overflow: a week of seconds, a trillion messages per second.
inline constexpr int64_t kMaxTraceSeconds = 7 * 24 * 60 * 60;
inline constexpr int64_t kMaxProduceRate = 1'000'000'000'000;
inline constexpr int32_t kMaxPartitions = 4096;

struct TraceRow {
  int64_t time_seconds = 0;
  int64_t produce_rate = 0;  // messages per second from time_seconds on
  // The partition that cannot be consumed from time_seconds on; none if unset.
  std::optional<int32_t> poisoned_partition;
  friend bool operator==(const TraceRow&, const TraceRow&) = default;
};

struct Trace {
  std::vector<TraceRow> rows;  // at least one; times strictly increasing
  friend bool operator==(const Trace&, const Trace&) = default;
};

// Parses a trace from `text`; `source_name` is the SOURCE of error messages.
StatusOr<Trace> ParseTrace(std::string_view text, std::string_view source_name);

// Reads `path` and parses it. An unreadable file gives `PATH: cannot read: why`.
StatusOr<Trace> LoadTraceFile(const std::string& path);

}  // namespace groupscaler::sim
