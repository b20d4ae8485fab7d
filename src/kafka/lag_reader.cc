#include "kafka/lag_reader.h"

namespace groupscaler::kafka {

policy::Observation FailedObservation(const Status& why) {
  policy::Observation observation;
  observation.failed = true;
  observation.error = why.message();
  return observation;
}

int64_t RequestCounts::Total() const {
  int64_t total = 0;
  for (const auto& [api, count] : by_api) total += count;
  return total;
}

RequestCounts RequestCounts::Since(const RequestCounts& earlier) const {
  RequestCounts delta;
  for (const auto& [api, count] : by_api) {
    auto it = earlier.by_api.find(api);
    const int64_t d = count - (it == earlier.by_api.end() ? 0 : it->second);
    if (d != 0) delta.by_api[api] = d;
  }
  return delta;
}

std::string RequestCounts::ToString() const {
  std::string out;
  for (const auto& [api, count] : by_api) {
    if (!out.empty()) out += ' ';
    out += api + "=" + std::to_string(count);
  }
  return out.empty() ? "none" : out;
}

}  // namespace groupscaler::kafka
