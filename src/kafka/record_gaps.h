#pragma once

// Which committed offsets are worth a Fetch, and what its count means: the
// pure half of counting the records between a group's commit and the log
// end (RdKafkaLagReader does the fetching).
//
// Why: offsets are not records. A transactional producer's commit or abort
// marker takes an offset of its own, and so does every aborted record, yet
// a read_committed consumer is never given them. A consumer that read every
// record can still have committed below its partitions' last marker
// (librdkafka 2.0.2 commits after the last record it was given; Kafka's Java
// client commits its position, past the marker), and then end - committed
// reads 1 per partition of a caught-up group.
//
// The records of an offset range never change (retention only moves the
// log start past them, and then the commit is below it), so a gap's count
// holds for as long as the gap is seen.

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "kafka/lag_reader.h"
#include "policy/types.h"

namespace groupscaler::kafka {

// The offsets [from, end) of one partition.
struct RecordGap {
  policy::TopicPartition partition;
  int64_t from = 0;
  int64_t end = 0;
  friend auto operator<=>(const RecordGap&, const RecordGap&) = default;
};

// The gaps to count in `groups`: every partition observed whole with a
// commit in the log and 0 < end - committed <= max_gap, each distinct gap
// once. Gaps larger than max_gap count as offsets: a marker there is a
// small share of the lag.
std::set<RecordGap> CountableGaps(const std::vector<GroupObservation>& groups, int64_t max_gap);

// `gaps` in rounds that name a partition at most once (one consumer
// assignment each; groups at different commits on one partition need
// several).
std::vector<std::vector<RecordGap>> Rounds(const std::set<RecordGap>& gaps);

// Sets records_after_commit on every partition of `groups` whose gap was
// counted.
void ApplyRecordCounts(const std::map<RecordGap, int64_t>& counts,
                       std::vector<GroupObservation>* groups);

}  // namespace groupscaler::kafka
