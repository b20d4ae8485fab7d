#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace groupscaler::cli {

// `groupscaler lag`: one observation of a consumer group, the way
// `kafka-consumer-groups --describe` shows it, plus the replica ceiling and
// what the policy would decide with default settings.
//
//   groupscaler lag --bootstrap-servers HOST:PORT[,...] --group ID [--topic T ...]
//                   [--auth-file FILE] [--output table|json|mermaid] [--timeout-ms MS]
//
// Exit codes: 0 ok; 1 Kafka error (one line on stderr naming the broker or
// topic and why; nothing on stdout); 2 usage (bad flag, bad auth file, no
// --topic where the broker cannot list the group's topics).
//
// --output json prints exactly
//   {"group": "...", "totalLag": N, "partitions": N, "ceiling": N,
//    "topics": [{"topic": "...", "partitions": [{"partition": 0,
//      "logStartOffset": N, "logEndOffset": N, "committedOffset": N|null, "lag": N}]}]}
// Lag follows the policy (policy::ComputePartitionLag, offsetResetPolicy
// latest): a partition without a commit has lag 0; a commit below the log
// start counts from the log start; a commit beyond the end counts 0.
// logEndOffset is the last stable offset, and transaction markers and
// aborted records just below it are no lag (see rdkafka_lag_reader.h).
Command AddLagCommand(CLI::App& parent);

}  // namespace groupscaler::cli
