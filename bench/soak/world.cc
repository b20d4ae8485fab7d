#include "soak/world.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>

#include "common/base64.h"
#include "common/files.h"
#include "common/host_port.h"
#include "common/time_format.h"
#include "metrics/scrape.h"
#include "support/e2e.h"
#include "support/http_get.h"
#include "support/mock_cluster.h"

namespace groupscaler::soak {
namespace {

using nlohmann::json;
using testing::KafkaCluster;
using testing::KafkaListener;
using testing::RunResult;

constexpr int kLivePartitions = 6;
constexpr int kStaticPartitions = 12;
constexpr int kStaticBacklogPerPartition = 300;
constexpr int kGroupsPerStaticTopic = 4;

const auto kStart = std::chrono::steady_clock::now();

}  // namespace

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double Elapsed() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count();
}

World::World(WorldOptions options, std::unique_ptr<KubeSide> kube, Counters* counters)
    : options_(std::move(options)), counters_(counters), kube_(std::move(kube)) {
  for (const char* name :
       {"groupscaler crash or restart", "secret in logs, events, status, metrics or lag",
        "writes by a controller not holding the Lease", "messages lost", "reconcile stuck",
        "RSS growth over the bound", "replicas above the bound at the end",
        "invalid spec not reported", "fault could not be injected"}) {
    counters_->Declare(name);
  }
}

World::~World() {
  producer_ = {};
  for (LiveGroup& g : consumers_) g.replicas->StopAll(std::chrono::seconds(5));
}

Status World::Start() {
  for (auto step : {&World::StartKafka, &World::StartKube, &World::CreateWorkloads}) {
    if (Status s = (this->*step)(); !s.ok()) return s;
  }
  slots_.resize(2);
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].name = i == 0 ? "a" : "b";
    auto kubeconfig = kube_->Kubeconfig(i);
    if (!kubeconfig.ok()) return kubeconfig.status();
    slots_[i].kubeconfig = *kubeconfig;
    if (Status s = StartController(i); !s.ok()) return s;
  }
  producer_ = std::jthread([this](std::stop_token stop) { ProduceLoop(stop); });
  return Status::Ok();
}

Status World::StartKafka() {
  KafkaCluster::Options o{.brokers = 3, .listeners = {KafkaListener::kSaslPlaintext}};
  // Leaders go back to their preferred broker soon after it returns, as a
  // production cluster's do (every 5 minutes there).
  o.server_properties = {{"leader.imbalance.check.interval.seconds", "30"}};
  auto kafka = KafkaCluster::Start(options_.dir / "kafka", o);
  if (!kafka.ok()) return kafka.status();
  kafka_ = std::move(kafka).value();
  secret_ = kafka_->SaslUserFor("PLAIN").password;
  auth_file_ = options_.dir / "auth.properties";
  std::ofstream(auth_file_) << "sasl=plain\nusername=" << kafka_->SaslUserFor("PLAIN").username
                            << "\npassword=" << secret_ << "\n";
  return Status::Ok();
}

// The server, then the auth Secret every autoscaler names.
Status World::StartKube() {
  if (Status s = kube_->Start(options_.dir / "kube"); !s.ok()) return s;
  return kube_->Apply({{"apiVersion", "v1"},
                       {"kind", "Secret"},
                       {"metadata", {{"name", "kafka-auth"}, {"namespace", kNamespace}}},
                       {"data",
                        {{"sasl", Base64Encode("plain")},
                         {"username", Base64Encode(kafka_->SaslUserFor("PLAIN").username)},
                         {"password", Base64Encode(secret_)}}}});
}

json World::DeploymentObject(const AutoscalerState& a, int replicas) const {
  const json labels = {{"app", a.name}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", a.name}, {"namespace", kNamespace}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", labels}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec",
               {{"containers",
                 {{{"name", "consumer"},
                   {"image", "groupscaler-example-consumer:0.1.0"},
                   {"args", {"--group", a.group, "--topic", a.topic}}}}}}}}}}}};
}

json World::AutoscalerObject(const AutoscalerState& a, const json& spec) const {
  return {{"apiVersion", "groupscaler.io/v1alpha1"},
          {"kind", "ConsumerGroupAutoscaler"},
          {"metadata", {{"name", a.name}, {"namespace", kNamespace}}},
          {"spec", spec}};
}

