// ParseTrace on any text (`groupscaler simulate --trace FILE`, the demo's
// --profile): a trace within the documented bounds, or a `SOURCE:LINE: what`
// error.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "sim/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace groupscaler;
  constexpr std::string_view kSource = "trace.csv";
  StatusOr<sim::Trace> trace =
      sim::ParseTrace(std::string_view(reinterpret_cast<const char*>(data), size), kSource);
  if (!trace.ok()) {
    fuzz::CheckLineError(trace.status(), kSource);
    FUZZ_CHECK(trace.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(!trace->rows.empty());
  int64_t previous = -1;
  for (const sim::TraceRow& row : trace->rows) {
    FUZZ_CHECK(row.time_seconds > previous && row.time_seconds <= sim::kMaxTraceSeconds);
    FUZZ_CHECK(row.produce_rate >= 0 && row.produce_rate <= sim::kMaxProduceRate);
    if (row.poisoned_partition) {
      FUZZ_CHECK(*row.poisoned_partition >= 0 && *row.poisoned_partition < sim::kMaxPartitions);
    }
    previous = row.time_seconds;
  }
  return 0;
}
