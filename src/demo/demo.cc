#include "demo/demo.h"

#include <fmt/ranges.h>
#include <signal.h>
#include <sys/resource.h>

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/host_port.h"
#include "controller/reconciler.h"
#include "controller/status_patch.h"
#include "demo/demo_topic.h"
#include "demo/embedded_kafka.h"
#include "demo/ledger.h"
#include "demo/local_kube.h"
#include "demo/replica_set.h"
#include "kafka/mock_cluster.h"
#include "kafka/rdkafka_lag_reader.h"
#include "metrics/metrics.h"
#include "policy/policy.h"

namespace groupscaler::demo {
namespace {

constexpr const char* kNamespace = "demo";
// The Secret the demo's autoscaler names for --auth-file's settings.
constexpr const char* kAuthSecret = "kafka-client";
// For each call to an existing cluster: its first contact, topic creation
// and deletion.
constexpr std::chrono::seconds kKafkaTimeout{10};
// Seconds the assignment must stay unchanged before the ownership rules are
// checked on it: lines of two processes handing a partition over race.
constexpr double kSettleSeconds = 2.0;
constexpr std::chrono::milliseconds kTick{250};
// At the end, how long the final assignment may take to settle (a
// rebalance; cooperative-sticky takes two rounds).
constexpr std::chrono::seconds kFinalAssignmentWait{10};

using SteadyTime = std::chrono::steady_clock::time_point;

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string Thousands(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string Fixed(double v, int decimals = 1) { return fmt::format("{:.{}f}", v, decimals); }

std::string JoinPartitions(const std::set<int32_t>& parts) {
  return parts.empty() ? "none" : fmt::format("{}", fmt::join(parts, ","));
}

// True when each of the `partitions` partitions has one owner, a running
// replica.
bool EveryPartitionOwnedOnce(const AssignmentMap& assignment, int32_t partitions,
                             const std::vector<ReplicaInfo>& running) {
  std::map<int32_t, int> owners;
  for (const auto& [replica, parts] : assignment) {
    const bool runs = std::any_of(running.begin(), running.end(),
                                  [&](const ReplicaInfo& r) { return r.name == replica; });
    if (!runs) return false;
    for (int32_t p : parts) ++owners[p];
  }
  return static_cast<int32_t>(owners.size()) == partitions &&
         std::all_of(owners.begin(), owners.end(), [](const auto& o) { return o.second == 1; });
}

// The assignment the summary reports. A run may end mid-rebalance (a scale
// or a replica's exit just before the end): with scaling stopped, it waits
// at most `limit` for every partition to have one owner, and reports the
// latest assignment seen when that does not come. No replica running (scaled
// to zero): nothing to wait for.
AssignmentMap FinalAssignment(const Ledger& ledger, const ReplicaSet& replicas, int32_t partitions,
                              const Clock& clock, std::chrono::milliseconds limit) {
  AssignmentMap assignment = ledger.Assignment();
  auto settled = [&] {
    const std::vector<ReplicaInfo> running = replicas.List();
    return running.empty() || EveryPartitionOwnedOnce(assignment, partitions, running);
  };
  for (auto waited = std::chrono::milliseconds(0); !settled() && waited < limit; waited += kTick) {
    clock.SleepFor(kTick);
    assignment = ledger.Assignment();
  }
  return assignment;
}

// spec.kafka of the demo's autoscaler.
nlohmann::json KafkaSpec(const DemoOptions& o, const std::string& bootstrap) {
  nlohmann::json kafka = {{"bootstrapServers", SplitServers(bootstrap)},
                          {"groupId", o.group_id},
                          {"topics", {o.topic}},
                          {"offsetResetPolicy", o.offset_reset}};
  if (!o.auth.empty()) kafka["authSecretRef"] = {{"name", kAuthSecret}};
  return kafka;
}

// "embedded Kafka" or "Kafka": what the demo runs on.
std::string KafkaName(const DemoOptions& o) {
  return o.bootstrap_servers.empty() ? "embedded Kafka" : "Kafka";
}

// The ConsumerGroupAutoscaler the demo's controller reconciles.
nlohmann::json AutoscalerObject(const DemoOptions& o, const std::string& bootstrap) {
  return {{"apiVersion", "groupscaler.io/v1alpha1"},
          {"kind", "ConsumerGroupAutoscaler"},
          {"metadata", {{"namespace", kNamespace}, {"name", o.group_id}}},
          {"spec",
           {{"scaleTargetRef",
             {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", o.group_id}}},
            {"kafka", KafkaSpec(o, bootstrap)},
            {"minReplicas", o.min_replicas},
            {"maxReplicas", o.max_replicas},
            {"consumersPerReplica", 1},
            {"pollIntervalSeconds", o.poll_interval_seconds},
            {"lagThreshold", o.lag_threshold},
            {"cooldownSeconds", o.cooldown_seconds},
            // The mock reports no members, so a change is settled after this.
            {"policy", {{"rebalanceSettleSeconds", o.rebalance_settle_seconds}}},
            {"behavior",
             {{"scaleUp",
               {{"stabilizationWindowSeconds", 0},
                {"selectPolicy", "Max"},
                {"policies",
                 {{{"type", "Pods"}, {"value", 4}, {"periodSeconds", 2}},
                  {{"type", "Percent"}, {"value", 100}, {"periodSeconds", 2}}}}}},
              {"scaleDown",
               {{"stabilizationWindowSeconds", o.scale_down_window_seconds},
                {"selectPolicy", "Max"},
                {"policies", {{{"type", "Percent"}, {"value", 50}, {"periodSeconds", 3}}}}}}}}}}};
}

// The controller's PerInstanceGroupIds condition when it is True: the
// anti-pattern, as the reconciler saw it in the local pod template.
std::optional<std::string> PerInstanceGroupIdsWarning(const nlohmann::json& status) {
  if (!status.contains("conditions")) return std::nullopt;
  for (const nlohmann::json& c : status["conditions"]) {
    if (c.value("type", "") == controller::kConditionPerInstanceGroupIds &&
        c.value("status", "") == "True") {
      return c.value("message", "");
    }
  }
  return std::nullopt;
}

struct Failover {
  std::string replica;
  pid_t pid = -1;
  std::set<int32_t> partitions;
  double killed_at = 0;
  std::optional<double> taken_over_after;
};

struct Totals {
  double replica_seconds = 0;
  double at_ceiling_seconds = 0;
  int64_t max_lag = 0;
  int32_t max_ready = 0;
  int32_t max_desired = 0;
  std::optional<double> first_decision;
  std::optional<double> first_scale;
  std::optional<std::string> anti_pattern;
  int32_t anti_pattern_groups = 0;
  int32_t final_replicas = 0;
};

bool AtCeiling(const nlohmann::json& status) {
  for (const nlohmann::json& c : status.value("conditions", nlohmann::json::array())) {
    if (c.value("type", "") == controller::kConditionAtPartitionCeiling) {
      return c.value("status", "") == "True";
    }
  }
  return false;
}

// The group's lag at this poll: unknown when the status says so (a lag
// becoming unknown or known is written at once), else the sum over the
// latest observation, this poll's, counted as the decision counts it. Not
// the status's totalLag, which is written only once it moved by 10%
// (status_patch.h): too coarse for the view and the summary's max lag.
std::optional<int64_t> CurrentLag(const nlohmann::json& status, const ObservationLog& observations,
                                  const DemoOptions& o) {
  const std::optional<kafka::GroupObservation> last = observations.Last(o.group_id);
  if (!status.contains("totalLag") || !last) return std::nullopt;
  const policy::OffsetResetPolicy reset = o.offset_reset == "latest"
                                              ? policy::OffsetResetPolicy::kLatest
                                              : policy::OffsetResetPolicy::kEarliest;
  int64_t total = 0;
  for (const policy::PartitionObservation& p : last->observation.partitions) {
    const policy::PartitionLag lag = policy::ComputePartitionLag(p, reset, p.log_end_offset);
    if (!lag.known) continue;
    total = total > std::numeric_limits<int64_t>::max() - lag.lag
                ? std::numeric_limits<int64_t>::max()
                : total + lag.lag;
  }
  return total;
}

// Replica names sort by ordinal, not as text ("replica-10" after "-9").
std::vector<std::pair<std::string, std::set<int32_t>>> ByOrdinal(const AssignmentMap& map) {
  std::vector<std::pair<std::string, std::set<int32_t>>> out(map.begin(), map.end());
  auto ordinal = [](const std::string& name) {
    const size_t dash = name.rfind('-');
    return dash == std::string::npos ? 0 : std::atoi(name.c_str() + dash + 1);
  };
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return ordinal(a.first) < ordinal(b.first);
  });
  return out;
}

std::string AssignmentLine(const AssignmentMap& assignment) {
  std::string out;
  for (const auto& [replica, parts] : ByOrdinal(assignment)) {
    out += (out.empty() ? "" : "  ") + replica + "→" + JoinPartitions(parts);
  }
  return out.empty() ? "no members" : out;
}

class View {
 public:
  View(const DemoOptions& options, std::string bootstrap, std::ostream& out)
      : options_(options), bootstrap_(std::move(bootstrap)), out_(out) {}

  void Render(double t, double produce_rate, double consume_rate, std::optional<int64_t> total_lag,
              const nlohmann::json& status, int32_t ready, const AssignmentMap& assignment,
              const std::vector<LoggedEvent>& new_events, Timestamp start_wall,
              const std::optional<std::string>& warning) {
    for (const LoggedEvent& e : new_events) {
      const double at = std::chrono::duration<double>(e.time - start_wall).count();
      recent_.push_back("[" + Fixed(std::max(0.0, at)) + "s] " +
                        (e.event.type == kube::EventType::kWarning ? "Warning " : "") +
                        e.event.reason + ": " + e.event.message);
    }
    const Figures f{.t = t,
                    .produce = Thousands(std::lround(produce_rate)),
                    .consume = Thousands(std::lround(consume_rate)),
                    .lag = total_lag ? Thousands(*total_lag) : "?",
                    .desired = Number(status, "desiredReplicas"),
                    .ceiling = Number(status, "ceiling"),
                    .at_ceiling = AtCeiling(status),
                    .ready = ready,
                    .decision = DecisionLine(status)};
    if (options_.tty) {
      RenderScreen(f, assignment, warning);
    } else {
      RenderLines(f, assignment);
    }
  }

 private:
  // What one poll shows, formatted.
  struct Figures {
    double t = 0;
    std::string produce;
    std::string consume;
    std::string lag;
    std::string desired;
    std::string ceiling;
    bool at_ceiling = false;
    int32_t ready = 0;
    std::string decision;
  };

  static std::string Number(const nlohmann::json& status, const char* key) {
    return status.contains(key) && status[key].is_number()
               ? std::to_string(status[key].get<int64_t>())
               : std::string("?");
  }

  static std::string DecisionLine(const nlohmann::json& status) {
    const std::string message = status.value("message", std::string());
    return status.value("reason", std::string("-")) + (message.empty() ? "" : ": " + message);
  }

  // Not a terminal: the new Events, then one line for the poll.
  void RenderLines(const Figures& f, const AssignmentMap& assignment) {
    for (size_t i = printed_; i < recent_.size(); ++i) out_ << "  event " << recent_[i] << "\n";
    printed_ = recent_.size();
    out_ << "[" << Fixed(f.t) << "s] produce " << f.produce << "/s consume " << f.consume
         << "/s lag " << f.lag << " replicas " << f.ready << "/" << f.desired << "/" << f.ceiling
         << (f.at_ceiling ? " (at ceiling)" : "") << " | " << f.decision << " | "
         << AssignmentLine(assignment) << std::endl;
  }

  // A terminal: the whole screen redrawn.
  void RenderScreen(const Figures& f, const AssignmentMap& assignment,
                    const std::optional<std::string>& warning) {
    std::ostringstream s;
    s << "\033[H\033[2J";
    s << "groupscaler demo   " << Fixed(f.t) << " s of "
      << Fixed(std::chrono::duration<double>(options_.duration).count(), 0) << " s   topic "
      << options_.topic << " (" << options_.partitions << " partitions)   group "
      << options_.group_id << (options_.anti_pattern ? " (ANTI-PATTERN: a group per replica)" : "")
      << "\n  " << KafkaName(options_) << " " << bootstrap_ << "\n\n";
    s << "  produce  " << f.produce << " msg/s    consume " << f.consume << " msg/s    lag "
      << f.lag << "\n";
    s << "  replicas " << f.ready << " running / " << f.desired << " desired / " << f.ceiling
      << " ceiling" << (f.at_ceiling ? "   AT THE PARTITION CEILING" : "") << "\n";
    s << "  decision " << f.decision << "\n";
    if (warning) s << "\n  WARNING " << *warning << "\n";
    s << "\n  assignment (one owner per partition)\n";
    if (assignment.empty()) s << "    no members yet\n";
    for (const auto& [replica, parts] : ByOrdinal(assignment)) {
      s << "    " << replica << " → partitions " << JoinPartitions(parts) << "\n";
    }
    s << "\n  events\n";
    const size_t first = recent_.size() > 8 ? recent_.size() - 8 : 0;
    for (size_t i = first; i < recent_.size(); ++i) s << "    " << recent_[i] << "\n";
    s << "\n  Ctrl-C stops the demo and prints the summary.\n";
    out_ << s.str() << std::flush;
  }

  const DemoOptions& options_;
  const std::string bootstrap_;
  std::ostream& out_;
  std::vector<std::string> recent_;
  size_t printed_ = 0;
};

// One rule of the summary: held (its detail says what held), broken (the
// first violation) or, with nothing to judge, untested ("held": null).
nlohmann::json RuleJson(const std::string& rule, const RuleResult& result,
                        const std::string& held_detail, const std::string& untested_detail) {
  if (!result.tested) {
    return {{"rule", rule}, {"held", nullptr}, {"detail", "untested: " + untested_detail}};
  }
  return {
      {"rule", rule}, {"held", result.held}, {"detail", result.held ? held_detail : result.detail}};
}

nlohmann::json NullOr(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nullptr; }

// The summary's counts of messages, replicas and times.
nlohmann::json SummaryCounts(const DemoOptions& o, double ran_seconds, bool interrupted,
                             const Tally& tally, int64_t produced, const Totals& totals) {
  nlohmann::json times = nlohmann::json::object();
  for (const auto& [k, v] : tally.times_processed) times[std::to_string(k)] = v;
  return {{"durationSeconds", std::round(ran_seconds * 10) / 10},
          {"interrupted", interrupted},
          {"topic", o.topic},
          {"partitions", o.partitions},
          {"groupId", o.group_id},
          {"antiPattern", o.anti_pattern},
          {"produced", produced},
          {"consumed", tally.consumed},
          {"processings", tally.processings},
          {"processedMoreThanOnce", tally.duplicates},
          {"timesProcessed", times},
          {"lost", tally.lost},
          {"maxLag", totals.max_lag},
          {"replicaSeconds", std::round(totals.replica_seconds * 10) / 10},
          {"secondsAtCeiling", std::round(totals.at_ceiling_seconds * 10) / 10},
          {"maxReplicas", totals.max_ready},
          {"maxDesiredReplicas", totals.max_desired},
          {"finalReplicas", totals.final_replicas},
          {"firstDecisionSeconds", NullOr(totals.first_decision)},
          {"firstScaleSeconds", NullOr(totals.first_scale)}};
}

// User and system CPU time of this process so far.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

nlohmann::json EventsJson(const std::vector<LoggedEvent>& events, Timestamp start_wall) {
  nlohmann::json list = nlohmann::json::array();
  for (const LoggedEvent& e : events) {
    list.push_back(
        {{"atSeconds",
          std::round(std::chrono::duration<double>(e.time - start_wall).count() * 100) / 100},
         {"type", e.event.type == kube::EventType::kWarning ? "Warning" : "Normal"},
         {"reason", e.event.reason},
         {"message", e.event.message}});
  }
  return list;
}

// The four rules the demo judges the run by.
nlohmann::json RulesJson(const DemoOptions& o, const Tally& tally, const Totals& totals,
                         const Ledger& ledger) {
  const bool within = totals.max_ready <= o.partitions && totals.max_desired <= o.partitions;
  const std::string settled = "no assignment was seen settled";
  const RuleResult no_loss{
      .held = tally.lost == 0,
      .tested = tally.consumed > 0,
      .detail = Thousands(tally.lost) + " never processed, first " + tally.first_lost};
  return {RuleJson("one owner per partition", ledger.one_owner(),
                   "no partition had two owners once settled", settled),
          RuleJson("no owner outside the group", ledger.owners_in_group(),
                   "every owner was in group " + o.group_id, settled),
          RuleJson("replicas never above partitions", {.held = within, .tested = true},
                   "at most " + std::to_string(totals.max_ready) + " running, " +
                       std::to_string(totals.max_desired) + " desired, for " +
                       std::to_string(o.partitions) + " partitions",
                   ""),
          RuleJson("no message lost", no_loss,
                   "every message below the committed offsets was processed",
                   "no message was processed")};
}

nlohmann::json WarningsJson(const Tally& tally, const Totals& totals) {
  nlohmann::json warnings = nlohmann::json::array();
  if (!totals.anti_pattern) return warnings;
  const double multiplier =
      tally.consumed > 0 ? static_cast<double>(tally.processings) / tally.consumed : 0;
  warnings.push_back({{"reason", controller::kReasonPerInstanceGroupIds},
                      {"groups", totals.anti_pattern_groups},
                      {"multiplier", std::round(multiplier * 100) / 100},
                      {"message", *totals.anti_pattern}});
  return warnings;
}

nlohmann::json FailoverJson(const Failover& failover) {
  return {{"replica", failover.replica},
          {"partitions", failover.partitions},
          {"killedAtSeconds", std::round(failover.killed_at * 10) / 10},
          {"takenOverAfterSeconds", NullOr(failover.taken_over_after)}};
}

// The summary, as JSON; the text form is rendered from it.
nlohmann::json Summarize(const DemoOptions& o, double ran_seconds, bool interrupted,
                         const Tally& tally, int64_t produced, const Totals& totals,
                         const Ledger& ledger, const std::optional<Failover>& failover,
                         const AssignmentMap& last_assignment,
                         const std::vector<LoggedEvent>& events, Timestamp start_wall) {
  nlohmann::json j = SummaryCounts(o, ran_seconds, interrupted, tally, produced, totals);
  j["cpuSeconds"] = CpuSeconds();
  nlohmann::json assignment = nlohmann::json::object();
  for (const auto& [replica, parts] : last_assignment) assignment[replica] = parts;
  j["assignment"] = assignment;
  j["events"] = EventsJson(events, start_wall);
  j["rules"] = RulesJson(o, tally, totals, ledger);
  j["warnings"] = WarningsJson(tally, totals);
  if (failover) j["failover"] = FailoverJson(*failover);
  return j;
}

void PrintSummary(const nlohmann::json& j, std::ostream& out) {
  auto n = [&](const char* key) { return Thousands(j[key].get<int64_t>()); };
  out << "\nsummary after " << Fixed(j["durationSeconds"].get<double>()) << " s"
      << (j["interrupted"].get<bool>() ? " (interrupted)" : "") << "\n";
  out << "  produced                  " << n("produced") << "\n";
  out << "  consumed                  " << n("consumed") << " (" << n("processings")
      << " processings)\n";
  out << "  processed more than once  " << n("processedMoreThanOnce") << "\n";
  out << "  max lag                   " << n("maxLag") << "\n";
  out << "  replica-seconds           " << Fixed(j["replicaSeconds"].get<double>()) << "\n";
  out << "  time at the ceiling       " << Fixed(j["secondsAtCeiling"].get<double>()) << " s\n";
  if (!j["firstScaleSeconds"].is_null()) {
    out << "  first scale decision      after " << Fixed(j["firstScaleSeconds"].get<double>(), 2)
        << " s\n";
  }
  if (j.contains("failover")) {
    const nlohmann::json& f = j["failover"];
    std::set<int32_t> parts = f["partitions"].get<std::set<int32_t>>();
    out << "  failover                  " << f["replica"].get<std::string>() << " killed at "
        << Fixed(f["killedAtSeconds"].get<double>()) << " s owning partitions "
        << JoinPartitions(parts) << "; "
        << (f["takenOverAfterSeconds"].is_null()
                ? std::string("not taken over before the end")
                : "taken over after " + Fixed(f["takenOverAfterSeconds"].get<double>()) + " s")
        << "\n";
  }
  out << "rules\n";
  for (const nlohmann::json& r : j["rules"]) {
    const char* verdict = r["held"].is_null()     ? "untested"
                          : r["held"].get<bool>() ? "held"
                                                  : "BROKEN";
    out << fmt::format("  {:<9}{}: {}\n", verdict, r["rule"].get<std::string>(),
                       r["detail"].get<std::string>());
  }
  for (const nlohmann::json& w : j["warnings"]) {
    out << "warning " << w["reason"].get<std::string>() << ": " << w["message"].get<std::string>()
        << " (measured: each message processed " << Fixed(w["multiplier"].get<double>(), 2)
        << " times)\n";
  }
  out << std::flush;
}

}  // namespace

sim::Trace DefaultProfile() { return {.rows = {{0, 100}, {15, 3000}, {35, 600}, {65, 50}}}; }

namespace {

// --kill-at: SIGKILLs the oldest replica at `t` and says so in an Event;
// what it owned. Nullopt when no replica runs.
std::optional<Failover> KillOldest(ReplicaSet& replicas, const Ledger& ledger,
                                   int session_timeout_ms, double t, EventLog& events) {
  const AssignmentMap before = ledger.Assignment();
  std::optional<ReplicaInfo> killed = replicas.KillOldest();
  if (!killed) return std::nullopt;
  auto it = before.find(killed->name);
  Failover failover{.replica = killed->name,
                    .pid = killed->pid,
                    .partitions = it == before.end() ? std::set<int32_t>{} : it->second,
                    .killed_at = t};
  (void)events.RecordEvent({.type = kube::EventType::kWarning,
                            .reason = "Killed",
                            .message = killed->name + " killed with SIGKILL, owning partitions " +
                                       JoinPartitions(failover.partitions) +
                                       "; they move once its session times out (" +
                                       Fixed(session_timeout_ms / 1000.0) + " s)"});
  return failover;
}

// Sets failover.taken_over_after (and says so in an Event) once the killed
// process is gone and each of its partitions has an owner again.
void NoteTakeOver(Failover& failover, const ReplicaSet& replicas, const Ledger& ledger,
                  EventLog& events) {
  const AssignmentMap now = ledger.Assignment();
  const std::vector<ReplicaInfo> running = replicas.List();
  bool all_owned = std::none_of(running.begin(), running.end(),
                                [&](const ReplicaInfo& r) { return r.pid == failover.pid; });
  for (int32_t p : failover.partitions) {
    bool owned = false;
    for (const auto& [replica, parts] : now) owned = owned || parts.contains(p);
    all_owned = all_owned && owned;
  }
  if (!all_owned) return;
  failover.taken_over_after =
      std::round((std::max(ledger.last_change(), failover.killed_at) - failover.killed_at) * 10) /
      10;
  (void)events.RecordEvent({.reason = "FailedOver",
                            .message = "partitions " + JoinPartitions(failover.partitions) +
                                       " of " + failover.replica + " taken over after " +
                                       Fixed(*failover.taken_over_after) + " s"});
}

// What Kafka holds once the consumers committed on their way out: each
// partition's log end and each group's commits; `produced` the sum of the
// log ends (kept as given when Kafka does not answer).
struct GroundTruth {
  std::vector<int64_t> log_end;
  std::map<std::string, std::map<int32_t, int64_t>> committed;
  int64_t produced = 0;
};

GroundTruth ReadGroundTruth(kafka::LagReaderPool& readers, const kafka::ClusterConfig& cluster,
                            const DemoOptions& o, const std::set<std::string>& groups,
                            int64_t produced) {
  GroundTruth truth{.log_end = std::vector<int64_t>(static_cast<size_t>(o.partitions), 0),
                    .produced = produced};
  std::vector<kafka::GroupQuery> queries;
  for (const std::string& g : groups) queries.push_back({.group_id = g, .topics = {o.topic}});
  StatusOr<std::shared_ptr<kafka::LagReader>> reader = readers.Get(cluster);
  if (!reader.ok()) return truth;
  StatusOr<std::vector<kafka::GroupObservation>> observed =
      (*reader)->Observe(queries, std::chrono::seconds(5));
  if (!observed.ok()) return truth;
  for (const kafka::GroupObservation& g : *observed) {
    if (g.observation.failed) continue;
    int64_t sum = 0;
    for (const policy::PartitionObservation& p : g.observation.partitions) {
      if (p.partition < 0 || p.partition >= o.partitions) continue;
      truth.log_end[static_cast<size_t>(p.partition)] = p.log_end_offset;
      sum += p.log_end_offset;
      if (p.committed_offset) truth.committed[g.group_id][p.partition] = *p.committed_offset;
    }
    truth.produced = sum;
  }
  return truth;
}

// Marks of the previous poll, for the rates the view shows.
struct PollMarks {
  double at = 0;
  int64_t acknowledged = 0;
  int64_t processings = 0;
};

// One run of the demo on the Kafka at `bootstrap`, whose topic exists: the
// consumers, the load, the controller's reconciler on local objects, and
// the view, until the run's duration or a stop signal.
class DemoRun {
 public:
  DemoRun(const DemoOptions& o, std::string bootstrap, std::ostream& out)
      : o_(o),
        bootstrap_(std::move(bootstrap)),
        out_(out),
        start_(std::chrono::steady_clock::now()),
        start_wall_(clock_.Now()),
        ledger_(o.topic, o.partitions, o.group_id),
        replicas_(
            ReplicaTemplateOf(o, bootstrap_),
            [this](const std::string& replica, const std::string& group, std::string_view line) {
              ledger_.OnLine(replica, group, line, Elapsed());
            },
            [this](const std::string& replica) { ledger_.OnExit(replica, Elapsed()); }),
        readers_(RecordingReaders(observations_, !o.bootstrap_servers.empty())),
        autoscalers_(AutoscalerObject(o, bootstrap_)),
        scales_(o.group_id, &replicas_),
        events_(&clock_),
        secrets_(kAuthSecret, o.auth),
        metrics_(MetricsIf(!o.metrics_bind_address.empty())),
        reconciler_(Deps(), {.observe_timeout = std::chrono::milliseconds(
                                 std::min(3000, o.poll_interval_seconds * 1000))}),
        key_(controller::MakeKey(kNamespace, o.group_id)),
        view_(o, bootstrap_, out) {}

