#pragma once

// The one clock for tests: time moves only when told to.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <vector>

#include "common/clock.h"

namespace groupscaler {

// Contract:
// * Now() changes only by Advance() or Set(), or by a sleep in kAdvance
//   mode.
// * kBlock (the default): SleepFor blocks until another thread moves the
//   clock to the wake time (now + duration at the call), or until `stop`.
//   Threads that wait on the clock need no extra wake-up call.
// * kAdvance: SleepFor moves the clock by the duration and returns at once,
//   so that code that paces itself (retry backoff, rate limits) runs at full
//   speed in one thread and its waits can be asserted through Sleeps().
// * Every SleepFor is recorded in Sleeps(), in the order of the calls.
//
// Thread-safe: any thread may read, move or sleep on it.
class ManualClock final : public Clock {
 public:
  enum class Sleeping { kBlock, kAdvance };

  explicit ManualClock(Timestamp start = Timestamp{}, Sleeping sleeping = Sleeping::kBlock)
      : sleeping_(sleeping), now_(start) {}

  Timestamp Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  bool SleepFor(std::chrono::milliseconds duration, std::stop_token stop = {}) const override {
    std::unique_lock lock(mu_);
    sleeps_.push_back(duration);
    duration = std::max(duration, std::chrono::milliseconds(0));
    const Timestamp wake = duration >= Timestamp::max() - now_ ? Timestamp::max() : now_ + duration;
    if (sleeping_ == Sleeping::kAdvance) {
      if (wake != Timestamp::max()) MoveLocked(wake);
      return !stop.stop_requested();
    }
    ++sleepers_;
    const bool woke = cv_.wait(lock, stop, [&] { return now_ >= wake; });
    --sleepers_;
    return woke;
  }

  void Advance(std::chrono::milliseconds by) {
    std::lock_guard lock(mu_);
    MoveLocked(now_ + by);
  }
  void Set(Timestamp to) {
    std::lock_guard lock(mu_);
    MoveLocked(to);
  }

  // Threads blocked in SleepFor now (kBlock): a test can wait for a worker
  // to be asleep before it moves the clock.
  int Sleepers() const {
    std::lock_guard lock(mu_);
    return sleepers_;
  }
  // Every duration passed to SleepFor so far.
  std::vector<std::chrono::milliseconds> Sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

 private:
  void MoveLocked(Timestamp to) const {
    now_ = to;
    cv_.notify_all();
  }

  const Sleeping sleeping_;
  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  mutable Timestamp now_;
  mutable int sleepers_ = 0;
  mutable std::vector<std::chrono::milliseconds> sleeps_;
};

}  // namespace groupscaler
