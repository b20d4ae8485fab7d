#include "cli/cli.h"

#include <algorithm>
#include <iostream>
#include <string>

namespace groupscaler::cli {

int Run(CLI::App& app, const std::vector<Command>& commands, int argc, const char* const* argv) {
  app.require_subcommand(1);
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
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace groupscaler::cli