  // The exit code; the groups the consumers used into `groups` (at least
  // the group of the options).
  int Run(std::vector<std::string>* groups) {
    *groups = {o_.group_id};
    if (!Start()) return 1;
    const bool interrupted = Loop();
    return Finish(interrupted, groups);
  }

 private:
  static ReplicaTemplate ReplicaTemplateOf(const DemoOptions& o, const std::string& bootstrap) {
    return {.binary = o.consumer_binary,
            .bootstrap_servers = bootstrap,
            .auth_file = o.auth_file,
            .topic = o.topic,
            .group_id = o.group_id,
            .group_per_replica = o.anti_pattern,
            .process_ms = o.process_ms,
            .session_timeout_ms = o.session_timeout_ms,
            .offset_reset = o.offset_reset,
            .stderr_path = o.consumer_log};
  }

  // Lag readers that record each observation in `observations`. The mock
  // does not describe groups; asking it would only cost a probe.
  static kafka::LagReaderPool RecordingReaders(std::shared_ptr<ObservationLog> observations,
                                               bool describe_groups) {
    return kafka::LagReaderPool([observations, describe_groups](const kafka::ClusterConfig& cluster)
                                    -> StatusOr<std::unique_ptr<kafka::LagReader>> {
      StatusOr<std::unique_ptr<kafka::LagReader>> inner =
          kafka::NewRdKafkaLagReader(cluster, {.describe_groups = describe_groups});
      if (!inner.ok()) return inner.status();
      return std::unique_ptr<kafka::LagReader>(
          std::make_unique<RecordingLagReader>(std::move(inner).value(), observations));
    });
  }

