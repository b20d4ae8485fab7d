#pragma once

// Reading librdkafka's statistics JSON (statistics.interval.ms).

#include <string_view>

#include "common/status.h"
#include "kafka/lag_reader.h"

namespace groupscaler::kafka {

// Sums `brokers.*.req` of one statistics report: the requests the client
// sent since it was created, by API (positive integer counts only; a sum
// saturates at INT64_MAX). INTERNAL when `json` is not a report.
StatusOr<RequestCounts> ParseRequestCounts(std::string_view json);

}  // namespace groupscaler::kafka
