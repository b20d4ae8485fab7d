#pragma once

// The demo's scale target: a local replica set of example_consumer
// processes in place of a Deployment's pods. It keeps `replicas` processes
// running (a replica that dies is replaced at the next Sync, as a
// ReplicaSet would), stops the newest first on scale-down with SIGTERM (the
// consumer commits and leaves its group), and hands every line a replica
// prints to a callback.
//
// No process outlives the demo: each child gets PR_SET_PDEATHSIG (SIGTERM
// when the thread that started it ends, so start them from one long-lived
// thread), and StopAll signals and reaps every one.
//
// Thread-safe; the line and exit callbacks run on per-replica reader
// threads.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace groupscaler::demo {

// What every replica runs: the pod template.
struct ReplicaTemplate {
  std::string binary;  // example_consumer
  std::string bootstrap_servers;
  std::string auth_file;  // the consumers' --auth-file; empty: none
  std::string topic;
  std::string group_id;
  // The anti-pattern: group.id derived from the replica's name
  // ("<group_id>-replica-3"), so every replica is a group of its own.
  bool group_per_replica = false;
  int process_ms = 0;
  int session_timeout_ms = 6000;
  std::string offset_reset = "earliest";
  std::string stderr_path;  // the replicas' stderr, appended; empty: /dev/null
};

struct ReplicaInfo {
  std::string name;  // "replica-1": the lowest ordinal free when it started
  std::string group_id;
  pid_t pid = -1;
  bool terminating = false;  // asked to stop, not yet exited
};

class ReplicaSet {
 public:
  using LineCallback = std::function<void(const std::string& replica, const std::string& group_id,
                                          std::string_view)>;
  using ExitCallback = std::function<void(const std::string& replica)>;

  ReplicaSet(ReplicaTemplate tmpl, LineCallback on_line, ExitCallback on_exit);
  // StopAll with a 10 s grace period.
  ~ReplicaSet();
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  // The wanted count; takes effect at once (Sync).
  Status SetReplicas(int32_t replicas);
  int32_t replicas() const;
  // Starts replicas until `replicas()` are running and not terminating;
  // SIGTERMs the newest beyond it; reaps the threads of exited ones.
  Status Sync();
  // Running, not terminating.
  int32_t ready() const;
  const ReplicaTemplate& replica_template() const { return template_; }
  // The group.id a replica of this name uses.
  std::string GroupIdFor(const std::string& replica_name) const;
  std::vector<ReplicaInfo> List() const;
  // SIGKILLs the oldest running replica; which it was, or nullopt when none
  // runs.
  std::optional<ReplicaInfo> KillOldest();
  // SIGTERMs every replica, waits up to `grace`, then SIGKILLs the rest;
  // returns once every child was reaped. Later Syncs start nothing.
  void StopAll(std::chrono::milliseconds grace);

 private:
  struct Replica {
    ReplicaInfo info;
    int64_t sequence = 0;  // start order
    int stdout_fd = -1;
    bool exited = false;
    std::thread reader;
  };

  StatusOr<std::unique_ptr<Replica>> StartReplica(const std::string& name);
  void ReadUntilExit(Replica* replica);
  std::string NextName() const;  // under mu_

  const ReplicaTemplate template_;
  const LineCallback on_line_;
  const ExitCallback on_exit_;
  mutable std::mutex mu_;
  int32_t replicas_ = 0;
  int64_t next_sequence_ = 0;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Replica>> replicas_running_;
};

}  // namespace groupscaler::demo