  static std::optional<metrics::Metrics> MetricsIf(bool wanted) {
    if (!wanted) return std::nullopt;
    return std::optional<metrics::Metrics>(std::in_place);
  }

  controller::ReconcilerDeps Deps() {
    return {.autoscalers = &autoscalers_,
            .scales = &scales_,
            .events = &events_,
            .secrets = &secrets_,
            .hpas = &hpas_,
            .workloads = &scales_,
            .readers = &readers_,
            .clock = &clock_,
            .metrics = metrics_ ? &*metrics_ : nullptr};
  }

  double Elapsed() const { return Seconds(std::chrono::steady_clock::now() - start_); }

  // The load, /metrics and the first replicas; false (said on out_) when
  // one cannot start.
  bool Start() {
    StatusOr<std::unique_ptr<LoadProducer>> producer =
        LoadProducer::Start(bootstrap_, o_.auth, o_.topic, o_.partitions, o_.profile);
    if (!producer.ok()) {
      out_ << "groupscaler demo: cannot start the producer: " << producer.status().ToString()
           << std::endl;
      return false;
    }
    producer_ = std::move(producer).value();
    if (metrics_) {
      if (Status served = metrics_->Serve(o_.metrics_bind_address); !served.ok()) {
        out_ << "groupscaler demo: --metrics-bind-address: " << served.message() << std::endl;
        return false;
      }
      metrics_->SetLeader(true);  // the demo's controller is the only one
      out_ << "serving /metrics on port " << metrics_->port() << std::endl;
    }
    if (Status s = replicas_.SetReplicas(o_.initial_replicas); !s.ok()) {
      out_ << "groupscaler demo: cannot start " << o_.consumer_binary << ": " << s.ToString()
           << std::endl;
      return false;
    }
    out_ << KafkaName(o_) << " at " << bootstrap_ << " (topic " << o_.topic << ", " << o_.partitions
         << " partitions); look with: groupscaler lag --bootstrap-servers " << bootstrap_
         << " --group " << o_.group_id << " --topic " << o_.topic
         << (o_.auth_file.empty() ? "" : " --auth-file " + o_.auth_file) << std::endl;
    return true;
  }

