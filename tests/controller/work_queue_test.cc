#include "controller/work_queue.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "controller/workers.h"
#include "fakes.h"
#include "support/subprocess.h"

namespace groupscaler::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(BackoffDelay, DoublesFromFiveMillisecondsToFiveMinutes) {
  const BackoffPolicy policy;
  EXPECT_EQ(BackoffDelay(policy, 1), milliseconds(5));
  EXPECT_EQ(BackoffDelay(policy, 2), milliseconds(10));
  EXPECT_EQ(BackoffDelay(policy, 3), milliseconds(20));
  EXPECT_EQ(BackoffDelay(policy, 16), milliseconds(5 << 15));  // 163.84 s
  EXPECT_EQ(BackoffDelay(policy, 17), minutes(5));             // 327.68 s capped
  EXPECT_EQ(BackoffDelay(policy, 1000), minutes(5));
}

// One operation on the queue, and what it must give.
struct Step {
  enum Op { kAdd, kAddAfter, kGet, kDone, kAdvance, kForget } op;
  std::string key;
  milliseconds duration{0};  // kAddAfter's delay, kAdvance's step
  Outcome outcome;           // kDone
  // kGet: the key TryGet must return; "" means none is due.
  std::string want;
};

struct QueueCase {
  std::string name;
  std::vector<Step> steps;
  // After the steps, relative to the start; nullopt: nothing waits.
  std::optional<milliseconds> want_next_due;
  size_t want_waiting = 0;
};

Step Add(std::string key) { return {.op = Step::kAdd, .key = std::move(key)}; }
Step AddAfter(std::string key, milliseconds d) {
  return {.op = Step::kAddAfter, .key = std::move(key), .duration = d};
}
Step Get(std::string want) { return {.op = Step::kGet, .want = std::move(want)}; }
Step Done(std::string key, Outcome outcome) {
  return {.op = Step::kDone, .key = std::move(key), .outcome = outcome};
}
Step Advance(milliseconds d) { return {.op = Step::kAdvance, .duration = d}; }
Step Forget(std::string key) { return {.op = Step::kForget, .key = std::move(key)}; }

void PrintTo(const QueueCase& c, std::ostream* os) { *os << c.name; }

class WorkQueueTable : public ::testing::TestWithParam<QueueCase> {};

TEST_P(WorkQueueTable, Steps) {
  const QueueCase& c = GetParam();
  const Timestamp start{seconds(1000)};
  ManualClock clock(start);
  WorkQueue queue(&clock);
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    switch (s.op) {
      case Step::kAdd:
        queue.Add(s.key);
        break;
      case Step::kAddAfter:
        queue.AddAfter(s.key, s.duration);
        break;
      case Step::kGet:
        EXPECT_EQ(queue.TryGet().value_or(""), s.want);
        break;
      case Step::kDone:
        queue.Done(s.key, s.outcome);
        break;
      case Step::kAdvance:
        clock.Advance(s.duration);
        break;
      case Step::kForget:
        queue.Forget(s.key);
        break;
    }
  }
  std::optional<milliseconds> next_due;
  if (auto due = queue.NextDue()) next_due = *due - start;
  EXPECT_EQ(next_due, c.want_next_due);
  EXPECT_EQ(queue.Waiting(), c.want_waiting);
}

const milliseconds kPoll = seconds(10);

