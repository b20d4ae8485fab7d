#pragma once

// The series of each autoscaler (README.md, "Metrics": every family labelled
// by namespace and name), kept as one compact record per autoscaler of what
// its samples showed, and written in the text exposition format at scrape
// time, a family at a time and each in pieces of a few hundred autoscalers:
// a prometheus-cpp series per value held about 11 KB per autoscaler, and a
// scrape built them all at once.
//
// Series of one autoscaler follow what its last sample knew: anything unknown
// (lag while Kafka cannot be read, a topic no longer consumed, the whole
// autoscaler once forgotten) is absent, never exported as 0; a changed group
// drops every series of the old one. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "controller/metrics_sink.h"

namespace groupscaler::metrics {

// What the series of one autoscaler show.
struct AutoscalerRecord {
  bool spec_valid = false;
  // Empty: groupscaler_spec_valid is its only series; every other series is
  // labelled with this group.
  std::string group;
  // The last sample's, but for rebalances_caused: the last one known since
  // the group was set, the value of the rebalance counter.
  controller::GroupFigures figures;
  std::optional<bool> kafka_reachable;
  std::optional<bool> at_ceiling;
  std::optional<bool> idle_members;
  std::optional<int32_t> stalled_partitions;
  // The last successful observation's: it stays while later ones fail.
  std::optional<Timestamp> last_observation;
  std::vector<controller::TopicSample> topics;
  // Only with partition lag exported.
  std::vector<controller::PartitionSample> partitions;
  // Scale changes made since the group was set.
  int64_t scaled_up = 0;
  int64_t scaled_down = 0;
};

class AutoscalerSeries {
 public:
  // Receives the exposition piece by piece; false stops the writing (the
  // client went away).
  using Writer = std::function<bool(std::string_view text)>;
  // An autoscaler's namespace and name.
  using Key = std::pair<std::string, std::string>;

  // `partition_lag`: export groupscaler_partition_lag_messages.
  explicit AutoscalerSeries(bool partition_lag) : partition_lag_(partition_lag) {}

  // The autoscaler's series, replaced by what `sample` knows.
  void Record(const controller::AutoscalerSample& sample);
  // Removes every series of the autoscaler.
  void Forget(const std::string& namespace_name, const std::string& name);
  // Removes every autoscaler's series.
  void Clear();

  // Writes each family that has series, in pieces: the series of a few
  // hundred autoscalers gathered under the lock, then formatted by
  // prometheus-cpp's TextSerializer and given to `write` with the lock
  // released. Every family's HELP and TYPE lines come once, before its first
  // series; a family without series is left out. false when `write` stopped
  // it.
  bool Write(const Writer& write) const;

 private:
  using Visit = std::function<void(const Key& key, const AutoscalerRecord& record)>;

  // Calls `visit`, under the lock, for the next few hundred autoscalers after
  // `after` (from the first when unset). The last one's key; unset when none
  // was left.
  std::optional<Key> VisitSlice(const std::optional<Key>& after, const Visit& visit) const;

  const bool partition_lag_;
  mutable std::mutex mu_;  // autoscalers_
  std::map<Key, AutoscalerRecord> autoscalers_;
};

}  // namespace groupscaler::metrics
