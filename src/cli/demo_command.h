#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace groupscaler::cli {

// `groupscaler demo`: the controller on one machine, with no Kubernetes, on
// an embedded Kafka or on an existing one (--bootstrap-servers, its own
// topic and group). See demo/demo.h for what runs and README.md
// ("groupscaler demo") for every flag.
//
// The consumer binary is --consumer-binary, else `example_consumer` next to
// this executable, else in the build tree's layout
// (<dir>/examples/consumer/example_consumer), else on PATH.
//
// Exit codes: 0 the demo ran (the summary says whether the rules held),
// 1 something could not start (an existing Kafka unreachable or refusing
// the login within 10 s) or its topic or groups could not be removed,
// 2 usage (flags that contradict each other, an unreadable or invalid
// --auth-file).
Command AddDemoCommand(CLI::App& parent);

}  // namespace groupscaler::cli
