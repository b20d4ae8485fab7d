// librdkafka's statistics JSON (statistics.interval.ms), as StatsCallback
// hands it to ParseRequestCounts, and the arithmetic the controller does on
// the result (Total, Since, ToString; src/controller/kafka_metrics.cc).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "kafka/statistics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace groupscaler;
  StatusOr<kafka::RequestCounts> counts =
      kafka::ParseRequestCounts(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!counts.ok()) {
    fuzz::CheckRejection(counts.status());
    FUZZ_CHECK(counts.status().code() == StatusCode::kInternal);
    return 0;
  }
  const int64_t total = counts->Total();
  for (const auto& [api, n] : counts->by_api) {
    FUZZ_CHECK(n > 0);  // only APIs with a count > 0
    FUZZ_CHECK(total >= n);
  }
  FUZZ_CHECK(counts->Since(*counts).by_api.empty());
  FUZZ_CHECK(counts->Since(kafka::RequestCounts{}).by_api == counts->by_api);
  FUZZ_CHECK(!counts->ToString().empty());
  return 0;
}
