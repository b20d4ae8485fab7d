#include "common/heap_trimmer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

namespace groupscaler {
namespace {

using std::chrono::milliseconds;

TEST(HeapTrimmer, TrimsEveryIntervalUntilDestroyed) {
  RealClock clock;
  std::atomic<int> trims{0};
  std::optional<HeapTrimmer> trimmer(std::in_place, &clock, milliseconds(5), [&] { ++trims; });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (trims < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_GE(trims.load(), 3);
  trimmer.reset();
  const int after = trims.load();
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(trims.load(), after) << "no trim once destroyed";
}

}  // namespace
}  // namespace groupscaler
