#pragma once

// Child processes for tests: a consumer-group member in its own process, or
// the groupscaler binary under test.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace groupscaler::testing {

class Subprocess {
 public:
  // Starts argv[0] (a path) with piped stdin and stdout; stderr inherited.
  static StatusOr<std::unique_ptr<Subprocess>> Spawn(const std::vector<std::string>& argv);
  // Kills the child if it still runs, and reaps it.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // The next line of stdout without its '\n'; nullopt at EOF or timeout.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  void CloseStdin();
  // Exit code, or 128 + signal; kills the child (SIGKILL) at the timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// Runs argv to completion with stdin from /dev/null, capturing stdout and
// stderr; kills it after `timeout`.
RunResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace groupscaler::testing
