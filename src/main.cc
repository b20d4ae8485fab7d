// groupscaler: scales a Kafka consumer service by its consumer group's lag.
// This file only wires the sub-commands.

#include <vector>

#include "cli/cli.h"
#include "cli/controller_command.h"
#include "cli/demo_command.h"
#include "cli/lag_command.h"
#include "cli/simulate_command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "groupscaler scales a Kafka consumer service by its consumer group's lag, never past the "
      "partition count.",
      "groupscaler"};
  app.set_version_flag("--version", "groupscaler " GROUPSCALER_VERSION);
  std::vector<groupscaler::cli::Command> commands = {
      groupscaler::cli::AddSimulateCommand(app),
      groupscaler::cli::AddLagCommand(app),
      groupscaler::cli::AddControllerCommand(app),
      groupscaler::cli::AddDemoCommand(app),
  };
  return groupscaler::cli::Run(app, commands, argc, argv);
}
