#pragma once

// `groupscaler lag`, the real binary, run as a subprocess against real Kafka
// brokers, and Kafka's own kafka-consumer-groups to judge it by.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/kafka_broker.h"
#include "support/subprocess.h"

namespace groupscaler::testing {

// `groupscaler lag ARGS...` to completion (30 s at most).
RunResult Lag(const std::vector<std::string>& args);

// `groupscaler lag --output json` of `group` on `bootstrap`, with a --topic
// for each of `topics`, then `flags`; null (and a test failure) when it
// does not exit 0.
nlohmann::json LagJsonOf(const std::string& bootstrap, const std::string& group,
                         const std::vector<std::string>& topics,
                         const std::vector<std::string>& flags = {});

// (topic, partition) -> the partition's object in LagJsonOf's output.
std::map<std::pair<std::string, int>, nlohmann::json> ByPartition(const nlohmann::json& lag);

struct ToolRow {
  std::string committed;  // "-" when none
  std::string log_end;
  std::string lag;  // "-" when none
};

// kafka-consumer-groups --describe of `group`: (topic, partition) -> row.
std::map<std::pair<std::string, int>, ToolRow> DescribeOffsets(const KafkaCluster& kafka,
                                                               const std::string& group);

}  // namespace groupscaler::testing
