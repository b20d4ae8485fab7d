#pragma once

// Child processes for tests: a consumer-group member in its own process, or
// the groupscaler binary under test; and polling in real time, since what
// runs in them runs in real time.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace groupscaler::testing {

// A free TCP port on 127.0.0.1, bound and released (for a child that needs
// a number in its flags).
int FreePort();

// How many times longer than usual a wait for something to happen may take:
// GROUPSCALER_TEST_TIME_FACTOR (scripts/sanitize sets it, since sanitized
// code runs several times slower), 1 when unset or not a number >= 1.
double TestTimeFactor();
// `bound` x TestTimeFactor(): how long something may take in this run.
std::chrono::milliseconds Stretched(std::chrono::milliseconds bound);

// Polls `done` every 20 ms for up to `timeout` x TestTimeFactor(); its last
// answer.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

class Subprocess {
 public:
  // Starts argv[0] (a path) with piped stdin and stdout; stderr inherited.
  static StatusOr<std::unique_ptr<Subprocess>> Spawn(const std::vector<std::string>& argv);
  // Starts argv[0] with stdin and stdout on /dev/null and stderr into the
  // file `log_path` (truncated), which log() reads.
  static StatusOr<std::unique_ptr<Subprocess>> SpawnLogged(const std::vector<std::string>& argv,
                                                           const std::string& log_path);
  // Kills the child if it still runs, and reaps it.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // The next line of stdout without its '\n'; nullopt at EOF or timeout.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  void CloseStdin();
  // Sends `signo` unless the child has been reaped.
  void Signal(int signo);
  // Exit code, or 128 + signal; nullopt while it still runs at the timeout
  // (the destructor kills it).
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // What it wrote to stderr so far (SpawnLogged); "" otherwise.
  std::string log() const;

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string log_path_;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// The last `n` lines of `text` (all of it when it has fewer).
std::string LastLines(const std::string& text, size_t n);

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// Runs argv to completion with stdin from /dev/null, capturing stdout and
// stderr; kills it after `timeout`.
RunResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Process `pid`'s resident set (VmRSS) in KiB; -1 when it cannot be read.
long RssKib(pid_t pid);

}  // namespace groupscaler::testing
