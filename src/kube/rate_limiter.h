#pragma once

// Client-side rate limiting of API requests: a token bucket that refills at
// `qps` tokens per second up to `burst`, as client-go's --kube-api-qps and
// --kube-api-burst. Time comes from the Clock it is given; the limiter only
// says how long to wait, so its logic is testable without sleeping.

#include <chrono>
#include <mutex>

#include "common/clock.h"

namespace groupscaler::kube {

class RateLimiter {
 public:
  // qps <= 0 disables limiting. burst < 1 is treated as 1.
  RateLimiter(double qps, int burst, const Clock* clock);

  // Takes one token and returns how long the caller must wait before sending
  // (zero when a token was available). Reservations queue: callers arriving
  // while the bucket is empty are spaced 1/qps apart. Thread-safe.
  std::chrono::milliseconds Reserve();

 private:
  const double qps_;
  const double burst_;
  const Clock* clock_;
  std::mutex mu_;
  double tokens_;
  Timestamp last_;
};

}  // namespace groupscaler::kube
