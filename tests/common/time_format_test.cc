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

TEST(TimeTest, FormatAndParse) {
  Timestamp t = Timestamp(std::chrono::seconds(1'700'000'000)) + milliseconds(45);
  EXPECT_EQ(FormatMicroTime(t), "2023-11-14T22:13:20.045000Z");
  EXPECT_EQ(*ParseTime("2023-11-14T22:13:20.045000Z"), t);
  EXPECT_EQ(*ParseTime("2023-11-14T22:13:20Z"), t - milliseconds(45));
  EXPECT_EQ(*ParseTime("2023-11-14T23:13:20.045+01:00"), t);
  EXPECT_FALSE(ParseTime("yesterday").ok());
  EXPECT_FALSE(ParseTime("2023-11-14T22:13:20").ok());
}

// Found by fuzz/kube_answers: a Lease time past 2262 (read from the server,
// written back by the leader elector's renewals) overflowed in
// system_clock::to_time_t's conversion to nanoseconds (UBSan). Times before
// 1970 with a fraction were a second late.
TEST(TimeTest, FormatsEveryFourDigitYear) {
  for (const char* text : {"4048-02-03T04:05:06.789000Z", "9999-12-31T23:59:59.999000Z",
                           "1500-01-01T00:00:00.001000Z", "1969-12-31T23:59:59.500000Z"}) {
    StatusOr<Timestamp> t = ParseTime(text);
    ASSERT_TRUE(t.ok()) << text;
    EXPECT_EQ(FormatMicroTime(*t), text);
  }
  EXPECT_EQ(FormatMicroTime(Timestamp(std::chrono::seconds(65578219506))),
            "4048-02-03T04:05:06.000000Z");
  EXPECT_EQ(FormatMicroTime(Timestamp(milliseconds(-500))), "1969-12-31T23:59:59.500000Z");
}

}  // namespace
}  // namespace groupscaler
