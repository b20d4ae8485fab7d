#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace groupscaler::cli {

// `groupscaler controller`: watches ConsumerGroupAutoscalers and scales
// their workloads. Runs until SIGTERM or SIGINT (exit 0, within 5 s, the
// Lease released); a lost Lease stops reconciling and campaigns again in
// the same process. Bad flags or configuration: one line, exit 2.
Command AddControllerCommand(CLI::App& parent);

}  // namespace groupscaler::cli