// Live groups: the default throughput policy over 6 partitions replicated
// 3 times. Static groups: the lag policy with no scale-down window over 12
// partitions of a topic replicated once (every other topic) or 3 times, so
// that a broker down leaves part of the lag unreadable, which must hold the
// replicas however the rest of the lag reads.
Status World::CreateWorkloads() {
  const std::string sasl = kafka_->bootstrap(KafkaListener::kSaslPlaintext);
  const json kafka_spec = {{"bootstrapServers", SplitServers(sasl)},
                           {"authSecretRef", {{"name", "kafka-auth"}}}};
  for (int i = 0; i < options_.live_groups; ++i) {
    AutoscalerState a{
        .name = fmt::format("live-{}", i), .live = true, .partitions = kLivePartitions};
    a.topic = a.group = a.name;
    if (Status s = kafka_->CreateTopic(a.topic, kLivePartitions, 3); !s.ok()) return s;
    a.spec = {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", a.name}}},
              {"kafka", kafka_spec},
              {"maxReplicas", kLivePartitions},
              {"lagThreshold", 200},
              {"pollIntervalSeconds", options_.poll_seconds},
              {"policy", {{"rebalanceSettleSeconds", 10}}},
              {"behavior", {{"scaleDown", {{"stabilizationWindowSeconds", 30}}}}}};
    a.spec["kafka"]["groupId"] = a.group;
    a.spec["kafka"]["topics"] = {a.topic};
    a.spec["kafka"]["offsetResetPolicy"] = "earliest";
    autoscalers_.push_back(std::move(a));
  }
  for (int t = 0; t * kGroupsPerStaticTopic < options_.static_groups; ++t) {
    const std::string topic = fmt::format("static-{}", t);
    if (Status s = kafka_->CreateTopic(topic, kStaticPartitions, t % 2 == 0 ? 1 : 3); !s.ok()) {
      return s;
    }
    if (Status s = testing::ProduceCounts(
            kafka_->bootstrap(KafkaListener::kPlaintext), topic,
            std::vector<int64_t>(kStaticPartitions, kStaticBacklogPerPartition));
        !s.ok()) {
      return s;
    }
    static_topics_.push_back(topic);
  }
  for (int i = 0; i < options_.static_groups; ++i) {
    if (StatusOr<size_t> added = AddStaticAutoscaler(); !added.ok()) return added.status();
  }
  for (size_t i = 0; i < autoscalers_.size(); ++i) {
    if (Status s = ApplyDeployment(i); !s.ok()) return s;
    if (Status s = ApplyAutoscaler(i); !s.ok()) return s;
  }
  for (const AutoscalerState& a : autoscalers_) {
    if (!a.live) continue;
    LiveGroup g{.name = a.name,
                .ledger = std::make_unique<demo::Ledger>(a.topic, kLivePartitions, a.group)};
    demo::Ledger* ledger = g.ledger.get();
    g.replicas = std::make_unique<demo::ReplicaSet>(
        demo::ReplicaTemplate{.binary = EXAMPLE_CONSUMER_BINARY,
                              .bootstrap_servers = kafka_->bootstrap(KafkaListener::kPlaintext),
                              .topic = a.topic,
                              .group_id = a.group,
                              .process_ms = 10,
                              .stderr_path = (options_.dir / (a.name + "-consumers.log")).string()},
        [ledger](const std::string& replica, const std::string& group, std::string_view line) {
          ledger->OnLine(replica, group, line, Elapsed());
        },
        [ledger](const std::string& replica) { ledger->OnExit(replica, Elapsed()); });
    consumers_.push_back(std::move(g));
  }
  return Status::Ok();
}

