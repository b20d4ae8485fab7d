#pragma once

// The controller's work queue: keys ("namespace/name") waiting to be
// reconciled, each due at a time read from a Clock.
//
// Contract:
// * Deduplicated: a key is held at most once. Adding a key that is already
//   waiting keeps the earlier of the two due times.
// * A key is handed to one worker at a time. A key added while a worker
//   processes it is not handed out again until that worker calls Done; then
//   it is due at the earlier of the re-add's time and what Done asked for.
// * Done reports the outcome, which decides the next due time, never both:
//   an error schedules a retry after a per-key exponential backoff (5 ms,
//   doubling, capped at 5 min, or at the outcome's `requeue_after` when it
//   is given); a success resets the backoff and schedules the key after
//   `requeue_after` (or not at all when absent).
// * Time comes only from the Clock, and Get() waits only by sleeping on it
//   until the next due time: every add, Done and ShutDown cuts that sleep
//   short, and a ManualClock ends it when moved. TryGet() and NextDue()
//   never block, so single-threaded tests need no waiting at all.
// * ShutDown() makes every Get() return nullopt; later adds are ignored.
// * With a MetricsSink, every change reports the depth (keys due now and
//   not in processing) and every hand-out the time the key waited since it
//   was due. The depth is exact at each report and costs O(log n) plus the
//   keys whose due time the clock passed since the previous report (each
//   counted once as it becomes due), so that 10,000 keys due at once cost
//   10,000 small steps, not 10,000 walks over the waiting keys.
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <tuple>

#include "common/clock.h"
#include "controller/metrics_sink.h"

namespace groupscaler::controller {

struct BackoffPolicy {
  std::chrono::milliseconds base{5};
  std::chrono::milliseconds cap{std::chrono::minutes(5)};
};

// The backoff before retry number `failures` (1 for the first failure):
// base * 2^(failures-1), capped.
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int failures);

// What processing a key came to.
struct Outcome {
  // The reconcile failed: retry after the key's backoff, but no later than
  // requeue_after when that is given.
  bool failed = false;
  // On success: process the key again after this long; absent: only when
  // something adds it again. On failure: the longest the backoff may grow.
  std::optional<std::chrono::milliseconds> requeue_after;

  static Outcome Failed() { return {.failed = true}; }
  // A failure retried after the backoff, which never grows past `at_most`
  // (a poll interval: a long outage must not delay the next decision
  // beyond one poll once the cause is gone).
  static Outcome FailedAtMost(std::chrono::milliseconds at_most) {
    return {.failed = true, .requeue_after = at_most};
  }
  static Outcome RequeueAfter(std::chrono::milliseconds d) { return {.requeue_after = d}; }
  static Outcome Forget() { return {}; }
};

class WorkQueue {
 public:
  // `clock` and `metrics` (null: none) must outlive the queue.
  explicit WorkQueue(const Clock* clock, BackoffPolicy backoff = {},
                     MetricsSink* metrics = nullptr);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Due now.
  void Add(const std::string& key);
  // Due after `delay` from now.
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);

  // Blocks until a key is due (and not being processed), then hands it out;
  // nullopt once shut down. The caller must call Done(key, ...) later.
  std::optional<std::string> Get();
  // A due key, or nullopt without waiting.
  std::optional<std::string> TryGet();
  // Ends the processing of `key` (see the contract).
  void Done(const std::string& key, const Outcome& outcome);
  // Drops `key`'s waiting entry and backoff (a deleted object). A key in
  // processing is still finished by its Done.
  void Forget(const std::string& key);

  // The earliest time a waiting key is due; nullopt when none waits.
  std::optional<Timestamp> NextDue() const;
  // Consecutive failures recorded for `key`.
  int Failures(const std::string& key) const;
  // Keys waiting (not counting keys in processing that are not re-added).
  size_t Waiting() const;
  // Some key is due now and waits for a worker.
  bool HasDue() const;
  size_t Processing() const;

  void ShutDown();
  bool shutting_down() const;

 private:
  struct Entry {
    std::optional<Timestamp> due;  // waiting, due at this time
    bool processing = false;
    int failures = 0;
    uint64_t seq = 0;  // order among keys due at the same time
  };
  using Index = std::set<std::tuple<Timestamp, uint64_t, std::string>>;

  void ScheduleLocked(const std::string& key, Entry& entry, Timestamp due);
  // Adds or removes `entry`'s place in ready_, keeping due_at_mark_.
  void InsertReadyLocked(const std::string& key, const Entry& entry);
  void EraseReadyLocked(const std::string& key, const Entry& entry);
  // Moves depth_mark_ to `now`, counting the keys it passes either way.
  void MoveDepthMarkLocked(Timestamp now);
  std::optional<std::string> PopDueLocked(Timestamp now);
  void EraseIfIdleLocked(const std::string& key);
  void ReportDepthLocked(Timestamp now);
  // Cuts short every Get() sleeping on the clock, so that it looks again.
  void WakeSleepersLocked();

  const Clock* clock_;
  const BackoffPolicy backoff_;
  MetricsSink* const metrics_;
  mutable std::mutex mu_;
  // Stopped to wake the Get() calls sleeping with its token; then replaced.
  std::stop_source wake_;
  std::map<std::string, Entry> entries_;
  // Waiting keys that are not in processing, by due time.
  Index ready_;
  // The depth as of depth_mark_: the keys in ready_ due at or before it.
  Timestamp depth_mark_ = Timestamp::min();
  size_t due_at_mark_ = 0;
  uint64_t next_seq_ = 0;
  bool shutting_down_ = false;
};

}  // namespace groupscaler::controller
