#pragma once

// Shared plumbing of the sub-commands: how they register, how a parse error
// becomes one line and exit code 2.

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace groupscaler::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // the work failed (Kafka, API server)
inline constexpr int kExitUsage = 2;  // a bad flag, argument or input file

// A sub-command: its CLI11 app, and what runs once it was parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Parses argv and runs the chosen command. --help prints help and returns 0;
// a parse error prints one line naming the problem on stderr and returns 2;
// an exception out of a command prints "NAME COMMAND: internal error: WHAT"
// and returns 1.
int Run(CLI::App& app, const std::vector<Command>& commands, int argc, const char* const* argv);

}  // namespace groupscaler::cli
