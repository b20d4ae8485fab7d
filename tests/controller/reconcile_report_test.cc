// The one record of a reconcile and what is derived from it: the Events
// (Announce, with the warnings' bookkeeping), the status (StatusOf) and the
// metrics sample (SampleOf).

#include "controller/reconcile_report.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "controller/reconciler.h"

namespace groupscaler::controller {
namespace {

const kube::ObjectReference kRef{.namespace_name = "payments", .name = "app"};

struct AnnounceCase {
  std::string name;
  Warned before;
  int64_t generation = 1;
  std::vector<WarningCheck> checks;
  std::optional<ScaleWrite> scaled;
  std::vector<std::string> want_events;  // reasons, in order
  std::set<std::string> want_warned;
};

void PrintTo(const AnnounceCase& c, std::ostream* os) { *os << c.name; }

class AnnounceTable : public ::testing::TestWithParam<AnnounceCase> {};

TEST_P(AnnounceTable, EventsAndBookkeeping) {
  const AnnounceCase& c = GetParam();
  ReconcileReport report{.observed_generation = c.generation};
  report.warnings = c.checks;
  report.scaled = c.scaled;
  const Announcement a = Announce(report, kRef, c.before);
  std::vector<std::string> reasons;
  for (const kube::Event& e : a.events) {
    reasons.push_back(e.reason);
    EXPECT_EQ(e.involved.name, "app");
  }
  EXPECT_EQ(reasons, c.want_events);
  EXPECT_EQ(a.warned.reasons, c.want_warned);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AnnounceTable,
    ::testing::Values(
        AnnounceCase{.name = "NewWarningAnnounced",
                     .checks = {{kReasonKafkaUnreachable, "down"}},
                     .want_events = {kReasonKafkaUnreachable},
                     .want_warned = {kReasonKafkaUnreachable}},
        AnnounceCase{.name = "AnnouncedWarningNotRepeated",
                     .before = {.reasons = {kReasonKafkaUnreachable}},
                     .checks = {{kReasonKafkaUnreachable, "still down"}},
                     .want_events = {},
                     .want_warned = {kReasonKafkaUnreachable}},
        AnnounceCase{.name = "ClearedCheckForgetsIt",
                     .before = {.reasons = {kReasonKafkaUnreachable, kReasonIdleMembers}},
                     .checks = {{kReasonKafkaUnreachable, std::nullopt}},
                     .want_events = {},
                     .want_warned = {kReasonIdleMembers}},
        AnnounceCase{.name = "UncheckedWarningStays",
                     .before = {.reasons = {kReasonTargetNotFound}},
                     .checks = {},
                     .want_events = {},
                     .want_warned = {kReasonTargetNotFound}},
        AnnounceCase{.name = "InvalidSpecOncePerGeneration",
                     .before = {.invalid_spec_generation = 1},
                     .generation = 1,
                     .checks = {{kReasonInvalidSpec, "bad"}},
                     .want_events = {}},
        AnnounceCase{.name = "InvalidSpecAgainInANewGeneration",
                     .before = {.invalid_spec_generation = 1},
                     .generation = 2,
                     .checks = {{kReasonInvalidSpec, "still bad"}},
                     .want_events = {kReasonInvalidSpec}},
        AnnounceCase{.name = "ScaleBetweenTheWarningsBeforeAndAfterIt",
                     .checks = {{kReasonHpasUnreadable, "forbidden"}, {kReasonIdleMembers, "idle"}},
                     .scaled = ScaleWrite{.from = 6, .to = 2, .after_warnings = 1},
                     .want_events = {kReasonHpasUnreadable, kReasonScaledDown, kReasonIdleMembers},
                     .want_warned = {kReasonHpasUnreadable, kReasonIdleMembers}},
        AnnounceCase{.name = "ScaleAfterAllWarnings",
                     .scaled = ScaleWrite{.from = 1, .to = 3},
                     .want_events = {kReasonScaledUp}}),
    [](const ::testing::TestParamInfo<AnnounceCase>& info) { return info.param.name; });

TEST(Announce, InvalidSpecGenerationForgottenOnceValid) {
  ReconcileReport report{.observed_generation = 1};
  report.warnings = {{kReasonInvalidSpec, std::nullopt}};
  const Announcement a = Announce(report, kRef, {.invalid_spec_generation = 1});
  EXPECT_EQ(a.warned.invalid_spec_generation, std::nullopt);
}

TEST(Announce, ScaledEventNamesBothCountsAndWhy) {
  ReconcileReport report;
  report.scaled = ScaleWrite{.from = 3, .to = 4, .why = "lag 4000 / threshold 1000 = 4"};
  const Announcement a = Announce(report, kRef, {});
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_EQ(a.events[0].type, kube::EventType::kNormal);
  EXPECT_EQ(a.events[0].message, "3→4: lag 4000 / threshold 1000 = 4");
}

policy::Decision Observed() {
  return {.current = 2,
          .desired = 3,
          .ceiling = 4,
          .partitions = 4,
          .total_lag = 70,
          .lag_known = true,
          .partition_lags = {{.topic = "a", .partition = 0, .lag = 70}},
          .rebalances_caused = 2};
}

TEST(StatusOf, PartitionsAndLagOnlyFromAGoodObservation) {
  ReconcileReport report{.observed_generation = 4, .current_replicas = 2, .desired_replicas = 3};
  report.decision = Observed();
  report.kafka_reachable = true;
  StatusReport status = StatusOf(report);
  EXPECT_EQ(status.observed_generation, 4);
  EXPECT_EQ(status.figures.partitions, 4);
  EXPECT_EQ(status.figures.ceiling, 4);
  EXPECT_EQ(status.figures.total_lag, 70);
  EXPECT_EQ(status.figures.desired_replicas, 3);
  EXPECT_EQ(status.conditions.size(), ReconcileReport::InitialConditions().size());
  EXPECT_EQ(status.last_scale_time, std::nullopt);

  report.kafka_reachable = false;
  report.decision->lag_known = false;
  status = StatusOf(report);
  EXPECT_EQ(status.figures.partitions, std::nullopt);
  EXPECT_EQ(status.figures.ceiling, std::nullopt);
  EXPECT_EQ(status.figures.total_lag, std::nullopt) << "an unknown lag is never written as 0";
}

TEST(StatusOf, ScaledSetsTheScaleTime) {
  ReconcileReport report{.now = Timestamp{std::chrono::seconds(100)}};
  report.scaled = ScaleWrite{.from = 1, .to = 2};
  EXPECT_EQ(StatusOf(report).last_scale_time, report.now);
}

TEST(SampleOf, FromTheSameReport) {
  ReconcileReport report{.namespace_name = "payments",
                         .name = "app",
                         .now = Timestamp{std::chrono::seconds(100)},
                         .spec_valid = true,
                         .group = "app",
                         .current_replicas = 6,
                         .desired_replicas = 2};
  report.kafka_reachable = true;
  report.decision = Observed();
  report.scaled = ScaleWrite{.from = 6, .to = 2};
  const AutoscalerSample s = SampleOf(report);
  EXPECT_EQ(s.namespace_name, "payments");
  EXPECT_EQ(s.group, "app");
  EXPECT_EQ(s.kafka_reachable, true);
  EXPECT_EQ(s.observed_at, report.now);
  EXPECT_EQ(s.scaled, -1);
  EXPECT_EQ(s.figures.total_lag, 70);
  EXPECT_EQ(s.figures.partitions, 4);

  report.kafka_reachable = false;
  report.scaled.reset();
  const AutoscalerSample failed = SampleOf(report);
  EXPECT_EQ(failed.observed_at, std::nullopt);
  EXPECT_EQ(failed.figures.total_lag, std::nullopt);
  EXPECT_EQ(failed.figures.rebalances_caused, 2);
  EXPECT_EQ(failed.scaled, 0);
}

}  // namespace
}  // namespace groupscaler::controller
