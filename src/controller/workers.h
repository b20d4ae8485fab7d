#pragma once

// Threads that take keys from a WorkQueue, hand each to a handler and report
// its Outcome back. The queue guarantees that one key is never processed by
// two workers at once.
//
// Sized by the work: it starts with `initial` threads and adds one, up to
// `most`, whenever a worker takes a key while every worker is busy and more
// keys are due behind it (a reconcile waited for a worker). It never drops
// one: the pool keeps the concurrency the busiest moment needed, so that the
// next burst of due keys (a lag step reaching every autoscaler) finds it.
//
// The one catch-all around the handler: an exception escaping it (adapters
// catch their libraries' own, so this is a bug) is logged once with the key,
// and the key backs off as after a failed reconcile; the worker goes on.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/metrics_sink.h"
#include "controller/work_queue.h"

namespace groupscaler::controller {

using KeyHandler = std::function<Outcome(const std::string& key)>;

// What worker threads add to the process's nice value: reconciles are batch work, and the
// threads that read the watches must not starve behind them, or the events
// they have not read yet pile up in memory (at 10,000 autoscalers the first
// pass's status writes come back as 20,000 events in a minute).
inline constexpr int kWorkerNice = 10;

struct WorkerLimits {
  int initial = 2;
  int most = 64;
};

class Workers {
 public:
  // Starts the initial threads (at least 1, at most `most`) on `queue`,
  // which must outlive this object, as must `metrics` (null: none). The
  // handler is called concurrently for different keys.
  Workers(WorkQueue* queue, WorkerLimits limits, KeyHandler handler,
          MetricsSink* metrics = nullptr);
  // Shuts the queue down and joins every thread; a handler running at that
  // moment is waited for.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Threads started so far.
  int count() const;

 private:
  void Loop();
  // Adds a thread when every one is busy, keys are due, and the limit allows.
  void GrowIfSaturated();
  void StartThreadLocked();
  // The handler's Outcome for `key`; Outcome::Failed() when it threw.
  Outcome Handle(const std::string& key);

  WorkQueue* queue_;
  const int most_;
  KeyHandler handler_;
  MetricsSink* const metrics_;
  std::atomic<int> busy_{0};
  mutable std::mutex mu_;
  bool stopping_ = false;
  std::vector<std::jthread> threads_;
};

}  // namespace groupscaler::controller