INSTANTIATE_TEST_SUITE_P(
    Cases, WorkQueueTable,
    ::testing::Values(
        QueueCase{.name = "AddedTwiceQueuedOnce",
                  .steps = {Add("a"), Add("a"), Get("a"), Get("")},
                  .want_next_due = std::nullopt},
        QueueCase{.name = "FifoAmongDueKeys",
                  .steps = {Add("a"), Add("b"), Add("c"), Get("a"), Get("b"), Get("c")}},
        QueueCase{.name = "AddAfterNotDueBeforeItsTime",
                  .steps = {AddAfter("a", milliseconds(50)), Get(""), Advance(milliseconds(49)),
                            Get(""), Advance(milliseconds(1)), Get("a")}},
        QueueCase{.name = "EarlierDueTimeWins",
                  .steps = {AddAfter("a", seconds(10)), Add("a"), Get("a"), Get("")}},
        QueueCase{.name = "LaterAddDoesNotDelay",
                  .steps = {AddAfter("a", milliseconds(5)), AddAfter("a", seconds(10))},
                  .want_next_due = milliseconds(5),
                  .want_waiting = 1},
        QueueCase{.name = "NotHandedOutTwiceWhileProcessing",
                  .steps = {Add("a"), Get("a"), Add("a"), Get("")},
                  .want_next_due = std::nullopt},
        QueueCase{.name = "ReAddedWhileProcessingProcessedAgainAfterDone",
                  .steps = {Add("a"), Get("a"), Add("a"), Get(""),
                            Done("a", Outcome::RequeueAfter(kPoll)), Get("a")}},
        QueueCase{.name = "SuccessRequeuesAfterPollInterval",
                  .steps = {Add("a"), Get("a"), Done("a", Outcome::RequeueAfter(kPoll)), Get("")},
                  .want_next_due = kPoll,
                  .want_waiting = 1},
        QueueCase{.name = "ErrorRetriesAfterBackoffNotPollInterval",
                  .steps = {Add("a"), Get("a"), Done("a", Outcome::Failed())},
                  .want_next_due = milliseconds(5),
                  .want_waiting = 1},
        QueueCase{.name = "BackoffDoubles",
                  .steps = {Add("a"), Get("a"), Done("a", Outcome::Failed()),
                            Advance(milliseconds(5)), Get("a"), Done("a", Outcome::Failed()),
                            Advance(milliseconds(10)), Get("a"), Done("a", Outcome::Failed())},
                  // 15 ms elapsed, then 20 ms.
                  .want_next_due = milliseconds(35),
                  .want_waiting = 1},
        QueueCase{
            .name = "SuccessResetsBackoff",
            .steps = {Add("a"), Get("a"), Done("a", Outcome::Failed()), Advance(milliseconds(5)),
                      Get("a"), Done("a", Outcome::Failed()), Advance(milliseconds(10)), Get("a"),
                      Done("a", Outcome::RequeueAfter(kPoll)), Advance(kPoll), Get("a"),
                      Done("a", Outcome::Failed())},
            .want_next_due = milliseconds(15) + kPoll + milliseconds(5),
            .want_waiting = 1},
        // 20 failures would back off for 5 min; capped, the retry comes
        // within the cap.
        QueueCase{.name = "BackoffNeverGrowsPastTheOutcomesCap",
                  .steps =
                      [] {
                        std::vector<Step> steps = {Add("a")};
                        for (int i = 0; i < 20; ++i) {
                          steps.push_back(Get("a"));
                          steps.push_back(Done("a", Outcome::FailedAtMost(kPoll)));
                          steps.push_back(Advance(kPoll));
                        }
                        steps.push_back(Get("a"));
                        steps.push_back(Done("a", Outcome::FailedAtMost(kPoll)));
                        return steps;
                      }(),
                  .want_next_due = 21 * kPoll,
                  .want_waiting = 1},
        QueueCase{.name = "BackoffIsPerKey",
                  .steps = {Add("a"), Add("b"), Get("a"), Done("a", Outcome::Failed()), Get("b"),
                            Done("b", Outcome::RequeueAfter(kPoll)), Advance(milliseconds(5)),
                            Get("a"), Get("")},
                  .want_next_due = kPoll,
                  .want_waiting = 1},
        QueueCase{
            .name = "ReAddDuringFailedProcessingBeatsBackoff",
            .steps = {Add("a"), Get("a"), Done("a", Outcome::Failed()), Advance(milliseconds(5)),
                      Get("a"), Add("a"), Done("a", Outcome::Failed()), Get("a")}},
        QueueCase{.name = "ForgetDropsWaitingKey",
                  .steps = {AddAfter("a", kPoll), Forget("a")},
                  .want_next_due = std::nullopt},
        QueueCase{.name = "ForgottenOutcomeNotRequeued",
                  .steps = {Add("a"), Get("a"), Done("a", Outcome::Forget())},
                  .want_next_due = std::nullopt},
        QueueCase{.name = "DoneForUnknownKeyIgnored",
                  .steps = {Done("x", Outcome::Failed())},
                  .want_next_due = std::nullopt}),
    [](const ::testing::TestParamInfo<QueueCase>& info) { return info.param.name; });