  // Ticks until the duration is over; true when a stop signal came first.
  bool Loop() {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    const double duration = std::chrono::duration<double>(o_.duration).count();
    double next_poll = 0;
    double last_tick = 0;
    for (double t = Elapsed(); t < duration; t = Elapsed()) {
      Tick(t, t - last_tick);
      last_tick = t;
      if (t >= next_poll) {
        next_poll += o_.poll_interval_seconds;
        Poll();
      } else {
        (void)replicas_.Sync();
      }
      totals_.max_ready = std::max(totals_.max_ready, replicas_.ready());
      const double wait =
          std::max(0.0, std::min({next_poll, duration, t + Seconds(kTick)}) - Elapsed());
      const timespec ts{static_cast<time_t>(wait),
                        static_cast<long>((wait - std::floor(wait)) * 1e9)};
      if (sigtimedwait(&stop_signals, nullptr, &ts) > 0) return true;
    }
    return false;
  }

  // What happens at every tick: --kill-at, the ownership rules, and the
  // totals that accrue over time.
  void Tick(double t, double dt) {
    // Not mid-rebalance: the killed replica's partitions are what it owned.
    if (o_.kill_at_seconds && !failover_ && t >= *o_.kill_at_seconds &&
        EveryPartitionOwnedOnce(ledger_.Assignment(), o_.partitions, replicas_.List())) {
      failover_ = KillOldest(replicas_, ledger_, o_.session_timeout_ms, t, events_);
    }
    if (failover_ && !failover_->taken_over_after) {
      NoteTakeOver(*failover_, replicas_, ledger_, events_);
    }
    ledger_.CheckOwnership(t, kSettleSeconds);
    totals_.replica_seconds += dt * replicas_.ready();
    if (AtCeiling(autoscalers_.status())) totals_.at_ceiling_seconds += dt;
  }

