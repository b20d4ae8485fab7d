// The status fields beyond lag: time lag, rates, rebalances, stalled
// partitions and the Stalled condition.

#include "controller/status_patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json PatchOf(const StatusReport& report, const std::string& stored = "{}") {
  const std::optional<std::string> patch = StatusPatch(report, stored, Timestamp{});
  return patch ? json::parse(*patch) : json(nullptr);
}

policy::Decision Stalled() {
  policy::Decision d;
  d.current = 3;
  d.partition_lags = {{.topic = "orders", .partition = 0, .lag = 10},
                      {.topic = "orders", .partition = 4, .lag = 700, .stalled = true},
                      {.topic = "refunds", .partition = 1, .lag = 50, .stalled = true}};
  d.stalled_partitions = {{"orders", 4}, {"refunds", 1}};
  return d;
}

TEST(StatusFields, WrittenRoundedSoNoiseWritesNothing) {
  StatusReport report;
  report.max_lag_seconds = 12.34;
  report.total_lag_seconds = 40.06;
  report.produce_rate = 1234.5678;
  report.consume_rate = 0.004;
  report.per_replica_rate = 250.0;
  report.rebalances_caused = 7;
  report.stalled_partitions = {{"orders", 4}};
  const json patch = PatchOf(report);
  EXPECT_EQ(patch["maxLagSeconds"].dump(), "12.3");
  EXPECT_EQ(patch["totalLagSeconds"].dump(), "40.1");
  EXPECT_EQ(patch["produceRate"].dump(), "1234.57");
  EXPECT_EQ(patch["consumeRate"].dump(), "0.0");
  EXPECT_EQ(patch["perReplicaRate"].dump(), "250.0");
  EXPECT_EQ(patch["rebalancesCaused"], 7);
  EXPECT_EQ(patch["stalledPartitions"], json::parse(R"([{"topic":"orders","partition":4}])"));

  // Stored as written, a reading that differs below the rounding writes
  // nothing.
  const std::string stored = json{{"status", patch}}.dump();
  report.max_lag_seconds = 12.31;
  report.produce_rate = 1234.571;
  EXPECT_EQ(StatusPatch(report, stored, Timestamp{}), std::nullopt);
  report.max_lag_seconds = 12.4;
  EXPECT_EQ(PatchOf(report, stored)["maxLagSeconds"].dump(), "12.4");
}

TEST(StatusFields, UnknownRemovesThemEmptyListStays) {
  StatusReport report;
  report.stalled_partitions = std::vector<StalledPartition>{};
  const json patch = PatchOf(
      report,
      R"({"status":{"maxLagSeconds":5,"produceRate":1,"stalledPartitions":[{"topic":"t","partition":0}]}})");
  EXPECT_TRUE(patch["maxLagSeconds"].is_null());
  EXPECT_TRUE(patch["produceRate"].is_null());
  EXPECT_TRUE(patch["rebalancesCaused"].is_null());
  EXPECT_EQ(patch["stalledPartitions"], json::array());
}

// An empty reason or message is left out (null in the merge patch removes a
// stored one), never written as "": API servers built with Go >= 1.16 before
// kubernetes#99804 was fixed refuse "" in a custom resource as null.
TEST(StatusFields, EmptyStringsAreLeftOut) {
  StatusReport report;
  report.conditions = {{.type = "Ready", .status = ConditionStatus::kTrue, .reason = "Reconciled"},
                       {.type = "Active", .status = ConditionStatus::kFalse}};
  const json patch = PatchOf(report, R"({"status":{"reason":"Old","message":"old"}})");
  EXPECT_TRUE(patch["reason"].is_null());
  EXPECT_TRUE(patch["message"].is_null());
  EXPECT_EQ(patch["conditions"][0]["reason"], "Reconciled");
  EXPECT_FALSE(patch["conditions"][0].contains("message"));
  EXPECT_FALSE(patch["conditions"][1].contains("reason"));
  EXPECT_EQ(patch.dump().find(R"("")"), std::string::npos) << patch.dump();
  // Stored as written, the same report writes nothing.
  EXPECT_EQ(StatusPatch(report, json{{"status", patch}}.dump(), Timestamp{}), std::nullopt);
}

TEST(ReportDecision, SumsTopicRatesAndListsStalledPartitions) {
  policy::Decision d = Stalled();
  d.max_time_lag_seconds = 30;
  d.total_time_lag_seconds = 45;
  d.per_replica_rate = 80;
  d.topic_rates = {{.topic = "orders", .produce_rate = 100, .consume_rate = 90},
                   {.topic = "refunds", .produce_rate = 5, .consume_rate = std::nullopt}};
  StatusReport report;
  ReportDecision(d, &report);
  EXPECT_EQ(report.max_lag_seconds, 30);
  EXPECT_EQ(report.total_lag_seconds, 45);
  EXPECT_EQ(report.produce_rate, 105);
  EXPECT_EQ(report.consume_rate, 90);
  EXPECT_EQ(report.per_replica_rate, 80);
  ASSERT_TRUE(report.stalled_partitions.has_value());
  ASSERT_EQ(report.stalled_partitions->size(), 2u);
  EXPECT_EQ((*report.stalled_partitions)[1].topic, "refunds");
  EXPECT_EQ((*report.stalled_partitions)[1].partition, 1);
}

TEST(ReportDecision, RatesUnknownStayUnknown) {
  policy::Decision d;
  d.topic_rates = {{.topic = "orders"}};
  StatusReport report;
  ReportDecision(d, &report);
  EXPECT_EQ(report.produce_rate, std::nullopt);
  EXPECT_EQ(report.consume_rate, std::nullopt);
  EXPECT_EQ(report.max_lag_seconds, std::nullopt);
  EXPECT_EQ(report.stalled_partitions->size(), 0u);
}

TEST(StalledCondition, ListsStalledPartitionsAndTheirLag) {
  const Condition c = StalledCondition(Stalled(), 120);
  EXPECT_EQ(c.type, "Stalled");
  EXPECT_EQ(c.status, ConditionStatus::kTrue);
  EXPECT_EQ(c.reason, "StalledPartitions");
  EXPECT_THAT(c.message, HasSubstr("2 partition(s) with lag 750 whose committed offset has not "
                                   "moved for 120s"));
  EXPECT_THAT(c.message, HasSubstr("orders/4, refunds/1"));
}

TEST(StalledCondition, GroupStoppedOnlyWithReplicas) {
  policy::Decision d;
  d.flags.group_stopped = true;
  d.current = 2;
  Condition c = StalledCondition(d, 60);
  EXPECT_EQ(c.status, ConditionStatus::kTrue);
  EXPECT_EQ(c.reason, "GroupStopped");
  EXPECT_THAT(c.message, HasSubstr("committed nothing for 60s with 2 replicas"));
  d.current = 0;
  c = StalledCondition(d, 60);
  EXPECT_EQ(c.status, ConditionStatus::kFalse) << "no replicas: nothing is expected to commit";
}

TEST(StalledCondition, FalseWithoutStalls) {
  const Condition c = StalledCondition(policy::Decision{}, 60);
  EXPECT_EQ(c.status, ConditionStatus::kFalse);
  EXPECT_EQ(c.reason, "NotStalled");
}

}  // namespace
}  // namespace groupscaler::controller