StatusOr<size_t> World::AddStaticAutoscaler() {
  const int n = static_cast<int>(autoscalers_.size()) - options_.live_groups;
  AutoscalerState a{.name = fmt::format("static-{}", n),
                    .topic = static_topics_.at(static_cast<size_t>(n) % static_topics_.size())};
  a.group = a.name;
  const int topic_index = std::stoi(a.topic.substr(a.topic.find('-') + 1));
  a.replication_factor = topic_index % 2 == 0 ? 1 : 3;
  a.partitions = kStaticPartitions;
  for (const AutoscalerState& other : autoscalers_) {
    if (other.topic == a.topic) a.partitions = std::max(a.partitions, other.partitions);
  }
  if (Status s = MakeStaticBacklog(a.topic, a.group, a.partitions); !s.ok()) return s;
  a.spec = {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", a.name}}},
            {"kafka",
             {{"bootstrapServers", SplitServers(kafka_->bootstrap(KafkaListener::kSaslPlaintext))},
              {"authSecretRef", {{"name", "kafka-auth"}}},
              {"groupId", a.group},
              {"topics", {a.topic}}}},
            {"maxReplicas", 10},
            {"lagThreshold", 600},
            {"pollIntervalSeconds", options_.poll_seconds},
            {"policy", {{"type", "lag"}}},
            {"behavior", {{"scaleDown", {{"stabilizationWindowSeconds", 0}}}}}};
  std::lock_guard lock(mu_);
  autoscalers_.push_back(std::move(a));
  return autoscalers_.size() - 1;
}

// The group's offsets committed at 0: each partition's backlog is lag.
Status World::MakeStaticBacklog(const std::string& topic, const std::string& group,
                                int partitions) {
  std::vector<testing::Commit> commits;
  for (int p = 0; p < partitions; ++p) commits.push_back({topic, p, 0});
  return testing::CommitOffsets(kafka_->bootstrap(KafkaListener::kPlaintext), group, commits);
}

Status World::StartController(size_t i) {
  ControllerSlot& slot = slots_[i];
  ++slot.incarnation;
  slot.log_path = LogOf(slot, slot.incarnation);
  auto process = testing::Subprocess::SpawnLogged(
      {GROUPSCALER_BINARY, "controller", "--kubeconfig", slot.kubeconfig.string(), "--leader-elect",
       "--leader-election-namespace", kSystemNamespace, "--log-level", "trace", "--log-format",
       "json", "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "0"},
      slot.log_path.string());
  if (!process.ok()) return process.status();
  slot.process = std::move(process).value();
  slot.exit_expected = false;
  slot.rss.emplace_back();
  return Status::Ok();
}

void World::SetBrokerDown(int id, bool down) {
  std::lock_guard lock(mu_);
  if (down) {
    broker_down_since_[id] = Elapsed();
  } else {
    broker_down_since_.erase(id);
  }
}

void World::SetClusterDown(bool down) {
  std::lock_guard lock(mu_);
  cluster_down_since_ = down ? std::optional<double>(Elapsed()) : std::nullopt;
}

Status World::ApplyDeployment(size_t i) {
  const json object = [&] {
    std::lock_guard lock(mu_);
    return DeploymentObject(autoscalers_.at(i), 1);
  }();
  return kube_->Apply(object);
}

Status World::DeleteDeployment(size_t i) {
  const std::string name = [&] {
    std::lock_guard lock(mu_);
    return autoscalers_.at(i).name;
  }();
  return kube_->Delete("deployments", name);
}

Status World::ApplyAutoscaler(size_t i, const std::optional<json>& override) {
  const json object = [&] {
    std::lock_guard lock(mu_);
    const AutoscalerState& a = autoscalers_.at(i);
    return AutoscalerObject(a, override.value_or(a.spec));
  }();
  Status s = kube_->Apply(object);
  std::lock_guard lock(mu_);
  AutoscalerState& a = autoscalers_.at(i);
  if (s.ok()) {
    if (!override) a.spec = object["spec"];
    a.exists = true;
    a.deleted_since.reset();
    const bool paused = object["spec"].value("paused", false);
    if (paused && !a.paused_since) a.paused_since = Elapsed();
    if (!paused) a.paused_since.reset();
  }
  return s;
}

Status World::DeleteAutoscaler(size_t i) {
  const std::string name = [&] {
    std::lock_guard lock(mu_);
    return autoscalers_.at(i).name;
  }();
  Status s = kube_->Delete("consumergroupautoscalers", name);
  std::lock_guard lock(mu_);
  if (s.ok()) {
    autoscalers_.at(i).exists = false;
    autoscalers_.at(i).deleted_since = Elapsed();
    autoscalers_.at(i).paused_since.reset();
  }
  return s;
}

std::optional<size_t> World::LeaderSlot() {
  StatusOr<std::string> lease = kube_->Get(std::string("/apis/coordination.k8s.io/v1/namespaces/") +
                                           kSystemNamespace + "/leases/" + kLease);
  if (!lease.ok()) return std::nullopt;
  const std::string holder =
      json::parse(*lease, nullptr, false).value("/spec/holderIdentity"_json_pointer, std::string());
  if (holder.empty()) return std::nullopt;
  static const std::regex kIdentity(R"(leader election: (\S+) waiting for lease)");
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].process == nullptr) continue;
    std::smatch m;
    const std::string log = slots_[i].process->log();
    if (std::regex_search(log, m, kIdentity) && m[1] == holder) return i;
  }
  return std::nullopt;
}

