#include "kafka/statistics.h"

#include <nlohmann/json.hpp>

namespace groupscaler::kafka {

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
        counts.by_api[api] += count.get<int64_t>();
      }
    }
  }
  return counts;
}

}  // namespace groupscaler::kafka
