// The demo's ledger (src/demo/ledger.h): its ownership rules are untested
// until a settled assignment owned a partition, then held or broken.
#include "demo/ledger.h"

#include <gtest/gtest.h>

namespace groupscaler::demo {
namespace {

TEST(Ledger, OwnershipRulesAreUntestedUntilASettledAssignmentOwnsAPartition) {
  Ledger ledger("t", 2, "g");
  ledger.OnLine("r-0", "g", "thread 0: assigned none now none", 1);
  ledger.CheckOwnership(10, 2);
  EXPECT_FALSE(ledger.one_owner().tested);
  EXPECT_FALSE(ledger.owners_in_group().tested);

  ledger.OnLine("r-0", "g", "thread 0: assigned t[0,1] now t[0,1]", 11);
  ledger.CheckOwnership(12, 2);  // not settled yet
  EXPECT_FALSE(ledger.one_owner().tested);
  ledger.CheckOwnership(14, 2);
  EXPECT_TRUE(ledger.one_owner().tested);
  EXPECT_TRUE(ledger.one_owner().held);
  EXPECT_TRUE(ledger.owners_in_group().tested);
  EXPECT_TRUE(ledger.owners_in_group().held);
}

TEST(Ledger, TwoOwnersAndAnOwnerOutsideTheGroupBreakTheRules) {
  Ledger ledger("t", 2, "g");
  ledger.OnLine("r-0", "g", "thread 0: assigned t[0] now t[0]", 1);
  ledger.OnLine("r-1", "other", "thread 0: assigned t[0] now t[0]", 1);
  ledger.CheckOwnership(5, 2);
  EXPECT_FALSE(ledger.one_owner().held);
  EXPECT_NE(ledger.one_owner().detail.find("partition 0 has 2 owners"), std::string::npos)
      << ledger.one_owner().detail;
  EXPECT_FALSE(ledger.owners_in_group().held);
  EXPECT_NE(ledger.owners_in_group().detail.find("in group other, not g"), std::string::npos)
      << ledger.owners_in_group().detail;
}

}  // namespace
}  // namespace groupscaler::demo