void World::KillConsumer(size_t live_index) {
  consumers_.at(live_index % consumers_.size()).replicas->KillOldest();
}

json World::Lag(const std::string& group, const std::string& topic) {
  const RunResult r = testing::RunProcess(
      {GROUPSCALER_BINARY, "lag", "--bootstrap-servers",
       kafka_->bootstrap(KafkaListener::kSaslPlaintext), "--group", group, "--topic", topic,
       "--auth-file", auth_file_.string(), "--output", "json"},
      std::chrono::seconds(60));
  ScanForSecrets("groupscaler lag", r.out + r.err);
  return r.exit_code == 0 ? json::parse(r.out, nullptr, false) : json();
}

// ---- monitor ----

void World::ScanForSecrets(const std::string& where, const std::string& text) {
  if (const int64_t n = CountSecrets(text, secrets()); n > 0) {
    counters_->Add("secret in logs, events, status, metrics or lag", where, n);
  }
}

std::optional<double> World::BlindSince(const AutoscalerState& a) const {
  if (cluster_down_since_) return cluster_down_since_;
  // An unreplicated topic's 12 partitions lie on every broker.
  if (a.replication_factor == 1 && !broker_down_since_.empty()) {
    return broker_down_since_.begin()->second;
  }
  return std::nullopt;
}

int World::Bound(const AutoscalerState& a) const {
  return std::min(a.spec.value("maxReplicas", 0), a.partitions);
}

TargetContext World::ContextOf(const AutoscalerState& a, int) const {
  return {.bound = Bound(a),
          .blind_since = BlindSince(a),
          .paused_since = a.paused_since,
          .deleted_since = a.deleted_since};
}

void World::Tick(ReplicaWatch& watch) {
  RestartExitedControllers();
  // The replicas listed were there when the server answered, at or after t:
  // a change the next list shows came after t (ReplicaWatch's grace counts
  // from the sample before the change).
  const double t = Elapsed();
  StatusOr<std::string> list = kube_->Get("/apis/apps/v1/namespaces/soak/deployments");
  if (list.ok()) {
    const json deployments = json::parse(*list, nullptr, false);
    std::map<std::string, int> replicas;
    for (const json& d : deployments.value("items", json::array())) {
      replicas[d["metadata"].value("name", "")] = d["spec"].value("replicas", 0);
    }
    {
      std::lock_guard lock(mu_);
      for (const AutoscalerState& a : autoscalers_) {
        auto it = replicas.find(a.name);
        if (it == replicas.end()) {
          watch.Forget(a.name);
        } else {
          watch.Observe(a.name, t, it->second, ContextOf(a, it->second));
        }
      }
    }
    SyncConsumers(replicas);
  }
  StatusOr<std::string> statuses =
      kube_->Get("/apis/groupscaler.io/v1alpha1/namespaces/soak/consumergroupautoscalers");
  if (statuses.ok()) ScanForSecrets("autoscalers' status", *statuses);
}

void World::SyncConsumers(const std::map<std::string, int>& replicas) {
  for (LiveGroup& g : consumers_) {
    auto it = replicas.find(g.name);
    // A Deployment deleted takes its pods with it.
    (void)g.replicas->SetReplicas(it == replicas.end() ? 0 : it->second);
    g.ledger->CheckOwnership(Elapsed(), 10);
  }
}