TEST(WorkQueue, GetBlocksUntilAddThenShutDownReleasesIt) {
  RealClock clock;
  WorkQueue queue(&clock);
  std::optional<std::string> got;
  std::jthread getter([&] { got = queue.Get(); });
  queue.Add("ns/a");
  getter.join();
  EXPECT_EQ(got, "ns/a");

  std::optional<std::string> after_shutdown = "unset";
  std::jthread waiter([&] { after_shutdown = queue.Get(); });
  queue.ShutDown();
  waiter.join();
  EXPECT_EQ(after_shutdown, std::nullopt);
  queue.Add("ns/b");
  EXPECT_EQ(queue.Waiting(), 0u);
}

// Get() sleeps on the clock until the key is due, and moving the clock past
// that time is enough to wake it.
TEST(WorkQueue, GetSleepsOnTheClockUntilTheKeyIsDue) {
  ManualClock clock(Timestamp{seconds(1)});
  WorkQueue queue(&clock);
  queue.AddAfter("ns/a", seconds(30));
  std::atomic<bool> got{false};
  std::jthread getter([&] {
    if (queue.Get()) got = true;
  });
  ASSERT_TRUE(groupscaler::testing::WaitFor([&] { return clock.Sleepers() == 1; }, seconds(10)));
  EXPECT_EQ(clock.Sleeps(), std::vector<milliseconds>{seconds(30)});
  clock.Advance(seconds(29));
  EXPECT_FALSE(got.load());
  clock.Advance(seconds(1));
  getter.join();
  EXPECT_TRUE(got.load());
}

// A key added while Get() sleeps towards a later one is handed out at once.
TEST(WorkQueue, AnAddCutsGetsSleepShort) {
  ManualClock clock(Timestamp{seconds(1)});
  WorkQueue queue(&clock);
  queue.AddAfter("ns/later", seconds(30));
  std::optional<std::string> got;
  std::jthread getter([&] { got = queue.Get(); });
  ASSERT_TRUE(groupscaler::testing::WaitFor([&] { return clock.Sleepers() == 1; }, seconds(10)));
  queue.Add("ns/now");
  getter.join();
  EXPECT_EQ(got, "ns/now");
  EXPECT_EQ(clock.Now(), Timestamp{seconds(1)});
}

// With nothing waiting, Get() sleeps until ShutDown.
TEST(WorkQueue, ShutDownEndsAnEmptyQueuesSleep) {
  ManualClock clock(Timestamp{seconds(1)});
  WorkQueue queue(&clock);
  std::optional<std::string> got = "unset";
  std::jthread getter([&] { got = queue.Get(); });
  ASSERT_TRUE(groupscaler::testing::WaitFor([&] { return clock.Sleepers() == 1; }, seconds(10)));
  queue.ShutDown();
  getter.join();
  EXPECT_EQ(got, std::nullopt);
}

// Records every depth the queue reports; ignores the rest.
class DepthRecorder final : public MetricsSink {
 public:
  void SetWorkQueueDepth(size_t depth) override { depths.push_back(depth); }
  void RecordAutoscaler(const AutoscalerSample&) override {}
  void ForgetAutoscaler(const std::string&, const std::string&) override {}
  void RecordReconcile(ReconcileResult, std::chrono::duration<double>) override {}
  void SetWorkers(size_t) override {}
  void ObserveWorkQueueWait(std::chrono::duration<double>) override {}
  void AddKafkaRequests(const kafka::RequestCounts&) override {}
  void CountKafkaError(KafkaErrorKind) override {}
  void CountKubeRequest(std::string_view, std::string_view) override {}
  void SetLeader(bool) override {}

  size_t last() const { return depths.empty() ? SIZE_MAX : depths.back(); }
  std::vector<size_t> depths;
};

