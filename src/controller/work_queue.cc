#include "controller/work_queue.h"

#include <algorithm>

namespace groupscaler::controller {

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int failures) {
  if (failures < 1) failures = 1;
  std::chrono::milliseconds delay = policy.base;
  // Doubling stops at the cap, so the shift never overflows.
  for (int i = 1; i < failures && delay < policy.cap; ++i) delay *= 2;
  return std::min(delay, policy.cap);
}

WorkQueue::WorkQueue(const Clock* clock, BackoffPolicy backoff, MetricsSink* metrics)
    : clock_(clock), backoff_(backoff), metrics_(metrics) {}

void WorkQueue::InsertReadyLocked(const std::string& key, const Entry& entry) {
  ready_.insert({*entry.due, entry.seq, key});
  if (*entry.due <= depth_mark_) ++due_at_mark_;
}

void WorkQueue::EraseReadyLocked(const std::string& key, const Entry& entry) {
  ready_.erase({*entry.due, entry.seq, key});
  if (*entry.due <= depth_mark_) --due_at_mark_;
}

void WorkQueue::MoveDepthMarkLocked(Timestamp now) {
  // The keys due in (earlier, later] are the ones the mark passes. The
  // clock is the wall clock: it may also go back.
  const Timestamp earlier = std::min(now, depth_mark_);
  const Timestamp later = std::max(now, depth_mark_);
  size_t passed = 0;
  for (auto it = ready_.lower_bound({earlier + Timestamp::duration(1), 0, std::string()});
       it != ready_.end() && std::get<0>(*it) <= later; ++it) {
    ++passed;
  }
  due_at_mark_ = now >= depth_mark_ ? due_at_mark_ + passed : due_at_mark_ - passed;
  depth_mark_ = now;
}

void WorkQueue::ReportDepthLocked(Timestamp now) {
  if (metrics_ == nullptr) return;
  MoveDepthMarkLocked(now);
  metrics_->SetWorkQueueDepth(due_at_mark_);
}

void WorkQueue::WakeSleepersLocked() {
  wake_.request_stop();
  wake_ = std::stop_source();
}

void WorkQueue::ScheduleLocked(const std::string& key, Entry& entry, Timestamp due) {
  if (entry.due && *entry.due <= due) return;  // already due no later
  if (entry.due && !entry.processing) EraseReadyLocked(key, entry);
  entry.due = due;
  entry.seq = next_seq_++;
  if (!entry.processing) InsertReadyLocked(key, entry);
}

void WorkQueue::Add(const std::string& key) { AddAfter(key, std::chrono::milliseconds(0)); }

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  const Timestamp now = clock_->Now();
  ScheduleLocked(key, entries_[key], now + std::max(delay, {}));
  ReportDepthLocked(now);
  WakeSleepersLocked();
}

std::optional<std::string> WorkQueue::PopDueLocked(Timestamp now) {
  if (ready_.empty()) return std::nullopt;
  const Timestamp due = std::get<0>(*ready_.begin());
  if (due > now) return std::nullopt;
  std::string key = std::get<2>(*ready_.begin());
  Entry& entry = entries_[key];
  EraseReadyLocked(key, entry);
  entry.due.reset();
  entry.processing = true;
  if (metrics_ != nullptr) {
    metrics_->ObserveWorkQueueWait(now - due);
    ReportDepthLocked(now);
  }
  return key;
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    const Timestamp now = clock_->Now();
    if (auto key = PopDueLocked(now)) return key;
    const std::chrono::milliseconds until_due =
        ready_.empty() ? std::chrono::milliseconds::max() : std::get<0>(*ready_.begin()) - now;
    const std::stop_token woken = wake_.get_token();
    lock.unlock();
    clock_->SleepFor(until_due, woken);
    lock.lock();
  }
}

std::optional<std::string> WorkQueue::TryGet() {
  std::lock_guard lock(mu_);
  if (shutting_down_) return std::nullopt;
  return PopDueLocked(clock_->Now());
}

void WorkQueue::EraseIfIdleLocked(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end() && !it->second.processing && !it->second.due &&
      it->second.failures == 0) {
    entries_.erase(it);
  }
}

void WorkQueue::Done(const std::string& key, const Outcome& outcome) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.processing) return;
  Entry& entry = it->second;
  entry.processing = false;
  // A re-add that arrived during processing was parked in entry.due; it
  // now competes with the outcome's due time, the earlier one winning.
  std::optional<Timestamp> pending = entry.due;
  entry.due.reset();
  if (pending) ScheduleLocked(key, entry, *pending);
  const Timestamp now = clock_->Now();
  if (!shutting_down_) {
    if (outcome.failed) {
      ++entry.failures;
      std::chrono::milliseconds delay = BackoffDelay(backoff_, entry.failures);
      if (outcome.requeue_after) delay = std::min(delay, std::max(*outcome.requeue_after, {}));
      ScheduleLocked(key, entry, now + delay);
    } else {
      entry.failures = 0;
      if (outcome.requeue_after) {
        ScheduleLocked(key, entry, now + std::max(*outcome.requeue_after, {}));
      }
    }
  }
  EraseIfIdleLocked(key);
  ReportDepthLocked(now);
  WakeSleepersLocked();
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (entry.due && !entry.processing) EraseReadyLocked(key, entry);
  entry.due.reset();
  entry.failures = 0;
  EraseIfIdleLocked(key);
  ReportDepthLocked(clock_->Now());
}

std::optional<Timestamp> WorkQueue::NextDue() const {
  std::lock_guard lock(mu_);
  if (ready_.empty()) return std::nullopt;
  return std::get<0>(*ready_.begin());
}

int WorkQueue::Failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.failures;
}

size_t WorkQueue::Waiting() const {
  std::lock_guard lock(mu_);
  return ready_.size();
}

bool WorkQueue::HasDue() const {
  std::lock_guard lock(mu_);
  return !ready_.empty() && std::get<0>(*ready_.begin()) <= clock_->Now();
}

size_t WorkQueue::Processing() const {
  std::lock_guard lock(mu_);
  return std::count_if(entries_.begin(), entries_.end(),
                       [](const auto& e) { return e.second.processing; });
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  WakeSleepersLocked();
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

}  // namespace groupscaler::controller
