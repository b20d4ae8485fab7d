#pragma once

// Leader election on a coordination.k8s.io/v1 Lease, as client-go's
// leaderelection does it, driven by a Clock so that tests step it by hand.
//
// Contract:
// * TryAcquireOrRenew() is one attempt: create the Lease if absent, take it
//   if it is free (no holder) or expired, renew it if held by us. A Lease
//   held by another is expired when its record (holder, renewTime) has not
//   changed for lease_duration as measured on OUR clock since we first saw
//   that record: never comparing clocks across machines.
// * A leader that fails to renew for renew_deadline stops being leader
//   (IsLeader() false) even before anyone else takes the Lease, so two
//   leaders never overlap by more than the difference of the two durations.
// * Writes use the read resourceVersion: of two electors racing, the API
//   server lets exactly one win (409 Conflict for the other).
// * Release() clears the holder (leaseDurationSeconds 1) so that a
//   successor takes over at its next attempt instead of after expiry.
//
// Thread-safe: Run() on one thread, IsLeader() from any.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "kube/client.h"

namespace groupscaler::controller {

struct LeaderElectionConfig {
  std::string namespace_name;
  std::string name = "groupscaler-controller";
  std::string identity;  // unique per process; see DefaultIdentity()
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
};

// The host name plus "_" and a random suffix, so that two processes on one
// host (or a restarted pod) never share an identity.
std::string DefaultIdentity();

class LeaderElector {
 public:
  // `leases` and `clock` must outlive the elector.
  LeaderElector(kube::LeaseClient* leases, const Clock* clock, LeaderElectionConfig config);

  // One attempt (see the contract). Returns IsLeader() afterwards.
  bool TryAcquireOrRenew();
  bool IsLeader() const;
  // Gives the Lease up when we hold it. OK when not held.
  Status Release();

  // Calls TryAcquireOrRenew every retry_period until `stop`, then releases
  // the Lease. `on_started` runs when leadership is gained, `on_stopped`
  // when it is lost while running (not at the final release). Waits are
  // sleeps on the clock, which end early when `stop` is requested.
  void Run(std::stop_token stop, const std::function<void()>& on_started,
           const std::function<void()>& on_stopped);

  const LeaderElectionConfig& config() const { return config_; }

 private:
  bool FailedAttemptLocked(Timestamp now, const Status& why);
  bool LeadingAt(Timestamp now) const;

  kube::LeaseClient* leases_;
  const Clock* clock_;
  const LeaderElectionConfig config_;
  // Serialises attempts and Release; IsLeader() never waits for it (an
  // attempt may spend seconds on the network).
  std::mutex attempt_mu_;
  std::atomic<bool> leading_{false};
  std::atomic<int64_t> last_renew_ms_{0};
  // The other holder's record as last seen, and when (on our clock) it was
  // first seen in that state.
  std::optional<std::pair<std::string, std::optional<Timestamp>>> observed_record_;
  Timestamp observed_time_{};
};

}  // namespace groupscaler::controller
