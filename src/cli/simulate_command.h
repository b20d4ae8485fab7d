#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace groupscaler::cli {

// `groupscaler simulate`: replays a produce-rate trace through the policy and
// a model of a consumer group.
Command AddSimulateCommand(CLI::App& parent);

}  // namespace groupscaler::cli
