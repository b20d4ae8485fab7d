#include "kafka/batching_lag_reader.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace groupscaler::kafka {
namespace {

using std::chrono::milliseconds;

// Answers each group with an observation naming it; the first cycle blocks
// until released, so that requests pile up behind it.
class GatedReader final : public LagReader {
 public:
  StatusOr<std::vector<GroupObservation>> Observe(const std::vector<GroupQuery>& groups,
                                                  milliseconds) override {
    std::unique_lock lock(mu_);
    calls_.push_back(groups.size());
    entered_.notify_all();
    if (calls_.size() == 1) released_.wait(lock, [&] { return open_; });
    if (fail_) return UnavailableError("brokers down");
    std::vector<GroupObservation> out;
    for (const auto& q : groups) out.push_back({.group_id = q.group_id});
    return out;
  }
  StatusOr<std::vector<std::string>> CommittedTopics(const std::string&, milliseconds) override {
    return NotFoundError("none");
  }
  StatusOr<std::vector<std::string>> ListGroups(milliseconds) override {
    return UnimplementedError("none");
  }
  StatusOr<RequestCounts> RequestCountsSnapshot(milliseconds) override { return RequestCounts{}; }
  void WaitEntered() {
    std::unique_lock lock(mu_);
    entered_.wait(lock, [&] { return !calls_.empty(); });
  }
  void Release(bool fail = false) {
    std::lock_guard lock(mu_);
    open_ = true;
    fail_ = fail;
    released_.notify_all();
  }
  std::vector<size_t> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable entered_, released_;
  std::vector<size_t> calls_;
  bool open_ = false;
  bool fail_ = false;
};

struct BatchCase {
  std::string name;
  // Groups asked (one Observe each) while the first cycle is held.
  std::vector<std::string> behind;
  bool fail = false;
  // Queries of the second cycle (duplicates asked once).
  size_t want_second_cycle = 0;
};

void PrintTo(const BatchCase& c, std::ostream* os) { *os << c.name; }

class BatchingTable : public ::testing::TestWithParam<BatchCase> {};

TEST_P(BatchingTable, RequestsBehindACycleShareTheNext) {
  const BatchCase& c = GetParam();
  auto gated = std::make_unique<GatedReader>();
  GatedReader* inner = gated.get();
  BatchingLagReader reader(std::move(gated));

  StatusOr<std::vector<GroupObservation>> first = InternalError("unset");
  std::jthread leader([&] { first = reader.Observe({{"first", {"t"}}}, milliseconds(100)); });
  inner->WaitEntered();
  std::vector<StatusOr<std::vector<GroupObservation>>> results(
      c.behind.size(), StatusOr<std::vector<GroupObservation>>(InternalError("unset")));
  {
    std::vector<std::jthread> waiters;
    for (size_t i = 0; i < c.behind.size(); ++i) {
      waiters.emplace_back([&, i] {
        results[i] = reader.Observe({{c.behind[i], {"t"}}}, milliseconds(100));
      });
    }
    // Every waiter queued behind the held cycle before it ends.
    while (reader.pending() < c.behind.size()) std::this_thread::yield();
    inner->Release(c.fail);
  }
  leader.join();

  EXPECT_EQ(first.ok(), !c.fail);
  for (size_t i = 0; i < c.behind.size(); ++i) {
    ASSERT_EQ(results[i].ok(), !c.fail) << c.behind[i];
    if (!c.fail) {
      ASSERT_EQ(results[i]->size(), 1u);
      EXPECT_EQ((*results[i])[0].group_id, c.behind[i]);
    }
  }
  const std::vector<size_t> calls = inner->calls();
  ASSERT_EQ(calls.size(), c.behind.empty() ? 1u : 2u);
  if (!c.behind.empty()) {
    EXPECT_EQ(calls[1], c.want_second_cycle);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BatchingTable,
    ::testing::Values(
        BatchCase{.name = "Alone"},
        BatchCase{.name = "ThreeGroupsOneCycle", .behind = {"a", "b", "c"}, .want_second_cycle = 3},
        BatchCase{
            .name = "DuplicatesAskedOnce", .behind = {"a", "a", "b", "a"}, .want_second_cycle = 2},
        BatchCase{.name = "ErrorReachesEveryone",
                  .behind = {"a", "b"},
                  .fail = true,
                  .want_second_cycle = 2}),
    [](const ::testing::TestParamInfo<BatchCase>& info) { return info.param.name; });

}  // namespace
}  // namespace groupscaler::kafka
