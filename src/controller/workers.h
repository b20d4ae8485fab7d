#pragma once

// N threads that take keys from a WorkQueue, hand each to a handler and
// report its Outcome back. The queue guarantees that one key is never
// processed by two workers at once.
//
// The one catch-all around the handler: an exception escaping it (adapters
// catch their libraries' own, so this is a bug) is logged once with the key,
// and the key backs off as after a failed reconcile; the worker goes on.

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "controller/work_queue.h"

namespace groupscaler::controller {

using KeyHandler = std::function<Outcome(const std::string& key)>;

class Workers {
 public:
  // Starts `count` (at least 1) threads on `queue`, which must outlive this
  // object. The handler is called concurrently for different keys.
  Workers(WorkQueue* queue, int count, KeyHandler handler);
  // Shuts the queue down and joins every thread; a handler running at that
  // moment is waited for.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

 private:
  void Loop();
  // The handler's Outcome for `key`; Outcome::Failed() when it threw.
  Outcome Handle(const std::string& key);

  WorkQueue* queue_;
  KeyHandler handler_;
  std::vector<std::jthread> threads_;
};

}  // namespace groupscaler::controller
