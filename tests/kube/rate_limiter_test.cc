#include "kube/rate_limiter.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/manual_clock.h"

namespace groupscaler::kube {
namespace {

using std::chrono::milliseconds;

struct Step {
  milliseconds advance{0};  // before this Reserve
  milliseconds want_wait{0};
};

struct RateLimiterCase {
  std::string name;
  double qps;
  int burst;
  std::vector<Step> steps;
};

class RateLimiterTest : public ::testing::TestWithParam<RateLimiterCase> {};

TEST_P(RateLimiterTest, Waits) {
  const auto& c = GetParam();
  ManualClock clock(Timestamp(std::chrono::seconds(1000)));
  RateLimiter limiter(c.qps, c.burst, &clock);
  for (size_t i = 0; i < c.steps.size(); ++i) {
    clock.Advance(c.steps[i].advance);
    EXPECT_EQ(limiter.Reserve().count(), c.steps[i].want_wait.count()) << "step " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RateLimiterTest,
    ::testing::Values(
        RateLimiterCase{
            .name = "burst_is_free_then_spaced",
            .qps = 10,
            .burst = 3,
            .steps =
                {{}, {}, {}, {.want_wait = milliseconds(100)}, {.want_wait = milliseconds(200)}}},
        RateLimiterCase{.name = "refills_with_time",
                        .qps = 10,
                        .burst = 1,
                        .steps = {{},
                                  {.want_wait = milliseconds(100)},
                                  // The reservation above is paid back first.
                                  {.advance = milliseconds(200)},
                                  {.advance = milliseconds(50), .want_wait = milliseconds(50)}}},
        RateLimiterCase{
            .name = "refill_capped_at_burst",
            .qps = 100,
            .burst = 2,
            .steps = {{.advance = milliseconds(60000)}, {}, {.want_wait = milliseconds(10)}}},
        RateLimiterCase{.name = "disabled", .qps = 0, .burst = 1, .steps = {{}, {}, {}, {}, {}}}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace groupscaler::kube
