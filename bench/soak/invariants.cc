#include "soak/invariants.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <sstream>
#include <tuple>

#include "common/time_format.h"

namespace groupscaler::soak {
namespace {

using nlohmann::json;

bool Mutating(const std::string& verb) {
  return verb == "create" || verb == "update" || verb == "patch" || verb == "delete" ||
         verb == "deletecollection";
}

bool Succeeded(const json& record) {
  const int code = record.value("/responseStatus/code"_json_pointer, 0);
  return code >= 200 && code < 300;
}

std::optional<Timestamp> TimeOf(const json& record, const char* field) {
  StatusOr<Timestamp> t = ParseTime(record.value(field, ""));
  return t.ok() ? std::optional<Timestamp>(*t) : std::nullopt;
}

std::string RequestName(const json& record) {
  const json& ref = record.value("objectRef", json::object());
  std::string resource = ref.value("resource", "");
  if (ref.contains("subresource")) resource += "/" + ref.value("subresource", "");
  return fmt::format("{} {} {}/{} at {}", record.value("verb", ""), resource,
                     ref.value("namespace", ""), ref.value("name", ""),
                     record.value("requestReceivedTimestamp", ""));
}

struct Step {
  Timestamp at;
  bool takes_term = false;  // a Lease create/update: its user holds the term
  std::string user;
  std::string request;
};

double Seconds(Timestamp t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// The Lease's terms and the writers' other writes, in server time order
// (terms first at equal times).
std::vector<Step> Steps(const std::vector<json>& records, const std::set<std::string>& writers,
                        const std::string& lease) {
  std::vector<Step> steps;
  for (const json& r : records) {
    const std::string user = r.value("/user/username"_json_pointer, "");
    if (!writers.contains(user) || !Mutating(r.value("verb", ""))) continue;
    const json& ref = r.value("objectRef", json::object());
    const bool on_lease = ref.value("resource", "") == "leases" && ref.value("name", "") == lease;
    if (on_lease && !Succeeded(r)) continue;
    // A term starts when the server stored the update; a write counts from
    // when the server received it.
    std::optional<Timestamp> at =
        TimeOf(r, on_lease ? "stageTimestamp" : "requestReceivedTimestamp");
    if (at) steps.push_back({*at, on_lease, user, RequestName(r)});
  }
  std::stable_sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) {
    return std::tie(a.at, b.takes_term) < std::tie(b.at, a.takes_term);
  });
  return steps;
}

}  // namespace

void Counters::Declare(const std::string& name) { entries_[name]; }

void Counters::Add(const std::string& name, const std::string& detail, int64_t n) {
  Entry& e = entries_[name];
  if (e.count == 0 && n > 0) e.first = detail;
  e.count += n;
}

int64_t Counters::Total() const {
  int64_t total = 0;
  for (const auto& [name, e] : entries_) total += e.count;
  return total;
}

std::string Counters::Report() const {
  std::string out;
  for (const auto& [name, e] : entries_) {
    out += fmt::format("  {:<34} {:>6}{}\n", name, e.count, e.count ? "  first: " + e.first : "");
  }
  return out;
}

std::vector<ForeignWrite> WritesOutsideTheirTerm(const std::vector<json>& records,
                                                 const std::set<std::string>& writers,
                                                 const std::string& lease) {
  std::vector<ForeignWrite> found;
  std::string holder;
  for (const Step& step : Steps(records, writers, lease)) {
    if (step.takes_term) {
      holder = step.user;
    } else if (step.user != holder) {
      found.push_back(
          {step.user, holder.empty() ? "nobody" : holder, step.request, Seconds(step.at)});
    }
  }
  return found;
}

std::map<std::string, double> LastObservations(const std::string& metrics) {
  static const std::regex kLine(
      R"re(^groupscaler_last_observation_timestamp_seconds\{[^}]*\bname="([^"]+)"[^}]*\} (\S+)$)re");
  std::map<std::string, double> last;
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kLine)) last[m[1]] = std::stod(m[2]);
  }
  return last;
}

bool DeliveredAfterPause(const ForeignWrite& write, const std::vector<Pause>& pauses,
                         double window) {
  return std::any_of(pauses.begin(), pauses.end(), [&](const Pause& p) {
    return p.user == write.user && write.received >= p.continued &&
           write.received <= p.continued + window;
  });
}

int64_t CountSecrets(std::string_view text, const std::vector<std::string>& secrets) {
  int64_t n = 0;
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string_view::npos;
         at = text.find(secret, at + secret.size())) {
      ++n;
    }
  }
  return n;
}

ReplicaWatch::ReplicaWatch(Counters* counters, double grace_seconds)
    : counters_(counters), grace_(grace_seconds) {
  for (const char* name : {"replicas above the bound", "scale-down on unknown or partial lag",
                           "replicas changed while paused", "replicas changed after delete"}) {
    counters_->Declare(name);
  }
}

bool ReplicaWatch::Since(const std::optional<double>& since, double before) const {
  return since && *since + grace_ <= before;
}

void ReplicaWatch::Observe(const std::string& target, double t, int replicas,
                           const TargetContext& context) {
  auto [it, first] = last_.try_emplace(target, Sample{t, replicas});
  const Sample previous = it->second;
  it->second = {t, replicas};
  if (first || replicas == previous.replicas) return;
  const std::string what =
      fmt::format("{} {}→{} at t={:.1f}s", target, previous.replicas, replicas, t);
  if (replicas > previous.replicas && replicas > context.bound) {
    counters_->Add("replicas above the bound",
                   what + " (bound " + std::to_string(context.bound) + ")");
  }
  if (replicas < previous.replicas && Since(context.blind_since, previous.t)) {
    counters_->Add("scale-down on unknown or partial lag", what);
  }
  if (Since(context.paused_since, previous.t)) {
    counters_->Add("replicas changed while paused", what);
  }
  if (Since(context.deleted_since, previous.t)) {
    counters_->Add("replicas changed after delete", what);
  }
}

void ReplicaWatch::Forget(const std::string& target) { last_.erase(target); }

}  // namespace groupscaler::soak
