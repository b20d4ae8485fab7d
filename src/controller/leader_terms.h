#pragma once

// One Controller per term of leadership. Begin() makes and starts a new one
// when this process becomes leader; End() stops it (nothing is written to the
// API server after End returns) and drops it when the Lease is lost. So a
// lost Lease (the API server away for longer than the renew deadline, the
// process paused past the lease duration) costs a new campaign in the same
// process, not a restart: caches relist and the policy's histories start
// afresh at the next term, as they would in a new process.
//
// Thread-safe: Begin and End come from the election thread, synced() from
// the health server's.

#include <functional>
#include <memory>
#include <mutex>

#include "controller/controller.h"

namespace groupscaler::controller {

class LeaderTerms {
 public:
  using Factory = std::function<std::unique_ptr<Controller>()>;

  explicit LeaderTerms(Factory factory) : factory_(std::move(factory)) {}
  // Ends the current term.
  ~LeaderTerms() { End(); }
  LeaderTerms(const LeaderTerms&) = delete;
  LeaderTerms& operator=(const LeaderTerms&) = delete;

  // Starts a term unless one runs.
  void Begin();
  // Stops the current term's controller, waiting for reconciles in flight.
  void End();
  // The current term's controller has listed every autoscaler; false
  // between terms.
  bool synced() const;

 private:
  const Factory factory_;
  mutable std::mutex mu_;
  std::unique_ptr<Controller> current_;
};

}  // namespace groupscaler::controller
