#include "common/time_format.h"

#include <gtest/gtest.h>

namespace groupscaler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(FormatRfc3339Test, WholeSecondsUtc) {
  EXPECT_EQ(FormatRfc3339(Timestamp{milliseconds(1'767'323'045'678)}), "2026-01-02T03:04:05Z");
  EXPECT_EQ(FormatRfc3339(Timestamp{}), "1970-01-01T00:00:00Z");
}

TEST(FormatRfc3339Test, BeforeNineteenSeventyNamesItsOwnSecond) {
  EXPECT_EQ(FormatRfc3339(Timestamp{milliseconds(-1)}), "1969-12-31T23:59:59Z");
}

TEST(FormatRfc3339Test, PastTheYear2262) {
  EXPECT_EQ(FormatRfc3339(Timestamp{seconds(65'578'219'506)}), "4048-02-03T04:05:06Z");
}

}  // namespace
}  // namespace groupscaler
