#include "cli/lag_command.h"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/host_port.h"
#include "kafka/auth.h"
#include "kafka/rdkafka_lag_reader.h"
#include "policy/policy.h"

namespace groupscaler::cli {
namespace {

struct LagOptions {
  std::string bootstrap_servers;
  std::string group;
  std::vector<std::string> topics;
  std::string auth_file;
  std::string output = "table";
  int64_t timeout_ms = 10'000;
  std::string offset_reset = "latest";
  bool verbose = false;
};

// What the command shows, computed once for every output format.
struct Report {
  std::string group;
  std::vector<policy::PartitionObservation> partitions;  // sorted by topic, partition
  std::vector<int64_t> lags;                             // per partition
  int64_t total_lag = 0;
  int32_t ceiling = 0;
  kafka::GroupObservation observation;
  policy::Decision decision;
  int32_t assumed_replicas = 0;
};

int Fail(int code, const std::string& message) {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cerr << "groupscaler lag: " << line << "\n";
  return code;
}

Report MakeReport(kafka::GroupObservation observation, const LagOptions& options) {
  Report r;
  r.group = observation.group_id;
  r.partitions = observation.observation.partitions;
  policy::Spec spec;
  spec.offset_reset_policy = options.offset_reset == "earliest"
                                 ? policy::OffsetResetPolicy::kEarliest
                                 : policy::OffsetResetPolicy::kLatest;
  spec.max_replicas = std::max<int32_t>(1, static_cast<int32_t>(r.partitions.size()));
  for (const auto& p : r.partitions) {
    const policy::PartitionLag lag =
        policy::ComputePartitionLag(p, spec.offset_reset_policy, p.log_end_offset);
    r.lags.push_back(lag.lag);
    r.total_lag = r.total_lag > INT64_MAX - lag.lag ? INT64_MAX : r.total_lag + lag.lag;
  }
  r.ceiling = policy::PartitionCeiling(static_cast<int32_t>(r.partitions.size()),
                                       spec.consumers_per_replica);
  // Without Kubernetes the replica count is unknown: take the group's
  // members where the broker reports them, else one replica.
  r.assumed_replicas = observation.observation.members.value_or(1);
  policy::Observation obs = observation.observation;
  obs.current_replicas = r.assumed_replicas;
  // What the rules decide, not a controller's first decision: a history
  // begun before holds no scale-down for the window (History::began).
  policy::History history;
  history.began = Timestamp{};
  r.decision = policy::Decide(obs, std::move(history), spec, Timestamp{});
  r.observation = std::move(observation);
  return r;
}

// "orders:0,3 audit:1" as kafka-consumer-groups --members --verbose writes
// an assignment; "none" for a member without partitions.
std::string AssignmentText(const std::vector<policy::TopicPartition>& assignment) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (const auto& tp : assignment) by_topic[tp.topic].push_back(tp.partition);
  std::vector<std::string> topics;
  for (auto& [topic, partitions] : by_topic) {
    std::sort(partitions.begin(), partitions.end());
    topics.push_back(fmt::format("{}:{}", topic, fmt::join(partitions, ",")));
  }
  return topics.empty() ? "none" : fmt::format("{}", fmt::join(topics, " "));
}

void PrintMembers(const std::vector<kafka::Member>& members) {
  if (members.empty()) return;
  size_t id_width = 9, client_width = 9, host_width = 4;
  for (const kafka::Member& m : members) {
    id_width = std::max(id_width, m.member_id.size());
    client_width = std::max(client_width, m.client_id.size());
    host_width = std::max(host_width, m.host.size());
  }
  static constexpr char kRow[] = "{:<{}}  {:<{}}  {:<{}}  {}\n";
  std::cout << fmt::format(kRow, "MEMBER-ID", id_width, "CLIENT-ID", client_width, "HOST",
                           host_width, "PARTITIONS");
  for (const kafka::Member& m : members) {
    std::cout << fmt::format(kRow, m.member_id, id_width, m.client_id, client_width, m.host,
                             host_width, AssignmentText(m.assignment));
  }
}

void PrintTable(const Report& r) {
  std::ostream& out = std::cout;
  size_t topic_width = 5;
  for (const auto& p : r.partitions) topic_width = std::max(topic_width, p.topic.size());
  out << std::left << std::setw(static_cast<int>(topic_width) + 2) << "TOPIC" << std::right
      << std::setw(9) << "PARTITION" << std::setw(14) << "LOG-START" << std::setw(14) << "LOG-END"
      << std::setw(14) << "COMMITTED" << std::setw(14) << "LAG"
      << "\n";
  for (size_t i = 0; i < r.partitions.size(); ++i) {
    const auto& p = r.partitions[i];
    out << std::left << std::setw(static_cast<int>(topic_width) + 2) << p.topic << std::right
        << std::setw(9) << p.partition << std::setw(14) << p.log_start_offset << std::setw(14)
        << p.log_end_offset << std::setw(14)
        << (p.committed_offset ? std::to_string(*p.committed_offset) : "-") << std::setw(14)
        << r.lags[i] << "\n";
  }
  out << "\n";
  out << "total lag: " << r.total_lag << "\n";
  out << "partitions: " << r.partitions.size() << "\n";
  out << "ceiling: " << r.ceiling << " replicas (one consumer per replica)\n";
  out << "group: " << r.group;
  if (r.observation.member_list) {
    out << ", " << (r.observation.group_state.empty() ? "state unknown" : r.observation.group_state)
        << ", " << r.observation.member_list->size() << " members\n";
    PrintMembers(*r.observation.member_list);
  } else {
    out << ", members unknown (" << r.observation.members_unknown << ")\n";
  }
  out << "policy with default settings, at " << r.assumed_replicas << " replica(s): desired "
      << r.decision.desired << " (" << policy::ReasonName(r.decision.reason) << ": "
      << r.decision.message << ")\n";
}

void PrintJson(const Report& r) {
  using Json = nlohmann::ordered_json;
  Json topics = Json::array();
  for (size_t i = 0; i < r.partitions.size(); ++i) {
    const auto& p = r.partitions[i];
    if (topics.empty() || topics.back()["topic"] != p.topic) {
      topics.push_back(Json{{"topic", p.topic}, {"partitions", Json::array()}});
    }
    topics.back()["partitions"].push_back(
        Json{{"partition", p.partition},
             {"logStartOffset", p.log_start_offset},
             {"logEndOffset", p.log_end_offset},
             {"committedOffset", p.committed_offset ? Json(*p.committed_offset) : Json(nullptr)},
             {"lag", r.lags[i]}});
  }
  Json doc{{"group", r.group},
           {"totalLag", r.total_lag},
           {"partitions", r.partitions.size()},
           {"ceiling", r.ceiling},
           {"topics", std::move(topics)},
           {"groupState",
            r.observation.group_state.empty() ? Json(nullptr) : Json(r.observation.group_state)},
           {"members", Json(nullptr)}};
  if (r.observation.member_list) {
    doc["members"] = Json::array();
    for (const kafka::Member& m : *r.observation.member_list) {
      Json assignment = Json::array();
      for (const auto& tp : m.assignment) {
        assignment.push_back(Json{{"topic", tp.topic}, {"partition", tp.partition}});
      }
      doc["members"].push_back(Json{{"memberId", m.member_id},
                                    {"clientId", m.client_id},
                                    {"host", m.host},
                                    {"assignment", std::move(assignment)}});
    }
  } else {
    doc["membersUnknown"] = r.observation.members_unknown;
  }
  std::cout << doc.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
}

// Mermaid node ids allow [A-Za-z0-9_]; labels are quoted and must not hold
// a double quote.
std::string Label(std::string text) {
  std::replace(text.begin(), text.end(), '"', '\'');
  return "\"" + text + "\"";
}

void PrintMermaid(const Report& r) {
  std::ostream& out = std::cout;
  out << "flowchart LR\n";
  out << "  group["
      << Label("group " + r.group + ": lag " + std::to_string(r.total_lag) + ", ceiling " +
               std::to_string(r.ceiling))
      << "]\n";
  std::map<std::string, int> topic_ids;
  for (size_t i = 0; i < r.partitions.size(); ++i) {
    const auto& p = r.partitions[i];
    if (!topic_ids.count(p.topic)) {
      const int id = static_cast<int>(topic_ids.size());
      topic_ids[p.topic] = id;
      out << "  t" << id << "[" << Label("topic " + p.topic) << "]\n";
      out << "  group --> t" << id << "\n";
    }
    out << "  t" << topic_ids[p.topic] << " --> t" << topic_ids[p.topic] << "p" << p.partition
        << "["
        << Label(p.topic + "/" + std::to_string(p.partition) + " lag " + std::to_string(r.lags[i]))
        << "]\n";
  }
  if (!r.observation.member_list) {
    out << "  members[" << Label("members unknown: " + r.observation.members_unknown) << "]\n";
    for (const auto& [topic, id] : topic_ids) out << "  t" << id << " -.- members\n";
    return;
  }
  int m = 0;
  for (const kafka::Member& member : *r.observation.member_list) {
    // The member id, not the client id: every replica may share a client id.
    out << "  m" << m << "["
        << Label(member.member_id + " " + member.host +
                 (member.assignment.empty() ? ": no partition" : ""))
        << "]\n";
    for (const auto& tp : member.assignment) {
      auto it = topic_ids.find(tp.topic);
      if (it == topic_ids.end()) continue;
      out << "  t" << it->second << "p" << tp.partition << " --> m" << m << "\n";
    }
    ++m;
  }
}

int RunLag(const LagOptions& options) {
  // Logs go to stderr, and only with --verbose: stdout is for the output,
  // and an error is one line.
  auto logger = std::make_shared<spdlog::logger>("groupscaler",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(options.verbose ? spdlog::level::info : spdlog::level::off);
  spdlog::set_default_logger(logger);

  kafka::ClusterConfig cluster;
  cluster.bootstrap_servers = SplitServers(options.bootstrap_servers);
  if (cluster.bootstrap_servers.empty()) {
    return Fail(kExitUsage, "--bootstrap-servers: no server given");
  }
  if (!options.auth_file.empty()) {
    StatusOr<kafka::AuthSettings> auth = kafka::ReadAuthFile(options.auth_file);
    if (!auth.ok()) return Fail(kExitUsage, auth.status().message());
    cluster.auth = std::move(auth).value();
    if (Status s = kafka::BuildAuthConfig(cluster.auth).status(); !s.ok()) {
      return Fail(kExitUsage, options.auth_file + ": " + s.message());
    }
  }
  kafka::ReaderOptions reader_options;
  reader_options.statistics_interval = std::chrono::milliseconds(60'000);
  StatusOr<std::unique_ptr<kafka::LagReader>> reader =
      kafka::NewRdKafkaLagReader(cluster, reader_options);
  if (!reader.ok()) return Fail(kExitUsage, reader.status().message());

  const std::chrono::milliseconds timeout(options.timeout_ms);
  std::vector<std::string> topics = options.topics;
  if (topics.empty()) {
    StatusOr<std::vector<std::string>> listed = (*reader)->CommittedTopics(options.group, timeout);
    if (!listed.ok()) {
      return Fail(listed.status().code() == StatusCode::kNotFound ? kExitUsage : kExitError,
                  listed.status().message());
    }
    topics = std::move(listed).value();
  }
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());

  StatusOr<std::vector<kafka::GroupObservation>> observed =
      (*reader)->Observe({{options.group, topics}}, timeout);
  if (!observed.ok()) return Fail(kExitError, observed.status().message());
  kafka::GroupObservation& g = observed->front();
  std::string errors;
  for (const kafka::TopicError& e : g.topic_errors) {
    errors += (errors.empty() ? "" : "; ") + e.status.message();
  }
  if (g.observation.failed && errors.empty()) errors = g.observation.error;
  for (const auto& p : g.observation.partitions) {
    if (p.failed) {
      errors += (errors.empty() ? "" : "; ") +
                ("offsets of " + p.topic + "/" + std::to_string(p.partition) +
                 " could not be read in time");
    }
  }
  if (!errors.empty()) return Fail(kExitError, errors);

  const Report report = MakeReport(std::move(g), options);
  if (options.output == "json") {
    PrintJson(report);
  } else if (options.output == "mermaid") {
    PrintMermaid(report);
  } else {
    PrintTable(report);
  }
  std::cout.flush();
  return kExitOk;
}

}  // namespace

Command AddLagCommand(CLI::App& parent) {
  auto options = std::make_shared<LagOptions>();
  CLI::App* app = parent.add_subcommand(
      "lag",
      "Show a consumer group's lag per partition, its replica ceiling and what the "
      "policy would decide, like kafka-consumer-groups --describe.");
  app->add_option("--bootstrap-servers", options->bootstrap_servers,
                  "Kafka brokers, HOST:PORT[,HOST:PORT...]")
      ->required();
  app->add_option("--group", options->group, "The consumer group id")->required();
  app->add_option("--topic", options->topics,
                  "A topic the group consumes; repeat for several. Default: the topics the "
                  "group has committed offsets for, where the broker lists them");
  app->add_option("--auth-file", options->auth_file,
                  "key=value lines with the security settings (sasl, username, password, tls, "
                  "caFile, certFile, keyFile, keyPassword, oauth*); see src/kafka/auth.h")
      ->check(CLI::ExistingFile);
  app->add_option("--output", options->output, "table, json or mermaid")
      ->check(CLI::IsMember({"table", "json", "mermaid"}));
  app->add_option("--timeout-ms", options->timeout_ms, "Deadline of each Kafka call")
      ->check(CLI::Range(int64_t{100}, int64_t{600'000}));
  app->add_option("--offset-reset", options->offset_reset,
                  "The consumers' auto.offset.reset: where a partition without a committed "
                  "offset, or with one below the log start, resumes")
      ->check(CLI::IsMember({"earliest", "latest"}));
  app->add_flag("-v,--verbose", options->verbose, "Log librdkafka's messages on stderr");
  return Command{app, [options] { return RunLag(*options); }};
}

}  // namespace groupscaler::cli
