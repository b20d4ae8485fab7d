#include "controller/status_patch.h"

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

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

std::string FormatTime(Timestamp t) {
  using namespace std::chrono;
  const sys_seconds secs = floor<seconds>(t);
  const sys_days day = floor<days>(secs);
  const year_month_day ymd(day);
  const hh_mm_ss hms(secs - day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

std::optional<std::string> StatusPatch(const StatusReport& report, std::string_view object_json,
                                       Timestamp now) {
  // Parsing without exceptions: a malformed object reads as one without status.
  json object = json::parse(object_json, nullptr, /*allow_exceptions=*/false);
  json stored = json::object();
  if (object.is_object()) {
    auto it = object.find("status");
    if (it != object.end() && it->is_object()) stored = *it;
  }

  json patch = json::object();
  patch["observedGeneration"] = report.observed_generation;
  patch["partitions"] = OrNull(report.partitions);
  patch["totalLag"] = OrNull(report.total_lag);
  patch["currentReplicas"] = OrNull(report.current_replicas);
  patch["desiredReplicas"] = OrNull(report.desired_replicas);
  patch["ceiling"] = OrNull(report.ceiling);
  patch["members"] = OrNull(report.members);
  patch["reason"] = report.reason;
  patch["message"] = report.message;
  if (report.last_scale_time) patch["lastScaleTime"] = FormatTime(*report.last_scale_time);

  json conditions = json::array();
  for (const Condition& c : report.conditions) {
    const std::string status = StatusName(c.status);
    std::string transition = FormatTime(now);
    if (const json* old = FindCondition(stored, c.type)) {
      if (old->value("status", "") == status && old->contains("lastTransitionTime")) {
        transition = old->value("lastTransitionTime", transition);
      }
    }
    conditions.push_back({{"type", c.type},
                          {"status", status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"lastTransitionTime", transition},
                          {"observedGeneration", report.observed_generation}});
  }
  patch["conditions"] = std::move(conditions);

  bool changed = false;
  for (auto it = patch.begin(); it != patch.end() && !changed; ++it) {
    auto old = stored.find(it.key());
    if (it.value().is_null()) {
      changed = old != stored.end() && !old->is_null();
    } else {
      changed = old == stored.end() || *old != it.value();
    }
  }
  if (!changed) return std::nullopt;
  return patch.dump();
}

}  // namespace groupscaler::controller