void World::RestartExitedControllers() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    ControllerSlot& slot = slots_[i];
    std::optional<int> code;
    {
      std::lock_guard lock(mu_);
      if (slot.process == nullptr) continue;
      code = slot.process->Wait(std::chrono::milliseconds(0));
      if (!code) continue;
      if (!slot.exit_expected) {
        counters_->Add(
            "groupscaler crash or restart",
            fmt::format("controller {} exited with {} at t={:.1f}s", slot.name, *code, Elapsed()));
      }
      slot.process.reset();
    }
    std::lock_guard lock(mu_);
    if (Status s = StartController(i); !s.ok()) {
      counters_->Add("groupscaler crash or restart", "cannot restart: " + s.ToString());
    }
  }
}

void World::Sample() {
  for (ControllerSlot& slot : slots_) {
    pid_t pid = -1;
    int port = 0;
    {
      std::lock_guard lock(mu_);
      if (slot.process == nullptr) continue;
      pid = slot.process->pid();
      port = testing::PortInLog(*slot.process, "serving /metrics");
    }
    if (port > 0) {
      const testing::HttpAnswer metrics = testing::HttpGet(port, "/metrics");
      ScanForSecrets("metrics of controller " + slot.name, metrics.body);
      if (metrics::testing::Value(metrics.body, "groupscaler_leader") == 1) {
        std::lock_guard lock(mu_);
        last_leader_metrics_ = metrics.body;
        last_leader_scrape_at_ = WallSeconds();
      }
    }
    const long kib = testing::RssKib(pid);
    std::lock_guard lock(mu_);
    if (kib > 0 && slot.process != nullptr && slot.process->pid() == pid) {
      slot.rss.back().push_back({Elapsed(), kib});
    }
  }
}

// ---- producer ----

