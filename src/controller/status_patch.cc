#include "controller/status_patch.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "kube/client.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;

const char* StatusName(ConditionStatus status) {
  switch (status) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

template <typename T>
json OrNull(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

// `value` rounded to `decimals` places, or null. Dividing the rounded
// integer gives the double nearest the decimal, which prints as written.
json Rounded(const std::optional<double>& value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return value ? json(std::round(*value * scale) / scale) : json(nullptr);
}

// `text`, or null (which removes the field) when it is empty: the API
// conventions leave an empty optional field out.
json NonEmptyOrNull(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

// The stored condition of `type`, or null.
const json* FindCondition(const json& status, const std::string& type) {
  if (!status.is_object()) return nullptr;
  auto it = status.find("conditions");
  if (it == status.end() || !it->is_array()) return nullptr;
  for (const json& c : *it) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

}  // namespace

void ReportDecision(const policy::Decision& decision, StatusReport* report) {
  report->total_lag_seconds = decision.total_time_lag_seconds;
  for (const policy::TopicRate& rate : decision.topic_rates) {
    if (rate.produce_rate)
      report->produce_rate = report->produce_rate.value_or(0) + *rate.produce_rate;
    if (rate.consume_rate)
      report->consume_rate = report->consume_rate.value_or(0) + *rate.consume_rate;
  }
  report->per_replica_rate = decision.per_replica_rate;
  std::vector<StalledPartition> stalled;
  for (const policy::TopicPartition& tp : decision.stalled_partitions) {
    stalled.push_back({tp.topic, tp.partition});
  }
  report->stalled_partitions = std::move(stalled);
}

Condition StalledCondition(const policy::Decision& decision, int64_t stall_seconds) {
  const std::string window = std::to_string(stall_seconds) + "s";
  if (!decision.stalled_partitions.empty()) {
    std::string list;
    int64_t lag = 0;
    for (const policy::PartitionLag& p : decision.partition_lags) {
      if (!p.stalled) continue;
      if (!list.empty()) list += ", ";
      list += p.topic + "/" + std::to_string(p.partition);
      lag = lag > std::numeric_limits<int64_t>::max() - p.lag ? std::numeric_limits<int64_t>::max()
                                                              : lag + p.lag;
    }
    return {kConditionStalled, ConditionStatus::kTrue, kReasonStalledPartitions,
            std::to_string(decision.stalled_partitions.size()) + " partition(s) with lag " +
                std::to_string(lag) + " whose committed offset has not moved for " + window +
                " while the group commits elsewhere (a poison message or a stuck consumer?): " +
                list + "; left out of scaling, since more replicas cannot help"};
  }
  if (decision.flags.group_stopped && decision.current > 0) {
    return {kConditionStalled, ConditionStatus::kTrue, kReasonGroupStopped,
            "the group has lag but committed nothing for " + window + " with " +
                std::to_string(decision.current) + " replicas"};
  }
  return {kConditionStalled, ConditionStatus::kFalse, "NotStalled",
          "no partition with lag has gone " + window + " without a commit"};
}

namespace {

// The status fields of `report` (conditions aside); null removes a field.
json Fields(const StatusReport& report) {
  json fields = json::object();
  fields["observedGeneration"] = report.observed_generation;
  const GroupFigures& figures = report.figures;
  fields["partitions"] = OrNull(figures.partitions);
  fields["totalLag"] = OrNull(figures.total_lag);
  fields["currentReplicas"] = OrNull(figures.current_replicas);
  fields["desiredReplicas"] = OrNull(figures.desired_replicas);
  fields["ceiling"] = OrNull(figures.ceiling);
  fields["members"] = OrNull(figures.members);
  fields["reason"] = NonEmptyOrNull(report.reason);
  fields["message"] = NonEmptyOrNull(report.message);
  fields["maxLagSeconds"] = Rounded(figures.max_time_lag_seconds, 1);
  fields["totalLagSeconds"] = Rounded(report.total_lag_seconds, 1);
  fields["produceRate"] = Rounded(report.produce_rate, 2);
  fields["consumeRate"] = Rounded(report.consume_rate, 2);
  fields["perReplicaRate"] = Rounded(report.per_replica_rate, 2);
  fields["rebalancesCaused"] = OrNull(figures.rebalances_caused);
  if (report.stalled_partitions) {
    json stalled = json::array();
    for (const StalledPartition& p : *report.stalled_partitions) {
      stalled.push_back({{"topic", p.topic}, {"partition", p.partition}});
    }
    fields["stalledPartitions"] = std::move(stalled);
  } else {
    fields["stalledPartitions"] = nullptr;
  }
  if (report.last_scale_time) fields["lastScaleTime"] = FormatRfc3339(*report.last_scale_time);
  return fields;
}

// The conditions of `report`; each keeps the stored lastTransitionTime of
// its type while its status is unchanged.
json Conditions(const StatusReport& report, const json& stored, Timestamp now) {
  json conditions = json::array();
  for (const Condition& c : report.conditions) {
    const std::string status = StatusName(c.status);
    std::string transition = FormatRfc3339(now);
    if (const json* old = FindCondition(stored, c.type)) {
      if (old->value("status", "") == status && old->contains("lastTransitionTime")) {
        transition = old->value("lastTransitionTime", transition);
      }
    }
    json condition = {{"type", c.type},
                      {"status", status},
                      {"lastTransitionTime", transition},
                      {"observedGeneration", report.observed_generation}};
    // An empty optional field is left out rather than written as "".
    if (!c.reason.empty()) condition["reason"] = c.reason;
    if (!c.message.empty()) condition["message"] = c.message;
    conditions.push_back(std::move(condition));
  }
  return conditions;
}

// The figures (see the write rule in the header) and the floor of each.
struct Figure {
  const char* field;
  double floor;
};
constexpr Figure kFigures[] = {
    {"totalLag", kLagFloor},
    {"maxLagSeconds", kTimeLagFloorSeconds},
    {"totalLagSeconds", kTimeLagFloorSeconds},
    {"produceRate", kRateFloorPerSecond},
    {"consumeRate", kRateFloorPerSecond},
    {"perReplicaRate", kRateFloorPerSecond},
};

const Figure* FindFigure(const std::string& field) {
  for (const Figure& f : kFigures) {
    if (field == f.field) return &f;
  }
  return nullptr;
}

// Whether `stored` holds `field` with a value (null is none).
bool Known(const json& stored, const std::string& field) {
  auto it = stored.find(field);
  return it != stored.end() && !it->is_null();
}

// Whether writing `value` (null: remove) as the figure's field moves the
// stored one: it became known or unknown, or moved beyond the tolerance and
// the floor.
bool FigureMoved(const Figure& figure, const json& value, const json& stored) {
  const bool known = !value.is_null();
  if (known != Known(stored, figure.field)) return true;
  if (!known) return false;
  const json& old = stored.at(figure.field);
  if (!old.is_number()) return true;
  const double before = old.get<double>();
  const double after = value.get<double>();
  const double moved = std::abs(after - before);
  return moved > kFigureTolerance * std::max(std::abs(before), std::abs(after)) &&
         moved > figure.floor;
}

// Whether writing `value` (null: remove) as `field` changes `stored`.
bool FieldChanges(const std::string& field, const json& value, const json& stored) {
  if (value.is_null()) return Known(stored, field);
  auto old = stored.find(field);
  return old == stored.end() || *old != value;
}

// `conditions` without their messages, for comparing what they decide.
json WithoutMessages(json conditions) {
  if (!conditions.is_array()) return conditions;
  for (json& c : conditions) {
    if (c.is_object()) c.erase("message");
  }
  return conditions;
}

// Whether the stored status is at least `age` old (or of no known time).
bool WrittenBefore(const json& stored, Timestamp now, std::chrono::seconds age) {
  auto it = stored.find("observedTime");
  if (it == stored.end() || !it->is_string()) return true;
  const StatusOr<Timestamp> at = ParseTime(it->get<std::string>());
  return !at.ok() || *at > now || now - *at >= age;
}

// Whether the stored figures are too old to keep: older than
// kFiguresMaxAge, of no known time (an older controller wrote them), or of
// a time ahead of `now` (another replica's clock).
bool FiguresStale(const json& stored, Timestamp now) {
  return WrittenBefore(stored, now, kFiguresMaxAge);
}

// Whether `patch` names another cause for a Ready that is not True than
// `stored` does, and the stored one is kCauseMinAge old (the write rule).
bool CauseChanged(const json& patch, const json& stored, Timestamp now) {
  const json* ready = FindCondition(patch, kConditionReady);
  if (ready == nullptr || ready->value("status", "") == "True") return false;
  const json* old = FindCondition(stored, kConditionReady);
  return old != nullptr && old->value("message", "") != ready->value("message", "") &&
         WrittenBefore(stored, now, kCauseMinAge);
}

// Whether writing `value` as `field` changes what the write rule
// (status_patch.h) watches in `stored`.
bool Changes(const std::string& field, const json& value, const json& stored) {
  if (field == "message" || field == "observedTime") return false;
  if (field == "conditions") {
    return WithoutMessages(value) != WithoutMessages(stored.value("conditions", json()));
  }
  if (const Figure* figure = FindFigure(field)) return FigureMoved(*figure, value, stored);
  return FieldChanges(field, value, stored);
}

// The write rule: whether `patch` is worth writing over `stored`.
bool WorthWriting(const json& patch, const json& stored, Timestamp now) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (Changes(it.key(), it.value(), stored)) return true;
  }
  return CauseChanged(patch, stored, now) || FiguresStale(stored, now);
}

}  // namespace

std::optional<std::string> StatusPatch(const StatusReport& report, std::string_view object_json,
                                       Timestamp now) {
  // Parsing without exceptions: a malformed object reads as one without status.
  json object = json::parse(object_json, nullptr, /*allow_exceptions=*/false);
  json stored = json::object();
  if (object.is_object()) {
    auto it = object.find("status");
    if (it != object.end() && it->is_object()) stored = *it;
  }
  json patch = Fields(report);
  patch["conditions"] = Conditions(report, stored, now);
  patch["observedTime"] = FormatRfc3339(now);
  if (!WorthWriting(patch, stored, now)) return std::nullopt;
  return patch.dump();
}

}  // namespace groupscaler::controller
