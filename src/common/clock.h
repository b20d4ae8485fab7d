#pragma once

// The time seam: reading the time and waiting for it go through Clock, so
// that nothing reads the system time or sleeps behind a test's back, and no
// test has to sleep.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace groupscaler {

// Wall-clock instants at millisecond resolution. The policy takes these as
// plain values; only adapters get them from a Clock.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
  // Waits until `duration` has passed on this clock, or until `stop` is
  // requested, whichever comes first. False when stopped. A duration of
  // milliseconds::max() waits for `stop` alone.
  virtual bool SleepFor(std::chrono::milliseconds duration, std::stop_token stop = {}) const = 0;
};

// The system clock; sleeps are measured on the steady clock, so that a
// change of the wall clock neither shortens nor stretches them.
class RealClock final : public Clock {
 public:
  Timestamp Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }

  bool SleepFor(std::chrono::milliseconds duration, std::stop_token stop = {}) const override {
    if (duration <= std::chrono::milliseconds(0)) return !stop.stop_requested();
    // wait_for adds the duration to the steady clock's nanoseconds: bounded
    // so that "forever" cannot overflow.
    constexpr std::chrono::milliseconds kLongest = std::chrono::hours(24 * 365 * 100);
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    // Returns the predicate, false whether stopped or not: ask the token.
    (void)cv.wait_for(lock, stop, std::min(duration, kLongest), [] { return false; });
    return !stop.stop_requested();
  }
};

}  // namespace groupscaler
