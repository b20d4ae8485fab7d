#pragma once

// Time only through Clock, so that nothing reads the system time behind a
// test's back and no test has to sleep.

#include <chrono>

namespace groupscaler {

// Wall-clock instants at millisecond resolution. The policy takes these as
// plain values; only adapters get them from a Clock.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

// The system clock.
class RealClock final : public Clock {
 public:
  Timestamp Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

// A clock that moves only when told to. For tests and the simulator.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = Timestamp{}) : now_(start) {}
  Timestamp Now() const override { return now_; }
  void Advance(std::chrono::milliseconds by) { now_ += by; }
  void Set(Timestamp to) { now_ = to; }

 private:
  Timestamp now_;
};

}  // namespace groupscaler
