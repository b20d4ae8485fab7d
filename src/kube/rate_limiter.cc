#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace groupscaler::kube {

RateLimiter::RateLimiter(double qps, int burst, const Clock* clock)
    : qps_(qps), burst_(std::max(1, burst)), clock_(clock), tokens_(burst_), last_(clock->Now()) {}

std::chrono::milliseconds RateLimiter::Reserve() {
  if (qps_ <= 0) return std::chrono::milliseconds(0);
  std::lock_guard<std::mutex> lock(mu_);
  Timestamp now = clock_->Now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  // Going negative records the reservation, so that the next caller waits
  // behind this one rather than beside it.
  tokens_ -= 1;
  if (tokens_ >= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(-tokens_ / qps_ * 1000.0)));
}

}  // namespace groupscaler::kube
