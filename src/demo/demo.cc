#include "demo/demo.h"

#include <fmt/ranges.h>
#include <signal.h>
#include <sys/resource.h>

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
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

std::string Fixed(double v, int decimals = 1) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(decimals);
  s << v;
  return s.str();
}

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
                              std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  AssignmentMap assignment = ledger.Assignment();
  auto settled = [&] {
    const std::vector<ReplicaInfo> running = replicas.List();
    return running.empty() || EveryPartitionOwnedOnce(assignment, partitions, running);
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kTick);
    assignment = ledger.Assignment();
  }
  return assignment;
}

std::vector<std::string> SplitServers(const std::string& bootstrap) {
  std::vector<std::string> out;
  std::stringstream list(bootstrap);
  for (std::string s; std::getline(list, s, ',');) out.push_back(s);
  return out;
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

  void Render(double t, double produce_rate, double consume_rate, const nlohmann::json& status,
              int32_t ready, const AssignmentMap& assignment,
              const std::vector<LoggedEvent>& new_events, Timestamp start_wall,
              const std::optional<std::string>& warning) {
    for (const LoggedEvent& e : new_events) {
      const double at = std::chrono::duration<double>(e.time - start_wall).count();
      recent_.push_back("[" + Fixed(std::max(0.0, at)) + "s] " +
                        (e.event.type == kube::EventType::kWarning ? "Warning " : "") +
                        e.event.reason + ": " + e.event.message);
    }
    const std::string lag = status.contains("totalLag") && status["totalLag"].is_number()
                                ? Thousands(status["totalLag"].get<int64_t>())
                                : "?";
    auto num = [&](const char* key) {
      return status.contains(key) && status[key].is_number()
                 ? std::to_string(status[key].get<int64_t>())
                 : std::string("?");
    };
    const std::string decision = status.value("reason", std::string("-")) +
                                 (status.value("message", std::string()).empty()
                                      ? ""
                                      : ": " + status.value("message", std::string()));
    if (!options_.tty) {
      for (size_t i = printed_; i < recent_.size(); ++i) out_ << "  event " << recent_[i] << "\n";
      printed_ = recent_.size();
      out_ << "[" << Fixed(t) << "s] produce " << Thousands(std::lround(produce_rate))
           << "/s consume " << Thousands(std::lround(consume_rate)) << "/s lag " << lag
           << " replicas " << ready << "/" << num("desiredReplicas") << "/" << num("ceiling")
           << (AtCeiling(status) ? " (at ceiling)" : "") << " | " << decision << " | "
           << AssignmentLine(assignment) << std::endl;
      return;
    }
    std::ostringstream s;
    s << "\033[H\033[2J";
    s << "groupscaler demo   " << Fixed(t) << " s of "
      << Fixed(std::chrono::duration<double>(options_.duration).count(), 0) << " s   topic "
      << options_.topic << " (" << options_.partitions << " partitions)   group "
      << options_.group_id << (options_.anti_pattern ? " (ANTI-PATTERN: a group per replica)" : "")
      << "\n  " << KafkaName(options_) << " " << bootstrap_ << "\n\n";
    s << "  produce  " << Thousands(std::lround(produce_rate)) << " msg/s    consume "
      << Thousands(std::lround(consume_rate)) << " msg/s    lag " << lag << "\n";
    s << "  replicas " << ready << " running / " << num("desiredReplicas") << " desired / "
      << num("ceiling") << " ceiling" << (AtCeiling(status) ? "   AT THE PARTITION CEILING" : "")
      << "\n";
    s << "  decision " << decision << "\n";
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

 private:
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

// The summary, as JSON; the text form is rendered from it.
nlohmann::json Summarize(const DemoOptions& o, double ran_seconds, bool interrupted,
                         const Tally& tally, int64_t produced, const Totals& totals,
                         const Ledger& ledger, const std::optional<Failover>& failover,
                         const AssignmentMap& last_assignment,
                         const std::vector<LoggedEvent>& events, Timestamp start_wall) {
  nlohmann::json j;
  j["durationSeconds"] = std::round(ran_seconds * 10) / 10;
  j["interrupted"] = interrupted;
  j["topic"] = o.topic;
  j["partitions"] = o.partitions;
  j["groupId"] = o.group_id;
  j["antiPattern"] = o.anti_pattern;
  j["produced"] = produced;
  j["consumed"] = tally.consumed;
  j["processings"] = tally.processings;
  j["processedMoreThanOnce"] = tally.duplicates;
  nlohmann::json times = nlohmann::json::object();
  for (const auto& [k, v] : tally.times_processed) times[std::to_string(k)] = v;
  j["timesProcessed"] = times;
  j["lost"] = tally.lost;
  j["maxLag"] = totals.max_lag;
  j["replicaSeconds"] = std::round(totals.replica_seconds * 10) / 10;
  j["secondsAtCeiling"] = std::round(totals.at_ceiling_seconds * 10) / 10;
  j["maxReplicas"] = totals.max_ready;
  j["maxDesiredReplicas"] = totals.max_desired;
  j["finalReplicas"] = totals.final_replicas;
  j["firstDecisionSeconds"] =
      totals.first_decision ? nlohmann::json(*totals.first_decision) : nlohmann::json();
  j["firstScaleSeconds"] =
      totals.first_scale ? nlohmann::json(*totals.first_scale) : nlohmann::json();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  j["cpuSeconds"] = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  nlohmann::json assignment = nlohmann::json::object();
  for (const auto& [replica, parts] : last_assignment) assignment[replica] = parts;
  j["assignment"] = assignment;
  nlohmann::json event_list = nlohmann::json::array();
  for (const LoggedEvent& e : events) {
    event_list.push_back(
        {{"atSeconds",
          std::round(std::chrono::duration<double>(e.time - start_wall).count() * 100) / 100},
         {"type", e.event.type == kube::EventType::kWarning ? "Warning" : "Normal"},
         {"reason", e.event.reason},
         {"message", e.event.message}});
  }
  j["events"] = event_list;

  const RuleResult one_owner = ledger.one_owner();
  const RuleResult in_group = ledger.owners_in_group();
  const bool within = totals.max_ready <= o.partitions && totals.max_desired <= o.partitions;
  const std::string settled = "no assignment was seen settled";
  nlohmann::json rules = nlohmann::json::array();
  rules.push_back(RuleJson("one owner per partition", one_owner,
                           "no partition had two owners once settled", settled));
  rules.push_back(RuleJson("no owner outside the group", in_group,
                           "every owner was in group " + o.group_id, settled));
  rules.push_back(RuleJson("replicas never above partitions", {.held = within, .tested = true},
                           "at most " + std::to_string(totals.max_ready) + " running, " +
                               std::to_string(totals.max_desired) + " desired, for " +
                               std::to_string(o.partitions) + " partitions",
                           ""));
  const RuleResult no_loss{
      .held = tally.lost == 0,
      .tested = tally.consumed > 0,
      .detail = Thousands(tally.lost) + " never processed, first " + tally.first_lost};
  rules.push_back(RuleJson("no message lost", no_loss,
                           "every message below the committed offsets was processed",
                           "no message was processed"));
  j["rules"] = rules;

  nlohmann::json warnings = nlohmann::json::array();
  if (totals.anti_pattern) {
    const double multiplier =
        tally.consumed > 0 ? static_cast<double>(tally.processings) / tally.consumed : 0;
    warnings.push_back({{"reason", controller::kReasonPerInstanceGroupIds},
                        {"groups", totals.anti_pattern_groups},
                        {"multiplier", std::round(multiplier * 100) / 100},
                        {"message", *totals.anti_pattern}});
  }
  j["warnings"] = warnings;
  if (failover) {
    j["failover"] = {{"replica", failover->replica},
                     {"partitions", failover->partitions},
                     {"killedAtSeconds", std::round(failover->killed_at * 10) / 10},
                     {"takenOverAfterSeconds", failover->taken_over_after
                                                   ? nlohmann::json(*failover->taken_over_after)
                                                   : nlohmann::json()}};
  }
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

// The demo on the Kafka at `bootstrap`, whose topic exists; the groups its
// consumers used into `groups` (at least the group of the options).
int RunOn(const DemoOptions& o, const std::string& bootstrap, std::vector<std::string>* groups,
          std::ostream& out) {
  *groups = {o.group_id};
  const SteadyTime start = std::chrono::steady_clock::now();
  RealClock clock;
  const Timestamp start_wall = clock.Now();
  auto elapsed = [&] { return Seconds(std::chrono::steady_clock::now() - start); };

  Ledger ledger(o.topic, o.partitions, o.group_id);
  ReplicaSet replicas(
      {.binary = o.consumer_binary,
       .bootstrap_servers = bootstrap,
       .auth_file = o.auth_file,
       .topic = o.topic,
       .group_id = o.group_id,
       .group_per_replica = o.anti_pattern,
       .process_ms = o.process_ms,
       .session_timeout_ms = o.session_timeout_ms,
       .offset_reset = o.offset_reset,
       .stderr_path = o.consumer_log},
      [&](const std::string& replica, const std::string& group, std::string_view line) {
        ledger.OnLine(replica, group, line, elapsed());
      },
      [&](const std::string& replica) { ledger.OnExit(replica, elapsed()); });

  StatusOr<std::unique_ptr<LoadProducer>> producer =
      LoadProducer::Start(bootstrap, o.auth, o.topic, o.partitions, o.profile);
  if (!producer.ok()) {
    out << "groupscaler demo: cannot start the producer: " << producer.status().ToString()
        << std::endl;
    return 1;
  }

  auto observations = std::make_shared<ObservationLog>();
  // The mock does not describe groups; asking would only cost a probe.
  const bool describe_groups = !o.bootstrap_servers.empty();
  kafka::LagReaderPool readers([observations, describe_groups](const kafka::ClusterConfig& cluster)
                                   -> StatusOr<std::unique_ptr<kafka::LagReader>> {
    StatusOr<std::unique_ptr<kafka::LagReader>> inner =
        kafka::NewRdKafkaLagReader(cluster, {.describe_groups = describe_groups});
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<kafka::LagReader>(
        std::make_unique<RecordingLagReader>(std::move(inner).value(), observations));
  });
  LocalAutoscalerClient autoscalers(AutoscalerObject(o, bootstrap));
  ReplicaSetScaleClient scales(o.group_id, &replicas);
  EventLog events(&clock);
  LocalSecret secrets(kAuthSecret, o.auth);
  NoHpas hpas;
  std::optional<metrics::Metrics> metrics;
  if (!o.metrics_bind_address.empty()) {
    metrics.emplace();
    if (Status served = metrics->Serve(o.metrics_bind_address); !served.ok()) {
      out << "groupscaler demo: --metrics-bind-address: " << served.message() << std::endl;
      return 1;
    }
    metrics->SetLeader(true);  // the demo's controller is the only one
    out << "serving /metrics on port " << metrics->port() << std::endl;
  }
  controller::Reconciler reconciler({.autoscalers = &autoscalers,
                                     .scales = &scales,
                                     .events = &events,
                                     .secrets = &secrets,
                                     .hpas = &hpas,
                                     .workloads = &scales,
                                     .readers = &readers,
                                     .clock = &clock,
                                     .metrics = metrics ? &*metrics : nullptr},
                                    {.observe_timeout = std::chrono::milliseconds(
                                         std::min(3000, o.poll_interval_seconds * 1000))});
  const std::string key = controller::MakeKey(kNamespace, o.group_id);

  if (Status s = replicas.SetReplicas(o.initial_replicas); !s.ok()) {
    out << "groupscaler demo: cannot start " << o.consumer_binary << ": " << s.ToString()
        << std::endl;
    return 1;
  }

  out << KafkaName(o) << " at " << bootstrap << " (topic " << o.topic << ", " << o.partitions
      << " partitions); look with: groupscaler lag --bootstrap-servers " << bootstrap << " --group "
      << o.group_id << " --topic " << o.topic
      << (o.auth_file.empty() ? "" : " --auth-file " + o.auth_file) << std::endl;
  View view(o, bootstrap, out);
  Totals totals;
  std::optional<Failover> failover;
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);

  const double duration = std::chrono::duration<double>(o.duration).count();
  const double poll = o.poll_interval_seconds;
  double next_poll = 0;
  double last_tick = 0;
  double last_poll = 0;
  int64_t last_acked = 0;
  int64_t last_processings = 0;
  bool interrupted = false;
  while (true) {
    const double t = elapsed();
    if (t >= duration) break;
    const double dt = t - last_tick;
    last_tick = t;

    if (o.kill_at_seconds && !failover && t >= *o.kill_at_seconds) {
      failover = KillOldest(replicas, ledger, o.session_timeout_ms, t, events);
    }
    if (failover && !failover->taken_over_after) NoteTakeOver(*failover, replicas, ledger, events);
    ledger.CheckOwnership(t, kSettleSeconds);

    const nlohmann::json status_before = autoscalers.status();
    totals.replica_seconds += dt * replicas.ready();
    if (AtCeiling(status_before)) totals.at_ceiling_seconds += dt;

    if (t >= next_poll) {
      next_poll += poll;
      (void)reconciler.Reconcile(key);
      (void)replicas.Sync();
      const nlohmann::json status = autoscalers.status();
      const double now = elapsed();
      if (!totals.first_decision && status.contains("desiredReplicas")) {
        totals.first_decision = std::round(now * 100) / 100;
      }
      if (status.contains("totalLag") && status["totalLag"].is_number()) {
        totals.max_lag = std::max(totals.max_lag, status["totalLag"].get<int64_t>());
      }
      if (status.contains("desiredReplicas") && status["desiredReplicas"].is_number()) {
        totals.max_desired = std::max(totals.max_desired, status["desiredReplicas"].get<int32_t>());
      }
      const std::optional<std::string> warning = PerInstanceGroupIdsWarning(status);
      if (warning) {
        totals.anti_pattern = warning;
        totals.anti_pattern_groups =
            std::max(totals.anti_pattern_groups, static_cast<int32_t>(replicas.List().size()));
      }
      std::vector<LoggedEvent> fresh = events.TakeNew();
      for (const LoggedEvent& e : fresh) {
        if (!totals.first_scale && (e.event.reason == controller::kReasonScaledUp ||
                                    e.event.reason == controller::kReasonScaledDown)) {
          totals.first_scale =
              std::round(std::chrono::duration<double>(e.time - start_wall).count() * 100) / 100;
        }
      }
      const int64_t acked = (*producer)->acknowledged();
      const int64_t processings = ledger.processings();
      const double since = std::max(1e-3, now - last_poll);
      view.Render(now, (acked - last_acked) / since, (processings - last_processings) / since,
                  status, replicas.ready(), ledger.Assignment(), fresh, start_wall, warning);
      last_acked = acked;
      last_processings = processings;
      last_poll = now;
    } else {
      (void)replicas.Sync();
    }
    totals.max_ready = std::max(totals.max_ready, replicas.ready());

    const double wait =
        std::max(0.0, std::min({next_poll, duration, t + Seconds(kTick)}) - elapsed());
    const timespec ts{static_cast<time_t>(wait),
                      static_cast<long>((wait - std::floor(wait)) * 1e9)};
    if (sigtimedwait(&stop_signals, nullptr, &ts) > 0) {
      interrupted = true;
      break;
    }
  }

  // Stop in order: no more load, no more scaling, then every consumer
  // (SIGTERM: each commits and leaves its group).
  const double ran = elapsed();
  (*producer)->Stop();
  reconciler.Cancel();
  const AssignmentMap last_assignment =
      interrupted ? ledger.Assignment()
                  : FinalAssignment(ledger, replicas, o.partitions, kFinalAssignmentWait);
  totals.final_replicas = replicas.ready();
  replicas.StopAll(std::chrono::seconds(10));

  // The ground truth after the consumers committed on their way out.
  std::set<std::string> used = ledger.groups();
  used.insert(o.group_id);
  groups->assign(used.begin(), used.end());
  const GroundTruth truth =
      ReadGroundTruth(readers, {.bootstrap_servers = SplitServers(bootstrap), .auth = o.auth}, o,
                      used, (*producer)->acknowledged());
  const Tally tally = ledger.Count(truth.log_end, truth.committed);
  const nlohmann::json summary =
      Summarize(o, ran, interrupted, tally, truth.produced, totals, ledger, failover,
                last_assignment, events.All(), start_wall);
  PrintSummary(summary, out);
  if (!o.summary_json.empty()) {
    std::ofstream file(o.summary_json);
    file << summary.dump(2) << "\n";
    if (!file) {
      out << "groupscaler demo: cannot write " << o.summary_json << std::endl;
      return 1;
    }
  }
  return 0;
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
