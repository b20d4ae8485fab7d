#include "controller/leader_elector.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <random>

namespace groupscaler::controller {

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "groupscaler");
  }
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(random()));
  return std::string(host) + "_" + suffix;
}

LeaderElector::LeaderElector(kube::LeaseClient* leases, const Clock* clock,
                             LeaderElectionConfig config)
    : leases_(leases), clock_(clock), config_(std::move(config)) {}

bool LeaderElector::LeadingAt(Timestamp now) const {
  const Timestamp last_renew{std::chrono::milliseconds(last_renew_ms_.load())};
  return leading_.load() && now - last_renew < config_.renew_deadline;
}

bool LeaderElector::IsLeader() const { return LeadingAt(clock_->Now()); }

bool LeaderElector::FailedAttemptLocked(Timestamp now, const Status& why) {
  if (leading_ && !LeadingAt(now)) {
    spdlog::error("leader election: could not renew lease {}/{} within {} ms: {}; no longer leader",
                  config_.namespace_name, config_.name, config_.renew_deadline.count(),
                  why.ToString());
    leading_ = false;
  } else if (why.code() == StatusCode::kPermissionDenied) {
    // Not a race with another candidate: this one can never lead.
    spdlog::warn("leader election: lease {}/{} is forbidden to this identity: {}",
                 config_.namespace_name, config_.name, why.ToString());
  } else {
    spdlog::debug("leader election: attempt failed: {}", why.ToString());
  }
  return LeadingAt(now);
}

bool LeaderElector::TryAcquireOrRenew() {
  std::lock_guard lock(attempt_mu_);
  const Timestamp now = clock_->Now();
  const int32_t duration_seconds = static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());

  StatusOr<kube::Lease> current = leases_->GetLease(config_.namespace_name, config_.name);
  if (!current.ok() && current.status().code() == StatusCode::kNotFound) {
    kube::Lease lease{.metadata = {.namespace_name = config_.namespace_name, .name = config_.name},
                      .holder_identity = config_.identity,
                      .lease_duration_seconds = duration_seconds,
                      .acquire_time = now,
                      .renew_time = now};
    StatusOr<kube::Lease> created = leases_->CreateLease(lease);
    if (!created.ok()) return FailedAttemptLocked(now, created.status());
    spdlog::info("leader election: {} acquired new lease {}/{}", config_.identity,
                 config_.namespace_name, config_.name);
    last_renew_ms_ = now.time_since_epoch().count();
    leading_ = true;
    return true;
  }
  if (!current.ok()) return FailedAttemptLocked(now, current.status());

  const kube::Lease& lease = *current;
  const bool ours = lease.holder_identity == config_.identity;
  if (!ours && !lease.holder_identity.empty()) {
    // Expiry is judged on our own clock from when the record last changed,
    // so clock skew between holders cannot shorten a lease.
    auto record = std::make_pair(lease.holder_identity, lease.renew_time);
    if (observed_record_ != record) {
      observed_record_ = record;
      observed_time_ = now;
    }
    if (now < observed_time_ + config_.lease_duration) {
      leading_ = false;
      return false;
    }
  }

  kube::Lease next = lease;
  next.holder_identity = config_.identity;
  next.lease_duration_seconds = duration_seconds;
  next.renew_time = now;
  if (!ours) {
    next.acquire_time = now;
    // Saturating: a wrapped count would be negative, which the API server
    // refuses, and then no one could ever take the lease.
    next.lease_transitions = lease.lease_transitions == std::numeric_limits<int32_t>::max()
                                 ? lease.lease_transitions
                                 : lease.lease_transitions + 1;
  }
  StatusOr<kube::Lease> updated = leases_->UpdateLease(next);
  if (!updated.ok()) return FailedAttemptLocked(now, updated.status());
  if (!ours) {
    spdlog::info("leader election: {} took lease {}/{} from '{}'", config_.identity,
                 config_.namespace_name, config_.name, lease.holder_identity);
  }
  last_renew_ms_ = now.time_since_epoch().count();
  leading_ = true;
  observed_record_.reset();
  return true;
}

Status LeaderElector::Release() {
  std::lock_guard lock(attempt_mu_);
  if (!leading_) return Status::Ok();
  leading_ = false;
  StatusOr<kube::Lease> current = leases_->GetLease(config_.namespace_name, config_.name);
  if (!current.ok()) return current.status();
  if (current->holder_identity != config_.identity) return Status::Ok();
  kube::Lease next = *current;
  next.holder_identity.clear();
  next.lease_duration_seconds = 1;
  next.renew_time = clock_->Now();
  StatusOr<kube::Lease> updated = leases_->UpdateLease(next);
  if (!updated.ok()) return updated.status();
  spdlog::info("leader election: {} released lease {}/{}", config_.identity, config_.namespace_name,
               config_.name);
  return Status::Ok();
}

void LeaderElector::Run(std::stop_token stop, const std::function<void()>& on_started,
                        const std::function<void()>& on_stopped) {
  bool was_leader = false;
  while (!stop.stop_requested()) {
    const bool leader = TryAcquireOrRenew();
    if (leader && !was_leader && on_started) on_started();
    if (!leader && was_leader && on_stopped) on_stopped();
    was_leader = leader;
    if (!clock_->SleepFor(config_.retry_period, stop)) break;
  }
  if (Status released = Release(); !released.ok()) {
    spdlog::warn("leader election: could not release the lease: {}", released.ToString());
  }
}

}  // namespace groupscaler::controller
