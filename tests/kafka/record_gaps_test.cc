#include "kafka/record_gaps.h"

#include <gtest/gtest.h>

namespace groupscaler::kafka {
namespace {

using policy::PartitionObservation;

GroupObservation Group(std::vector<PartitionObservation> partitions) {
  GroupObservation g;
  g.observation.partitions = std::move(partitions);
  return g;
}

PartitionObservation At(int32_t partition, int64_t end, std::optional<int64_t> committed) {
  return {.topic = "t",
          .partition = partition,
          .log_start_offset = 2,
          .log_end_offset = end,
          .committed_offset = committed};
}

TEST(CountableGapsTest, OnlySmallGapsOfCommitsInsideTheLog) {
  PartitionObservation failed = At(5, 10, 9);
  failed.failed = true;
  const auto gaps = CountableGaps({Group({At(0, 18, 17),                          // a marker's gap
                                          At(1, 18, 18),                          // caught up
                                          At(2, 40, 17),                          // beyond max_gap
                                          At(3, 18, std::nullopt), At(4, 18, 1),  // below the start
                                          At(6, 18, 19),                          // beyond the end
                                          failed})},
                                  16);
  EXPECT_EQ(gaps, (std::set<RecordGap>{{{"t", 0}, 17, 18}}));
}

TEST(RoundsTest, GroupsAtDifferentCommitsOnOnePartitionNeedRounds) {
  GroupObservation failed_group = Group({At(1, 18, 10)});
  failed_group.observation.failed = true;
  const auto rounds = Rounds(CountableGaps(
      {Group({At(0, 18, 17), At(1, 18, 16)}), Group({At(0, 18, 15), At(1, 18, 16)}), failed_group},
      16));
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0], (std::vector<RecordGap>{{{"t", 0}, 15, 18}, {{"t", 1}, 16, 18}}));
  EXPECT_EQ(rounds[1], (std::vector<RecordGap>{{{"t", 0}, 17, 18}}));
}

TEST(ApplyRecordCountsTest, SetsTheCountOnEveryPartitionWithThatGap) {
  std::vector<GroupObservation> groups = {Group({At(0, 18, 17), At(1, 18, 16)}),
                                          Group({At(0, 18, 17), At(0, 18, 15)})};
  ApplyRecordCounts({{{{"t", 0}, 17, 18}, 0}, {{{"t", 1}, 16, 18}, 2}}, &groups);
  EXPECT_EQ(groups[0].observation.partitions[0].records_after_commit, 0);
  EXPECT_EQ(groups[0].observation.partitions[1].records_after_commit, 2);
  EXPECT_EQ(groups[1].observation.partitions[0].records_after_commit, 0);
  // Not counted: every offset counts.
  EXPECT_EQ(groups[1].observation.partitions[1].records_after_commit, std::nullopt);
}

}  // namespace
}  // namespace groupscaler::kafka
