#include "cli/cli.h"

#include <algorithm>
#include <exception>
#include <iostream>
#include <string>

namespace groupscaler::cli {
namespace {

// Runs a parsed command. Nothing may escape as a crash: an exception is a
// bug of ours, reported as one line.
int RunParsed(const CLI::App& app, const Command& command) {
  try {
    return command.run();
  } catch (const std::exception& e) {
    std::cerr << app.get_name() << " " << command.app->get_name()
              << ": internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace

int Run(CLI::App& app, const std::vector<Command>& commands, int argc, const char* const* argv) {
  app.require_subcommand(1);
  // CLI11 reads an unknown word as a stray argument and only says a
  // sub-command is required; name the word instead.
  if (argc > 1 && argv[1][0] != '-') {
    const std::string word = argv[1];
    const bool known = std::any_of(commands.begin(), commands.end(),
                                   [&](const Command& c) { return c.app->check_name(word); });
    if (!known) {
      std::string names;
      for (const Command& c : commands) names += (names.empty() ? "" : ", ") + c.app->get_name();
      std::cerr << app.get_name() << ": unknown sub-command '" << word
                << "' (expected one of: " << names << ")\n";
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string line = e.what();
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::cerr << app.get_name() << ": " << line << " (see --help)\n";
    return kExitUsage;
  }
  for (const Command& command : commands) {
    if (command.app->parsed()) return RunParsed(app, command);
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace groupscaler::cli
