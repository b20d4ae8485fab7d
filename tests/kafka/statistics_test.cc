// Request accounting from librdkafka's statistics JSON.

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

#include "kafka/lag_reader.h"
#include "kafka/statistics.h"
#include "support/fake_lag_reader.h"

namespace groupscaler::kafka {
namespace {

TEST(ParseRequestCounts, SumsRequestsOfEveryBrokerByApi) {
  const char* json = R"({"name": "c", "brokers": {
      "a:1/bootstrap": {"req": {"Metadata": 1, "ApiVersion": 1, "Produce": 0}},
      "a:1/1": {"req": {"ListOffsets": 2, "OffsetFetch": 5}},
      "b:2/2": {"req": {"ListOffsets": 3, "Metadata": 1}},
      "b:2/3": {"nodeid": 3}}})";
  StatusOr<RequestCounts> counts = ParseRequestCounts(json);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->by_api,
            (std::map<std::string, int64_t>{
                {"ApiVersion", 1}, {"ListOffsets", 5}, {"Metadata", 2}, {"OffsetFetch", 5}}));
  EXPECT_EQ(counts->Total(), 13);
  EXPECT_EQ(counts->ToString(), "ApiVersion=1 ListOffsets=5 Metadata=2 OffsetFetch=5");
}

TEST(ParseRequestCounts, RejectsWhatIsNotAReport) {
  EXPECT_FALSE(ParseRequestCounts("{not json").ok());
  EXPECT_FALSE(ParseRequestCounts("[1, 2]").ok());
  StatusOr<RequestCounts> none = ParseRequestCounts(R"({"brokers": {}})");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->Total(), 0);
}

// Found by fuzz/rdkafka_stats: two brokers' counts summed past int64 were a
// signed overflow (undefined behaviour, UBSan in scripts/fuzz and
// scripts/sanitize); they saturate, and so does Total.
TEST(ParseRequestCounts, SumsThatOverflowSaturate) {
  StatusOr<RequestCounts> counts = ParseRequestCounts(R"({"brokers": {
      "a": {"req": {"Fetch": 9223372036854775807, "Metadata": 9223372036854775807}},
      "b": {"req": {"Fetch": 1, "Metadata": -3, "Heartbeat": 1.5, "JoinGroup": "2"}}}})");
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(counts->by_api, (std::map<std::string, int64_t>{{"Fetch", kMax}, {"Metadata", kMax}}));
  EXPECT_EQ(counts->Total(), kMax);
}

TEST(RequestCounts, SinceIsThePerApiDifference) {
  RequestCounts before{{{"Metadata", 2}, {"OffsetFetch", 10}}};
  RequestCounts after{{{"Metadata", 2}, {"OffsetFetch", 15}, {"ListOffsets", 6}}};
  EXPECT_EQ(after.Since(before).by_api,
            (std::map<std::string, int64_t>{{"ListOffsets", 6}, {"OffsetFetch", 5}}));
  EXPECT_EQ(RequestCounts{}.ToString(), "none");
}

TEST(FakeLagReader, AnswersScriptedGroupsAndFailsTheRest) {
  testing::FakeLagReader fake;
  GroupObservation scripted;
  scripted.group_id = "a";
  scripted.observation.partitions.push_back({.topic = "t", .partition = 0, .log_end_offset = 5});
  fake.SetObservations({scripted});
  auto result = fake.Observe({{"a", {"t"}}, {"b", {"t"}}}, std::chrono::milliseconds(1));
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE((*result)[0].observation.failed);
  EXPECT_TRUE((*result)[1].observation.failed);
  fake.FailCycles(UnavailableError("down"));
  EXPECT_FALSE(fake.Observe({{"a", {"t"}}}, std::chrono::milliseconds(1)).ok());
  EXPECT_EQ(fake.cycles(), 2);
}

}  // namespace
}  // namespace groupscaler::kafka