// The depth counts keys due now and not in processing: a key joins it when
// the clock reaches its due time (seen at the next change), leaves it when
// handed out or forgotten, and comes back when re-added during processing.
TEST(WorkQueueDepth, CountsTheKeysDueNowAndNotInProcessing) {
  ManualClock clock(Timestamp{seconds(1000)});
  DepthRecorder sink;
  WorkQueue queue(&clock, {}, &sink);
  queue.AddAfter("a", milliseconds(10));
  queue.AddAfter("b", milliseconds(20));
  queue.AddAfter("c", milliseconds(30));
  EXPECT_EQ(sink.last(), 0u);
  queue.Add("d");
  EXPECT_EQ(sink.last(), 1u);
  clock.Advance(milliseconds(20));  // a and b are due
  queue.Add("e");
  EXPECT_EQ(sink.last(), 4u);
  ASSERT_EQ(queue.TryGet(), "d");
  EXPECT_EQ(sink.last(), 3u);
  queue.Forget("b");
  EXPECT_EQ(sink.last(), 2u);
  queue.Add("d");  // in processing: parked, not due for a worker
  EXPECT_EQ(sink.last(), 2u);
  queue.Done("d", Outcome::Forget());
  EXPECT_EQ(sink.last(), 3u) << "the parked re-add is due";
  queue.AddAfter("a", seconds(60));  // the earlier due time stays
  EXPECT_EQ(sink.last(), 3u);
  clock.Advance(milliseconds(10));  // c is due
  ASSERT_EQ(queue.TryGet(), "a");
  EXPECT_EQ(sink.last(), 3u) << "c joined as a left";
}

// The wall clock may be set back: keys no longer due leave the depth, and
// count again once the clock reaches them.
TEST(WorkQueueDepth, FollowsTheClockBackwards) {
  ManualClock clock(Timestamp{seconds(1000)});
  DepthRecorder sink;
  WorkQueue queue(&clock, {}, &sink);
  queue.AddAfter("a", seconds(1));
  queue.AddAfter("b", seconds(2));
  clock.Advance(seconds(2));
  queue.Add("c");
  EXPECT_EQ(sink.last(), 3u);
  clock.Set(Timestamp{seconds(1000)} + milliseconds(1500));
  queue.Forget("c");
  EXPECT_EQ(sink.last(), 1u) << "only a is due";
  clock.Set(Timestamp{seconds(999)});
  queue.Add("c");
  EXPECT_EQ(sink.last(), 1u) << "only c is due";
  clock.Set(Timestamp{seconds(1002)});
  ASSERT_EQ(queue.TryGet(), "c");
  EXPECT_EQ(sink.last(), 2u);
}

// The controller's first pass: every autoscaler due at once. Each add
// reports one more, each hand-out one fewer, and requeued keys are not due.
TEST(WorkQueueDepth, TenThousandKeysDueAtOnce) {
  constexpr size_t kKeys = 10'000;
  ManualClock clock(Timestamp{seconds(1000)});
  DepthRecorder sink;
  WorkQueue queue(&clock, {}, &sink);
  std::vector<size_t> want;
  for (size_t i = 0; i < kKeys; ++i) {
    queue.Add("ns/k" + std::to_string(i));
    want.push_back(i + 1);
  }
  for (size_t i = 0; i < kKeys; ++i) {
    std::optional<std::string> key = queue.TryGet();
    ASSERT_TRUE(key.has_value());
    want.push_back(kKeys - i - 1);
    queue.Done(*key, Outcome::RequeueAfter(seconds(10)));
    want.push_back(kKeys - i - 1);
  }
  EXPECT_EQ(sink.depths, want);
  clock.Advance(seconds(10));
  ASSERT_TRUE(queue.TryGet().has_value());
  EXPECT_EQ(sink.last(), kKeys - 1) << "the requeued keys are due again";
}

TEST(Workers, ProcessEveryKeyAndNeverOneKeyConcurrently) {
  RealClock clock;
  WorkQueue queue(&clock);
  std::mutex mu;
  std::map<std::string, int> in_flight;
  std::map<std::string, int> processed;
  bool overlap = false;
  std::atomic<int> total{0};
  {
    Workers workers(&queue, {.initial = 4, .most = 4}, [&](const std::string& key) {
      {
        std::lock_guard lock(mu);
        if (in_flight[key]++ > 0) overlap = true;
      }
      std::this_thread::yield();
      {
        std::lock_guard lock(mu);
        --in_flight[key];
        ++processed[key];
      }
      ++total;
      return Outcome::Forget();
    });
    for (int round = 0; round < 50; ++round) {
      for (int k = 0; k < 8; ++k) queue.Add("ns/k" + std::to_string(k));
    }
    // Every key added at least once must be processed at least once.
    EXPECT_TRUE(groupscaler::testing::WaitFor(
        [&] { return queue.Waiting() == 0 && queue.Processing() == 0; }, seconds(10)));
  }
  EXPECT_FALSE(overlap);
  EXPECT_EQ(processed.size(), 8u);
  EXPECT_LE(total.load(), 400);
}

