#pragma once

// What the demo's consumers did, from the lines they print (see
// examples/consumer/consumer.cc): which replica owns which partitions, and
// which messages each group processed. From it come the demo's assignment
// map and the rules it checks: one owner per partition, no owner outside the
// group, no message lost, and how many messages were processed more than
// once. Pure bookkeeping: no I/O, times are passed in. Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace groupscaler::demo {

// Replica name -> the partitions it owns now (replicas owning none are
// listed with an empty set).
using AssignmentMap = std::map<std::string, std::set<int32_t>>;

struct RuleResult {
  bool held = true;
  // Whether there was anything to judge (a rule with no evidence held
  // vacuously: the summary calls it untested, not held).
  bool tested = false;
  std::string detail;  // the first violation, or what held
};

struct Tally {
  int64_t consumed = 0;     // distinct messages processed at least once
  int64_t processings = 0;  // processings in all, by every group
  int64_t duplicates = 0;   // distinct messages processed more than once
  // Times processed -> messages (of those below the log ends).
  std::map<int64_t, int64_t> times_processed;
  // Messages below a group's committed offset (or below one it processed)
  // that the group never processed, summed over groups.
  int64_t lost = 0;
  std::string first_lost;  // "group g partition 3 offset 17"
};

class Ledger {
 public:
  // `group_id` is the group the autoscaler scales: an owner in any other
  // group is "outside the group".
  Ledger(std::string topic, int32_t partitions, std::string group_id);

  // A line printed by `replica` (whose group.id is `group_id`) at `t`
  // (seconds since the demo started).
  void OnLine(const std::string& replica, const std::string& group_id, std::string_view line,
              double t);
  // The replica's process exited: it owns nothing any more.
  void OnExit(const std::string& replica, double t);

  AssignmentMap Assignment() const;
  // When the assignment last changed (0 before any change).
  double last_change() const;
  int64_t processings() const;
  std::set<std::string> groups() const;

  // Checks the ownership rules on the current assignment, if it has not
  // changed for `settle` seconds (a rebalance in flight may briefly show a
  // partition twice, as lines from two processes race): each partition has
  // at most one owner, and every owner is in the group. The rules count as
  // tested once a settled assignment owned a partition.
  void CheckOwnership(double t, double settle);
  RuleResult one_owner() const;
  RuleResult owners_in_group() const;

  // Counts processings against the log end offsets of the topic's
  // partitions (`log_end[p]`) and each group's committed offsets
  // (group -> partition -> offset; absent where it never committed).
  Tally Count(const std::vector<int64_t>& log_end,
              const std::map<std::string, std::map<int32_t, int64_t>>& committed) const;

 private:
  const std::string topic_;
  const int32_t partitions_;
  const std::string group_id_;
  mutable std::mutex mu_;
  // (replica, thread) -> partitions owned.
  std::map<std::pair<std::string, int>, std::set<int32_t>> owned_;
  std::map<std::string, std::string> group_of_;  // replica -> group.id
  double last_change_ = 0;
  int64_t processings_ = 0;
  // group -> partition -> offset -> times processed.
  std::map<std::string, std::vector<std::vector<uint8_t>>> processed_;
  RuleResult one_owner_;
  RuleResult in_group_;
};

}  // namespace groupscaler::demo
