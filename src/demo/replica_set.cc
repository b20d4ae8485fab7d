#include "demo/replica_set.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

namespace groupscaler::demo {

ReplicaSet::ReplicaSet(ReplicaTemplate tmpl, LineCallback on_line, ExitCallback on_exit)
    : template_(std::move(tmpl)), on_line_(std::move(on_line)), on_exit_(std::move(on_exit)) {}

ReplicaSet::~ReplicaSet() { StopAll(std::chrono::seconds(10)); }

std::string ReplicaSet::GroupIdFor(const std::string& replica_name) const {
  return template_.group_per_replica ? template_.group_id + "-" + replica_name : template_.group_id;
}

Status ReplicaSet::SetReplicas(int32_t replicas) {
  {
    std::lock_guard lock(mu_);
    replicas_ = std::max(0, replicas);
  }
  return Sync();
}

int32_t ReplicaSet::replicas() const {
  std::lock_guard lock(mu_);
  return replicas_;
}

int32_t ReplicaSet::ready() const {
  std::lock_guard lock(mu_);
  return static_cast<int32_t>(
      std::count_if(replicas_running_.begin(), replicas_running_.end(),
                    [](const auto& r) { return !r->exited && !r->info.terminating; }));
}

std::vector<ReplicaInfo> ReplicaSet::List() const {
  std::lock_guard lock(mu_);
  std::vector<ReplicaInfo> out;
  for (const auto& r : replicas_running_) {
    if (!r->exited) out.push_back(r->info);
  }
  return out;
}

std::string ReplicaSet::NextName() const {
  // The lowest free ordinal, as a StatefulSet names pods: a name is free
  // once its previous holder exited, so the assignment map never shows two
  // processes under one name.
  std::set<std::string> taken;
  for (const auto& r : replicas_running_) {
    if (!r->exited) taken.insert(r->info.name);
  }
  for (int i = 1;; ++i) {
    std::string name = "replica-" + std::to_string(i);
    if (!taken.contains(name)) return name;
  }
}

Status ReplicaSet::Sync() {
  std::lock_guard lock(mu_);
  // Reap the reader threads of replicas that exited.
  for (auto it = replicas_running_.begin(); it != replicas_running_.end();) {
    if ((*it)->exited) {
      (*it)->reader.join();
      it = replicas_running_.erase(it);
    } else {
      ++it;
    }
  }
  if (stopped_) return Status::Ok();
  std::vector<Replica*> live;
  for (const auto& r : replicas_running_) {
    if (!r->info.terminating) live.push_back(r.get());
  }
  // Newest first on scale-down.
  std::sort(live.begin(), live.end(),
            [](const Replica* a, const Replica* b) { return a->sequence > b->sequence; });
  for (size_t i = 0; i + replicas_ < live.size(); ++i) {
    live[i]->info.terminating = true;
    ::kill(live[i]->info.pid, SIGTERM);
  }
  for (auto n = static_cast<int32_t>(live.size()); n < replicas_; ++n) {
    StatusOr<std::unique_ptr<Replica>> started = StartReplica(NextName());
    if (!started.ok()) return started.status();
    replicas_running_.push_back(std::move(started).value());
    Replica* r = replicas_running_.back().get();
    r->reader = std::thread([this, r] { ReadUntilExit(r); });
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<ReplicaSet::Replica>> ReplicaSet::StartReplica(const std::string& name) {
  auto replica = std::make_unique<Replica>();
  replica->info.name = name;
  replica->info.group_id = GroupIdFor(name);
  replica->sequence = next_sequence_++;
  std::vector<std::string> args = {template_.binary,
                                   "--bootstrap-servers",
                                   template_.bootstrap_servers,
                                   "--group",
                                   replica->info.group_id,
                                   "--topic",
                                   template_.topic,
                                   "--process-ms",
                                   std::to_string(template_.process_ms),
                                   "--session-timeout-ms",
                                   std::to_string(template_.session_timeout_ms),
                                   "--offset-reset",
                                   template_.offset_reset,
                                   "--print-messages"};
  if (!template_.auth_file.empty()) args.insert(args.end(), {"--auth-file", template_.auth_file});
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return InternalError(std::string("pipe: ") + strerror(errno));
  const std::string err_path = template_.stderr_path.empty() ? "/dev/null" : template_.stderr_path;
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (err_fd < 0 || in_fd < 0) {
    const std::string why = strerror(errno);
    for (int fd : {out[0], out[1], err_fd, in_fd}) {
      if (fd >= 0) ::close(fd);
    }
    return InternalError("open " + err_path + ": " + why);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the demo already died
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the demo blocks SIGINT/SIGTERM
    ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(out[1]);
  ::close(err_fd);
  ::close(in_fd);
  if (pid < 0) {
    ::close(out[0]);
    return InternalError(std::string("fork: ") + strerror(fork_errno));
  }
  replica->info.pid = pid;
  replica->stdout_fd = out[0];
  return replica;
}

void ReplicaSet::ReadUntilExit(Replica* replica) {
  std::string buffer;
  char chunk[16384];
  while (true) {
    const ssize_t n = ::read(replica->stdout_fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t begin = 0;
    for (size_t nl; (nl = buffer.find('\n', begin)) != std::string::npos; begin = nl + 1) {
      on_line_(replica->info.name, replica->info.group_id,
               std::string_view(buffer).substr(begin, nl - begin));
    }
    buffer.erase(0, begin);
  }
  ::close(replica->stdout_fd);
  int status = 0;
  while (::waitpid(replica->info.pid, &status, 0) < 0 && errno == EINTR) {
  }
  on_exit_(replica->info.name);
  std::lock_guard lock(mu_);
  replica->exited = true;
}

std::optional<ReplicaInfo> ReplicaSet::KillOldest() {
  std::lock_guard lock(mu_);
  Replica* oldest = nullptr;
  for (const auto& r : replicas_running_) {
    if (r->exited || r->info.terminating) continue;
    if (oldest == nullptr || r->sequence < oldest->sequence) oldest = r.get();
  }
  if (oldest == nullptr) return std::nullopt;
  // No longer counted as running: the next Sync starts its replacement, as
  // a Deployment replaces a pod that died.
  oldest->info.terminating = true;
  ::kill(oldest->info.pid, SIGKILL);
  return oldest->info;
}

void ReplicaSet::StopAll(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    for (const auto& r : replicas_running_) {
      if (!r->exited) ::kill(r->info.pid, SIGTERM);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  auto all_exited = [this] {
    std::lock_guard lock(mu_);
    return std::all_of(replicas_running_.begin(), replicas_running_.end(),
                       [](const auto& r) { return r->exited; });
  };
  while (!all_exited() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<std::unique_ptr<Replica>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : replicas_running_) {
      if (!r->exited) ::kill(r->info.pid, SIGKILL);
    }
    all.swap(replicas_running_);
  }
  for (const auto& r : all) r->reader.join();
}

}  // namespace groupscaler::demo