// Reconciles run below the watches' priority, so that these keep reading.
TEST(Workers, RunBelowTheProcesssPriority) {
  RealClock clock;
  WorkQueue q(&clock);
  const int base = ::getpriority(PRIO_PROCESS, 0);
  std::promise<int> seen;
  Workers workers(&q, {.initial = 1, .most = 1}, [&](const std::string&) {
    seen.set_value(::getpriority(PRIO_PROCESS, 0));
    return Outcome::Forget();
  });
  q.Add("a");
  EXPECT_EQ(seen.get_future().get(), std::min(base + kWorkerNice, 19));
  EXPECT_EQ(::getpriority(PRIO_PROCESS, 0), base) << "the caller's own thread is unchanged";
}

// A handler that throws costs its key a backoff, not the worker: the other
// keys go on being processed.
TEST(Workers, AnExceptionBacksOffItsKeyAndTheWorkerGoesOn) {
  RealClock clock;
  WorkQueue queue(&clock);
  std::atomic<int> good{0};
  {
    Workers workers(&queue, {.initial = 1, .most = 1}, [&](const std::string& key) -> Outcome {
      if (key == "ns/bad") throw std::runtime_error("boom");
      ++good;
      return Outcome::Forget();
    });
    queue.Add("ns/bad");
    queue.Add("ns/good");
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while ((queue.Failures("ns/bad") == 0 || good.load() == 0) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
  EXPECT_GE(queue.Failures("ns/bad"), 1);
  EXPECT_EQ(good.load(), 1);
}

// Keys due while every worker is busy add workers, up to the limit and no
// further: five handlers blocked at once from one initial worker.
TEST(Workers, GrowWhileDueKeysWaitForABusyPoolUpToTheLimit) {
  RealClock clock;
  WorkQueue queue(&clock);
  std::mutex mu;
  std::condition_variable released_cv;
  bool released = false;
  std::atomic<int> in_flight{0};
  std::atomic<int> most_in_flight{0};
  {
    Workers workers(&queue, {.initial = 1, .most = 5}, [&](const std::string&) {
      const int now = ++in_flight;
      int seen = most_in_flight.load();
      while (now > seen && !most_in_flight.compare_exchange_weak(seen, now)) {
      }
      std::unique_lock lock(mu);
      released_cv.wait(lock, [&] { return released; });
      --in_flight;
      return Outcome::Forget();
    });
    for (int k = 0; k < 10; ++k) queue.Add("ns/k" + std::to_string(k));
    EXPECT_TRUE(groupscaler::testing::WaitFor([&] { return in_flight.load() == 5; }, seconds(10)));
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_EQ(workers.count(), 5);
    EXPECT_EQ(in_flight.load(), 5);
    {
      std::lock_guard lock(mu);
      released = true;
    }
    released_cv.notify_all();
    EXPECT_TRUE(groupscaler::testing::WaitFor(
        [&] { return queue.Waiting() == 0 && queue.Processing() == 0; }, seconds(10)));
    EXPECT_EQ(workers.count(), 5);
  }
  EXPECT_EQ(most_in_flight.load(), 5);
}

// Keys that never wait for a worker add none: one key at a time, each done
// before the next is due, leaves the pool at its initial size.
TEST(Workers, KeysThatDoNotWaitAddNoWorker) {
  RealClock clock;
  WorkQueue queue(&clock);
  std::atomic<int> done{0};
  Workers workers(&queue, {.initial = 1, .most = 8}, [&](const std::string&) {
    ++done;
    return Outcome::Forget();
  });
  for (int k = 0; k < 20; ++k) {
    queue.Add("ns/k" + std::to_string(k));
    EXPECT_TRUE(groupscaler::testing::WaitFor([&] { return done.load() == k + 1; }, seconds(10)));
  }
  EXPECT_EQ(workers.count(), 1);
}

}  // namespace
}  // namespace groupscaler::controller