void World::ProduceLoop(std::stop_token stop) {
  char error[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : std::vector<std::pair<const char*, std::string>>{
           {"bootstrap.servers", kafka_->bootstrap(KafkaListener::kPlaintext)},
           {"enable.idempotence", "true"},
           {"linger.ms", "20"},
           {"log_level", "0"}}) {
    rd_kafka_conf_set(conf, key, value.c_str(), error, sizeof error);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (rk == nullptr) return;
  std::mt19937_64 random(options_.seed);
  std::uniform_real_distribution<double> rate(0, options_.max_produce_rate);
  double current = rate(random), next_change = Elapsed() + 15;
  int64_t key = 0;
  while (!stop.stop_requested()) {
    if (Elapsed() > next_change) {
      current = rate(random);
      next_change += 15;
    }
    for (const LiveGroup& g : consumers_) {
      for (int n = 0; n < static_cast<int>(current / 10); ++n) {
        const std::string k = std::to_string(++key);
        if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(g.name.c_str()),
                              RD_KAFKA_V_KEY(k.data(), k.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(k.data()), k.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
          ++produce_errors_;
        } else {
          ++produced_;
        }
      }
    }
    rd_kafka_poll(rk, 100);
  }
  rd_kafka_flush(rk, 60000);
  rd_kafka_destroy(rk);
}

// ---- the end ----

void World::Finish(std::chrono::seconds drain) {
  producer_ = {};
  const double start = Elapsed();
  const double deadline = start + static_cast<double>(drain.count());
  for (const LiveGroup& g : consumers_) {
    json answer;
    while (true) {
      answer = Lag(g.name, g.name);
      if (answer.is_object() && answer.value("totalLag", int64_t{-1}) == 0) break;
      if (Elapsed() > deadline) break;
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    std::cout << fmt::format("[{:7.1f}s] {} {:.0f} s after the producer stopped: {}", Elapsed(),
                             g.name, Elapsed() - start, Undrained(answer))
              << std::endl;
  }
}

// "lag 0", or the partitions with lag left and their offsets.
std::string World::Undrained(const json& lag) {
  if (!lag.is_object()) return "the lag could not be read";
  std::string out = fmt::format("lag {}", lag.value("totalLag", int64_t{-1}));
  for (const json& topic : lag.value("topics", json::array())) {
    for (const json& p : topic.value("partitions", json::array())) {
      if (p.value("lag", int64_t{0}) == 0) continue;
      out += fmt::format("; partition {} end {} committed {}", p.value("partition", -1),
                         p.value("logEndOffset", int64_t{-1}), p["committedOffset"].dump());
    }
  }
  return out;
}

void World::FinalChecks(double rss_growth_bound_mib, double stuck_bound_seconds) {
  CheckBoundsAtEnd();
  Sample();
  CheckObservationsAtEnd(stuck_bound_seconds);
  CheckLostMessages();
  for (LiveGroup& g : consumers_) g.replicas->StopAll(std::chrono::seconds(10));
  for (ControllerSlot& slot : slots_) {
    std::lock_guard lock(mu_);
    slot.exit_expected = true;
    if (slot.process != nullptr) slot.process->Signal(SIGTERM);
  }
  for (ControllerSlot& slot : slots_) {
    if (slot.process == nullptr) continue;
    const std::optional<int> code = slot.process->Wait(std::chrono::seconds(30));
    if (code != 0) {
      counters_->Add("groupscaler crash or restart",
                     fmt::format("controller {} ended SIGTERM with {}", slot.name,
                                 code ? std::to_string(*code) : "no exit in 30 s"));
    }
  }
  CheckWriters();
  CheckLogsAndEvents();
  CheckRss(rss_growth_bound_mib);
}

void World::CheckBoundsAtEnd() {
  StatusOr<std::string> list = kube_->Get("/apis/apps/v1/namespaces/soak/deployments");
  if (!list.ok()) return;
  const json deployments = json::parse(*list, nullptr, false);
  std::lock_guard lock(mu_);
  for (const json& d : deployments.value("items", json::array())) {
    const std::string name = d["metadata"].value("name", "");
    const int replicas = d["spec"].value("replicas", 0);
    for (const AutoscalerState& a : autoscalers_) {
      if (a.name == name && a.exists && replicas > Bound(a)) {
        counters_->Add("replicas above the bound at the end",
                       fmt::format("{} at {} (bound {})", name, replicas, Bound(a)));
      }
    }
  }
}

// Every autoscaler that exists was observed within the bound before the
// end, by the leader's groupscaler_last_observation_timestamp_seconds.
void World::CheckObservationsAtEnd(double stuck_bound_seconds) {
  const std::string& metrics = last_leader_metrics_;
  const double now = last_leader_scrape_at_;
  const std::map<std::string, double> observed = LastObservations(metrics);
  std::lock_guard lock(mu_);
  for (const AutoscalerState& a : autoscalers_) {
    if (!a.exists) continue;
    auto it = observed.find(a.name);
    if (it == observed.end() || now - it->second > stuck_bound_seconds) {
      counters_->Add(
          "reconcile stuck",
          fmt::format("{} last observed {} before the end (leader's scrape: {} bytes)", a.name,
                      it == observed.end() ? "never" : fmt::format("{:.0f} s", now - it->second),
                      metrics.size()));
    }
  }
}

void World::CheckLostMessages() {
  for (const LiveGroup& g : consumers_) {
    const json lag = Lag(g.name, g.name);
    std::vector<int64_t> log_end(kLivePartitions, 0);
    std::map<std::string, std::map<int32_t, int64_t>> committed;
    if (!lag.is_object()) {
      counters_->Add("messages lost", g.name + ": cannot read the group's offsets");
      continue;
    }
    for (const json& p : lag["topics"].at(0)["partitions"]) {
      const int32_t partition = p.value("partition", 0);
      if (partition >= kLivePartitions) continue;
      log_end[static_cast<size_t>(partition)] = p.value("logEndOffset", 0);
      if (p["committedOffset"].is_number()) {
        committed[g.name][partition] = p["committedOffset"].get<int64_t>();
      }
    }
    const demo::Tally tally = g.ledger->Count(log_end, committed);
    if (tally.lost > 0)
      counters_->Add("messages lost", g.name + ": " + tally.first_lost, tally.lost);
  }
}

void World::NoteContinued(size_t slot) {
  std::lock_guard lock(mu_);
  pauses_.push_back({kube_->UserOf(slot), WallSeconds()});
}

// Writes a stopped leader had sent before it was stopped are delivered when
// it continues: counted as a figure, not against the invariant (see
// DeliveredAfterPause); 5 s covers reconnecting on a loaded machine.
void World::CheckWriters() {
  constexpr double kDeliveryWindowSeconds = 5;
  for (const ForeignWrite& w : kube_->WritesOutsideTheirTerm()) {
    if (DeliveredAfterPause(w, pauses_, kDeliveryWindowSeconds)) {
      ++delivered_after_pause_;
      continue;
    }
    counters_->Add("writes by a controller not holding the Lease",
                   w.user + " while " + w.holder + " held it: " + w.request);
  }
}

void World::CheckLogsAndEvents() {
  for (const ControllerSlot& slot : slots_) {
    for (int n = 1; n <= slot.incarnation; ++n) {
      const auto path = LogOf(slot, n);
      StatusOr<std::string> text = ReadFileBounded(path.string(), 1LL << 31);
      if (!text.ok()) continue;
      ScanForSecrets(path.filename().string(), *text);
      if (text->find("Sanitizer") != std::string::npos) {
        counters_->Add("groupscaler crash or restart", "a sanitizer report in " + path.string());
      }
    }
  }
  StatusOr<std::string> events =
      kube_->Get(std::string("/api/v1/namespaces/") + kNamespace + "/events");
  ScanForSecrets("Events", events.ok() ? *events : "");
}

// Each incarnation's growth: its highest RSS against its first sample (a
// follower, or a leader before its first pass). Taking the Lease is part of
// the growth: about 30 MiB at the default size.
void World::CheckRss(double bound_mib) {
  for (const ControllerSlot& slot : slots_) {
    for (const std::vector<ControllerSlot::RssSample>& samples : slot.rss) {
      if (samples.empty()) continue;
      const auto peak =
          std::max_element(samples.begin(), samples.end(),
                           [](const auto& a, const auto& b) { return a.kib < b.kib; });
      const double growth = static_cast<double>(peak->kib - samples.front().kib) / 1024;
      if (growth > bound_mib) {
        counters_->Add("RSS growth over the bound",
                       fmt::format("controller {}: {:.1f} MiB → {:.1f} MiB at t={:.0f}s", slot.name,
                                   samples.front().kib / 1024.0, peak->kib / 1024.0, peak->t));
      }
    }
  }
}

std::string World::Figures() const {
  std::string out = fmt::format(
      "  messages produced {} (refused by the client {})\n"
      "  writes a stopped leader had sent, delivered once it continued: {}\n",
      produced_.load(), produce_errors_.load(), delivered_after_pause_);
  for (const ControllerSlot& slot : slots_) {
    for (size_t n = 0; n < slot.rss.size(); ++n) {
      const auto& s = slot.rss[n];
      if (s.empty()) continue;
      out += fmt::format(
          "  controller {} #{}: RSS {:.1f} MiB at t={:.0f}s, {:.1f} MiB at t={:.0f}s\n", slot.name,
          n + 1, s.front().kib / 1024.0, s.front().t, s.back().kib / 1024.0, s.back().t);
    }
  }
  return out;
}

std::filesystem::path World::LogOf(const ControllerSlot& slot, int incarnation) const {
  return options_.dir / fmt::format("controller-{}-{}.log", slot.name, incarnation);
}

namespace {

bool IsDecision(std::string_view msg) {
  const auto has = [&](std::string_view s) { return msg.find(s) != std::string_view::npos; };
  return has(": scaled up ") || has(": scaled down ") || has("leadership lost") ||
         (has("leader election: ") && !has(" waiting for "));
}

}  // namespace

std::string World::DecisionLog() const {
  const double wall_at_start = WallSeconds() - Elapsed();
  std::vector<std::pair<double, std::string>> lines;
  for (const ControllerSlot& slot : slots_) {
    for (int n = 1; n <= slot.incarnation; ++n) {
      std::ifstream in(LogOf(slot, n));
      for (std::string line; std::getline(in, line);) {
        if (line.find("\"level\":\"trace\"") != std::string::npos) continue;
        const json entry = json::parse(line, nullptr, false);
        const std::string msg = entry.is_object() ? entry.value("msg", "") : "";
        if (!IsDecision(msg)) continue;
        const StatusOr<Timestamp> at = ParseTime(entry.value("time", ""));
        if (!at.ok()) continue;
        const double wall = std::chrono::duration<double>(at->time_since_epoch()).count();
        lines.emplace_back(wall - wall_at_start, fmt::format("{}#{} {}", slot.name, n, msg));
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& [t, text] : lines) out += fmt::format("  [{:7.1f}s] {}\n", t, text);
  return out;
}

}  // namespace groupscaler::soak
