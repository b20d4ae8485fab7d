#pragma once

// A minimal ApiVersions exchange over plaintext TCP, to learn whether a broker
// serves an API before librdkafka is asked to use it. Exists because
// librdkafka 2.0.2's DescribeConsumerGroups against a broker without
// DescribeGroups (its own mock broker) wedges the client handle: polls stop
// honouring their timeouts and rd_kafka_destroy hangs.

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace groupscaler::kafka {

inline constexpr int16_t kApiDescribeGroups = 15;

// Whether the broker at `host_port` ("host:port", IPv6 as "[::1]:9092")
// lists `api_key` in its ApiVersions answer. UNAVAILABLE when it cannot be
// reached or answers nonsense within `timeout`. Plaintext only.
StatusOr<bool> BrokerSupportsApi(const std::string& host_port, int16_t api_key,
                                 std::chrono::milliseconds timeout);

}  // namespace groupscaler::kafka