  // One reconcile, the replicas brought to its decision, and the view.
  void Poll() {
    (void)reconciler_.Reconcile(key_);
    (void)replicas_.Sync();
    const nlohmann::json status = autoscalers_.status();
    const double now = Elapsed();
    const std::optional<std::string> warning = PerInstanceGroupIdsWarning(status);
    std::vector<LoggedEvent> fresh = events_.TakeNew();
    const std::optional<int64_t> lag = CurrentLag(status, *observations_, o_);
    Accrue(now, status, lag, warning, fresh);
    const PollMarks marks{
        .at = now, .acknowledged = producer_->acknowledged(), .processings = ledger_.processings()};
    const double since = std::max(1e-3, now - last_poll_.at);
    view_.Render(now, (marks.acknowledged - last_poll_.acknowledged) / since,
                 (marks.processings - last_poll_.processings) / since, lag, status,
                 replicas_.ready(), ledger_.Assignment(), fresh, start_wall_, warning);
    last_poll_ = marks;
  }

  // The totals a poll's status and Events add to.
  void Accrue(double now, const nlohmann::json& status, std::optional<int64_t> lag,
              const std::optional<std::string>& warning, const std::vector<LoggedEvent>& fresh) {
    if (!totals_.first_decision && status.contains("desiredReplicas")) {
      totals_.first_decision = std::round(now * 100) / 100;
    }
    if (lag) totals_.max_lag = std::max(totals_.max_lag, *lag);
    if (status.contains("desiredReplicas") && status["desiredReplicas"].is_number()) {
      totals_.max_desired = std::max(totals_.max_desired, status["desiredReplicas"].get<int32_t>());
    }
    if (warning) {
      totals_.anti_pattern = warning;
      totals_.anti_pattern_groups =
          std::max(totals_.anti_pattern_groups, static_cast<int32_t>(replicas_.List().size()));
    }
    for (const LoggedEvent& e : fresh) {
      if (!totals_.first_scale && (e.event.reason == controller::kReasonScaledUp ||
                                   e.event.reason == controller::kReasonScaledDown)) {
        totals_.first_scale =
            std::round(std::chrono::duration<double>(e.time - start_wall_).count() * 100) / 100;
      }
    }
  }

