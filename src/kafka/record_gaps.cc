#include "kafka/record_gaps.h"

#include <limits>

namespace groupscaler::kafka {
namespace {

// The gap after `p`'s commit, or false where it is not counted.
bool GapOf(const policy::PartitionObservation& p, int64_t max_gap, RecordGap* gap) {
  if (p.failed || !p.committed_offset) return false;
  const int64_t committed = *p.committed_offset;
  if (committed < p.log_start_offset || committed >= p.log_end_offset) return false;
  if (p.log_end_offset - committed > max_gap) return false;
  *gap = {{p.topic, p.partition}, committed, p.log_end_offset};
  return true;
}

}  // namespace

std::set<RecordGap> CountableGaps(const std::vector<GroupObservation>& groups, int64_t max_gap) {
  std::set<RecordGap> gaps;
  for (const GroupObservation& g : groups) {
    if (g.observation.failed) continue;
    for (const policy::PartitionObservation& p : g.observation.partitions) {
      if (RecordGap gap; GapOf(p, max_gap, &gap)) gaps.insert(gap);
    }
  }
  return gaps;
}

std::vector<std::vector<RecordGap>> Rounds(const std::set<RecordGap>& gaps) {
  std::vector<std::vector<RecordGap>> rounds;
  std::map<policy::TopicPartition, size_t> next_round;
  for (const RecordGap& gap : gaps) {
    const size_t round = next_round[gap.partition]++;
    if (round == rounds.size()) rounds.emplace_back();
    rounds[round].push_back(gap);
  }
  return rounds;
}

void ApplyRecordCounts(const std::map<RecordGap, int64_t>& counts,
                       std::vector<GroupObservation>* groups) {
  for (GroupObservation& g : *groups) {
    for (policy::PartitionObservation& p : g.observation.partitions) {
      RecordGap gap;
      if (!GapOf(p, std::numeric_limits<int64_t>::max(), &gap)) continue;
      if (auto it = counts.find(gap); it != counts.end()) p.records_after_commit = it->second;
    }
  }
}

}  // namespace groupscaler::kafka
