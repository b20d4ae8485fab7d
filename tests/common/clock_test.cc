#include "common/clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <stop_token>
#include <thread>
#include <vector>

#include "common/manual_clock.h"

namespace groupscaler {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

// Until `done`, for at most 10 s of real time: another thread's progress.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = Steady::now() + seconds(10);
  while (!done() && Steady::now() < deadline) std::this_thread::yield();
  return done();
}

TEST(ManualClockTest, AdvanceModeMovesTheClockBySleepsAndRecordsThem) {
  ManualClock clock(Timestamp{seconds(100)}, ManualClock::Sleeping::kAdvance);
  EXPECT_TRUE(clock.SleepFor(milliseconds(250)));
  EXPECT_TRUE(clock.SleepFor(milliseconds(0)));
  EXPECT_EQ(clock.Now(), Timestamp{milliseconds(100'250)});
  EXPECT_EQ(clock.Sleeps(), (std::vector<milliseconds>{milliseconds(250), milliseconds(0)}));
  std::stop_source stopped;
  stopped.request_stop();
  EXPECT_FALSE(clock.SleepFor(milliseconds(5), stopped.get_token()));
}

TEST(ManualClockTest, BlockModeSleepsUntilMovedToTheWakeTime) {
  ManualClock clock(Timestamp{seconds(100)});
  bool woke = false;
  std::jthread sleeper([&] { woke = clock.SleepFor(seconds(10)); });
  ASSERT_TRUE(Eventually([&] { return clock.Sleepers() == 1; }));
  clock.Advance(seconds(9));
  EXPECT_EQ(clock.Sleepers(), 1) << "1 s short of the wake time";
  clock.Advance(seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(clock.Sleepers(), 0);
  EXPECT_EQ(clock.Now(), Timestamp{seconds(110)});
}

TEST(ManualClockTest, StopEndsASleepThatWouldNeverWake) {
  ManualClock clock;
  bool woke = true;
  std::jthread sleeper(
      [&](std::stop_token stop) { woke = clock.SleepFor(milliseconds::max(), stop); });
  ASSERT_TRUE(Eventually([&] { return clock.Sleepers() == 1; }));
  clock.Advance(hours(24 * 365));
  EXPECT_EQ(clock.Sleepers(), 1) << "milliseconds::max() waits for the stop alone";
  sleeper.request_stop();
  sleeper.join();
  EXPECT_FALSE(woke);
}

TEST(RealClockTest, SleepsTheDurationOnTheSteadyClock) {
  const RealClock clock;
  const auto start = Steady::now();
  EXPECT_TRUE(clock.SleepFor(milliseconds(20)));
  EXPECT_GE(Steady::now() - start, milliseconds(20));
}

TEST(RealClockTest, StopEndsALongSleepAtOnce) {
  const RealClock clock;
  bool woke = true;
  const auto start = Steady::now();
  std::jthread sleeper(
      [&](std::stop_token stop) { woke = clock.SleepFor(milliseconds::max(), stop); });
  sleeper.request_stop();
  sleeper.join();
  EXPECT_FALSE(woke);
  EXPECT_LT(Steady::now() - start, seconds(5));
}

}  // namespace
}  // namespace groupscaler
