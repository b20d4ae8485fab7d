#pragma once

// The Kafka side of the controller's metrics, for every reader a factory
// makes: the errors of each observation cycle, by kind, and the requests
// sent, by API, from librdkafka's statistics.
//
// Request counts come from LagReader::RequestCountsSnapshot, which waits
// for two fresh statistics reports while holding the reader (up to two
// statistics intervals, 2 s, when the reader is busy; at once when it was
// idle that long). So they are polled on a thread of this object, never on
// a reconcile's path: a reader right after its first cycle (so that the
// series appear at once), then every reader every poll_interval, which
// keeps the stall to a few percent of a busy reader's time. Counts a reader
// accrued after its last poll are lost when it closes (its autoscalers went
// away).
//
// Errors, per cycle (wrap the factory under Batching() so that a cycle
// shared by many autoscalers counts once):
//   the cycle failed as a whole      1, kind from its status: timeout
//                                    (deadline), unreachable, auth, or other;
//   a topic of a group failed        1 per topic: auth, timeout or topic;
//   a group's committed offsets      1 per group: coordinator (OffsetFetch
//   could not be read                goes to the group coordinator);
//   some partitions failed           1 per group: topic.

#include <chrono>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "controller/metrics_sink.h"
#include "kafka/lag_reader.h"

namespace groupscaler::controller {

struct KafkaMetricsOptions {
  // How often request counts are polled; zero: no thread (call PollRequests).
  std::chrono::milliseconds poll_interval{std::chrono::seconds(30)};
  // Deadline of one reader's snapshot: two statistics intervals and a margin.
  std::chrono::milliseconds snapshot_timeout{std::chrono::seconds(3)};
  // The polling thread's time: it sleeps on this clock (not owned; must
  // outlive this object). Null: the system clock.
  const Clock* clock = nullptr;
};

// Counts the errors of one Observe result into `sink` (see above).
void CountKafkaErrors(const StatusOr<std::vector<kafka::GroupObservation>>& result,
                      MetricsSink& sink);

class KafkaMetrics {
 public:
  // `sink` must outlive this object, and this object every reader made by
  // Instrument().
  KafkaMetrics(MetricsSink* sink, KafkaMetricsOptions options = {});
  // Stops the polling thread.
  ~KafkaMetrics();
  KafkaMetrics(const KafkaMetrics&) = delete;
  KafkaMetrics& operator=(const KafkaMetrics&) = delete;

  // `inner`'s readers, reporting their errors and requests here. The
  // returned factory must not be called after this object is destroyed.
  kafka::LagReaderFactory Instrument(kafka::LagReaderFactory inner);

  // Snapshots every live reader's request counts once and reports what
  // each sent since its previous snapshot. Readers whose snapshot fails are
  // tried again at the next poll.
  void PollRequests() { Poll(/*only_new=*/false); }

 private:
  struct Tracked;  // one reader and the counts reported for it
  class Reader;    // the decorator Instrument's factory makes

  // Polls every live reader, or only those never polled.
  void Poll(bool only_new);
  // A reader finished its first cycle: the thread polls it now.
  void FirstCycleDone();
  // The polling thread's loop: new readers at once, every reader every
  // poll_interval, sleeping on the clock in between.
  void RunPoller(std::stop_token stop);
  // Cuts the polling thread's sleep short.
  void WakePollerLocked();

  MetricsSink* sink_;
  const KafkaMetricsOptions options_;
  const RealClock real_clock_;
  const Clock* const clock_;
  std::mutex mu_;
  bool new_reader_ = false;  // guarded by mu_
  std::stop_source wake_;    // guarded by mu_; stopped, then replaced
  std::vector<std::weak_ptr<Tracked>> readers_;
  std::mutex poll_mu_;  // one poll at a time
  std::jthread thread_;
};

}  // namespace groupscaler::controller
