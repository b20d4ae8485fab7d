#include "kafka/statistics.h"

#include <nlohmann/json.hpp>

#include <limits>

namespace groupscaler::kafka {
namespace {

// Counts only grow; a report that sums past int64 (a broken or hostile
// report) stops at the maximum instead of overflowing.
int64_t SaturatingAdd(int64_t a, int64_t b) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return a > kMax - b ? kMax : a + b;
}

}  // namespace

StatusOr<RequestCounts> ParseRequestCounts(std::string_view json) {
  const nlohmann::json report =
      nlohmann::json::parse(json, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.is_object()) {
    return InternalError("librdkafka statistics: not a JSON object");
  }
  RequestCounts counts;
  auto brokers = report.find("brokers");
  if (brokers == report.end() || !brokers->is_object()) return counts;
  for (const auto& [name, broker] : brokers->items()) {
    auto req = broker.find("req");
    if (req == broker.end() || !req->is_object()) continue;
    for (const auto& [api, count] : req->items()) {
      if (count.is_number_integer() && count.get<int64_t>() > 0) {
        int64_t& sum = counts.by_api[api];
        sum = SaturatingAdd(sum, count.get<int64_t>());
      }
    }
  }
  return counts;
}

}  // namespace groupscaler::kafka