  // Stops in order (no more load, no more scaling, then every consumer,
  // which commits and leaves its group on SIGTERM), then reads the ground
  // truth and prints the summary.
  int Finish(bool interrupted, std::vector<std::string>* groups) {
    const double ran = Elapsed();
    producer_->Stop();
    reconciler_.Cancel();
    const AssignmentMap last_assignment =
        interrupted
            ? ledger_.Assignment()
            : FinalAssignment(ledger_, replicas_, o_.partitions, clock_, kFinalAssignmentWait);
    totals_.final_replicas = replicas_.ready();
    replicas_.StopAll(std::chrono::seconds(10));

    std::set<std::string> used = ledger_.groups();
    used.insert(o_.group_id);
    groups->assign(used.begin(), used.end());
    const GroundTruth truth =
        ReadGroundTruth(readers_, {.bootstrap_servers = SplitServers(bootstrap_), .auth = o_.auth},
                        o_, used, producer_->acknowledged());
    const Tally tally = ledger_.Count(truth.log_end, truth.committed);
    const nlohmann::json summary =
        Summarize(o_, ran, interrupted, tally, truth.produced, totals_, ledger_, failover_,
                  last_assignment, events_.All(), start_wall_);
    PrintSummary(summary, out_);
    return WriteSummary(summary);
  }

