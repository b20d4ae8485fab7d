#include "support/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace groupscaler::testing {

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

using SteadyClock = std::chrono::steady_clock;

int RemainingMs(SteadyClock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// fork + exec with the given fds as the child's 0, 1, 2 (-1: inherit).
StatusOr<pid_t> ForkExec(const std::vector<std::string>& argv, int in, int out, int err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return InternalError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (in >= 0) dup2(in, 0);
    if (out >= 0) dup2(out, 1);
    if (err >= 0) dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

double TestTimeFactor() {
  const char* text = std::getenv("GROUPSCALER_TEST_TIME_FACTOR");
  const double factor = text ? std::strtod(text, nullptr) : 1.0;
  return factor >= 1.0 ? factor : 1.0;
}

std::chrono::milliseconds Stretched(std::chrono::milliseconds bound) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double, std::milli>(bound) * TestTimeFactor());
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + Stretched(timeout);
  while (SteadyClock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

StatusOr<std::unique_ptr<Subprocess>> Subprocess::Spawn(const std::vector<std::string>& argv) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return InternalError(std::string("pipe: ") + std::strerror(errno));
  }
  StatusOr<pid_t> pid = ForkExec(argv, in[0], out[1], -1);
  close(in[0]);
  close(out[1]);
  if (!pid.ok()) {
    close(in[1]);
    close(out[0]);
    return pid.status();
  }
  std::unique_ptr<Subprocess> p(new Subprocess());
  p->pid_ = *pid;
  p->stdin_fd_ = in[1];
  p->stdout_fd_ = out[0];
  return p;
}

StatusOr<std::unique_ptr<Subprocess>> Subprocess::SpawnLogged(const std::vector<std::string>& argv,
                                                              const std::string& log_path) {
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) return InternalError(log_path + ": " + std::strerror(errno));
  const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  StatusOr<pid_t> pid = ForkExec(argv, devnull, devnull, log);
  close(devnull);
  close(log);
  if (!pid.ok()) return pid.status();
  std::unique_ptr<Subprocess> p(new Subprocess());
  p->pid_ = *pid;
  p->log_path_ = log_path;
  return p;
}

Subprocess::~Subprocess() {
  CloseStdin();
  if (!exit_code_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::optional<std::string> Subprocess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int remaining = RemainingMs(deadline);
    if (remaining == 0 || poll(&pfd, 1, remaining) <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

void Subprocess::Signal(int signo) {
  if (!exit_code_) kill(pid_, signo);
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  WaitFor(
      [&] {
        int status = 0;
        if (!exit_code_ && waitpid(pid_, &status, WNOHANG) == pid_) {
          exit_code_ = DecodeStatus(status);
        }
        return exit_code_.has_value();
      },
      timeout);
  return exit_code_;
}

std::string LastLines(const std::string& text, size_t n) {
  size_t begin = text.empty() || text.back() != '\n' ? text.size() : text.size() - 1;
  for (size_t i = 0; i < n && begin > 0; ++i) {
    const size_t newline = text.rfind('\n', begin - 1);
    begin = newline == std::string::npos ? 0 : newline;
  }
  return text.substr(begin == 0 ? 0 : begin + 1);
}

std::string Subprocess::log() const {
  if (log_path_.empty()) return "";
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

RunResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  RunResult result;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return result;
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  StatusOr<pid_t> pid = ForkExec(argv, devnull, out[1], err[1]);
  close(devnull);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(out[0]);
    close(err[0]);
    result.err = pid.status().ToString();
    return result;
  }
  const auto deadline = SteadyClock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const int remaining = RemainingMs(deadline);
    if (remaining == 0 || poll(fds, 2, remaining) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char chunk[4096];
      const ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        sinks[i]->append(chunk, static_cast<size_t>(n));
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  if (waitpid(*pid, &status, WNOHANG) != *pid) {
    if (RemainingMs(deadline) == 0) kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
  }
  result.exit_code = DecodeStatus(status);
  return result;
}

long RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace groupscaler::testing