  // --summary-json; the exit code.
  int WriteSummary(const nlohmann::json& summary) {
    if (o_.summary_json.empty()) return 0;
    std::ofstream file(o_.summary_json);
    file << summary.dump(2) << "\n";
    if (file) return 0;
    out_ << "groupscaler demo: cannot write " << o_.summary_json << std::endl;
    return 1;
  }

  const DemoOptions& o_;
  const std::string bootstrap_;
  std::ostream& out_;
  const SteadyTime start_;
  RealClock clock_;
  const Timestamp start_wall_;
  Ledger ledger_;
  ReplicaSet replicas_;
  std::unique_ptr<LoadProducer> producer_;
  std::shared_ptr<ObservationLog> observations_ = std::make_shared<ObservationLog>();
  kafka::LagReaderPool readers_;
  LocalAutoscalerClient autoscalers_;
  ReplicaSetScaleClient scales_;
  EventLog events_;
  LocalSecret secrets_;
  NoHpas hpas_;
  std::optional<metrics::Metrics> metrics_;
  controller::Reconciler reconciler_;
  const std::string key_;
  View view_;
  Totals totals_;
  std::optional<Failover> failover_;
  PollMarks last_poll_;
};

int RunOn(const DemoOptions& o, const std::string& bootstrap, std::vector<std::string>* groups,
          std::ostream& out) {
  return DemoRun(o, bootstrap, out).Run(groups);
}

int RunOnEmbeddedKafka(const DemoOptions& o, std::ostream& out) {
  StatusOr<std::unique_ptr<kafka::MockCluster>> cluster = kafka::MockCluster::Start(3);
  const Status created =
      cluster.ok() ? (*cluster)->CreateTopic(o.topic, o.partitions) : cluster.status();
  if (!created.ok()) {
    out << "groupscaler demo: cannot start the embedded Kafka: " << created.ToString() << std::endl;
    return 1;
  }
  std::vector<std::string> groups;
  return RunOn(o, (*cluster)->bootstrap_servers(), &groups, out);
}

int RunOnExistingKafka(const DemoOptions& o, std::ostream& out) {
  StatusOr<std::unique_ptr<DemoTopic>> topic =
      DemoTopic::Create({.bootstrap_servers = SplitServers(o.bootstrap_servers), .auth = o.auth},
                        o.topic, o.partitions, o.group_id, kKafkaTimeout);
  if (!topic.ok()) {
    out << "groupscaler demo: " << topic.status().message() << std::endl;
    return 1;
  }
  std::vector<std::string> groups;
  const int ran = RunOn(o, o.bootstrap_servers, &groups, out);
  const std::string listed = fmt::format("{}", fmt::join(groups, ", "));
  if (o.keep_topic) {
    out << "kept topic " << o.topic << " and group(s) " << listed << std::endl;
    return ran;
  }
  // A consumer killed by --kill-at counts in its group until its session
  // expires.
  const Status removed =
      (*topic)->Remove(groups, kKafkaTimeout + std::chrono::milliseconds(o.session_timeout_ms));
  if (!removed.ok()) {
    out << "groupscaler demo: " << removed.message() << std::endl;
    return 1;
  }
  out << "removed topic " << o.topic << " and group(s) " << listed << std::endl;
  return ran;
}

}  // namespace

int RunDemo(const DemoOptions& o, std::ostream& out) {
  return o.bootstrap_servers.empty() ? RunOnEmbeddedKafka(o, out) : RunOnExistingKafka(o, out);
}

}  // namespace groupscaler::demo
