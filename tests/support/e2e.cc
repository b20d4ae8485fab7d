#include "support/e2e.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "common/host_port.h"
#include "kafka/batching_lag_reader.h"
#include "kafka/rdkafka_lag_reader.h"

namespace groupscaler::testing {

using nlohmann::json;

json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", kNamespace}}},
          {"spec", {{"replicas", replicas}, {"selector", {{"matchLabels", {{"app", name}}}}}}},
          {"status", {{"replicas", replicas}}}};
}

json Autoscaler(const std::string& name, const std::string& bootstrap, const json& spec_overrides) {
  // The CR lists the servers one by one.
  const json servers = SplitServers(bootstrap);
  json cr = {
      {"apiVersion", "groupscaler.io/v1alpha1"},
      {"kind", "ConsumerGroupAutoscaler"},
      {"metadata", {{"name", name}, {"namespace", kNamespace}}},
      {"spec",
       {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", name}}},
        {"kafka", {{"bootstrapServers", servers}, {"groupId", name}, {"topics", {"orders"}}}},
        {"minReplicas", 1},
        {"maxReplicas", 24},
        {"lagThreshold", 100},
        {"alignment", "none"},
        {"pollIntervalSeconds", kPollSeconds}}}};
  cr["spec"].merge_patch(spec_overrides);
  return cr;
}

int PortInLog(const Subprocess& process, const std::string& what,
              std::chrono::milliseconds timeout) {
  const std::string marker = what + " on port ";
  int port = 0;
  WaitFor(
      [&] {
        const std::string log = process.log();
        const size_t at = log.find(marker);
        if (at != std::string::npos) port = std::atoi(log.c_str() + at + marker.size());
        return port > 0;
      },
      timeout);
  return port;
}

void EndToEndTest::SetUp() {
  dir_ = std::filesystem::temp_directory_path() / ("e2e_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir_);
  auto server = KubeApiServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  server_ = std::move(server).value();
  auto cluster = MockCluster::Start(brokers_);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  cluster_ = std::move(cluster).value();
  auto client = kube::KubeClient::Create({.server = server_->url()});
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  client_ = std::move(client).value();
}

void EndToEndTest::TearDown() {
  controller_.reset();
  registry_.reset();
  processes_.clear();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void EndToEndTest::Topic(const std::string& topic, int partitions, const std::string& group,
                         int64_t offset) {
  ASSERT_TRUE(cluster_->CreateTopic(topic, partitions).ok());
  CommitAll(topic, partitions, group, offset);
}

void EndToEndTest::CommitAll(const std::string& topic, int partitions, const std::string& group,
                             int64_t offset) {
  std::vector<Commit> commits;
  for (int p = 0; p < partitions; ++p) commits.push_back({topic, p, offset});
  ASSERT_TRUE(CommitOffsets(cluster_->bootstrap_servers(), group, commits).ok());
}

void EndToEndTest::Put(const std::string& resource, const json& object) {
  auto stored = server_->Upsert(resource, object.dump());
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
}

json EndToEndTest::GetStatus(const std::string& name) {
  auto text = server_->Get("groupscaler.io/v1alpha1", "consumergroupautoscalers", kNamespace, name);
  if (!text.ok()) return nullptr;
  json object = json::parse(*text);
  return object.contains("status") ? object["status"] : json(nullptr);
}

json EndToEndTest::Condition(const std::string& name, const std::string& type) {
  json status = GetStatus(name);
  if (!status.is_object() || !status.contains("conditions")) return nullptr;
  for (const json& c : status["conditions"]) {
    if (c["type"] == type) return c;
  }
  return nullptr;
}

std::string EndToEndTest::ConditionStatus(const std::string& name, const std::string& type) {
  json c = Condition(name, type);
  return c.is_null() ? "" : c["status"].get<std::string>();
}

int EndToEndTest::Replicas(const std::string& name) {
  auto text = server_->Get("apps/v1", "deployments", kNamespace, name);
  return text.ok() ? json::parse(*text)["spec"]["replicas"].get<int>() : -1;
}

int EndToEndTest::ScalePatches(const std::string& name) {
  return server_->CountRequests("PATCH", "/deployments/" + name + "/scale");
}

int ReconcileCounter::count(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(name);
  return it == counts_.end() ? 0 : it->second;
}

void ReconcileCounter::RecordAutoscaler(const controller::AutoscalerSample& sample) {
  std::lock_guard lock(mu_);
  ++counts_[sample.name];
}

bool EndToEndTest::WaitForPolls(const std::string& name, int times) {
  const int wanted = reconciles_.count(name) + times;
  return WaitFor([&] { return reconciles_.count(name) >= wanted; },
                 std::chrono::seconds(times * kPollSeconds + 5));
}

int EndToEndTest::Events(const std::string& reason) {
  int n = 0;
  for (const auto& r : server_->Requests()) {
    if (r.method == "POST" && r.path.ends_with("/events") &&
        json::parse(r.body)["reason"] == reason) {
      ++n;
    }
  }
  return n;
}

void EndToEndTest::StartController(const InProcessOptions& options) {
  registry_ =
      std::make_unique<kafka::LagReaderPool>(kafka::Batching(kafka::RdKafkaLagReaderFactory()));
  controller_ = std::make_unique<controller::Controller>(
      controller::ReconcilerDeps{.autoscalers = client_.get(),
                                 .scales = client_.get(),
                                 .events = client_.get(),
                                 .secrets = client_.get(),
                                 .hpas = client_.get(),
                                 .workloads = options.read_workloads ? client_.get() : nullptr,
                                 .workload_watcher = client_.get(),
                                 .readers = registry_.get(),
                                 .clock = &clock_,
                                 .metrics = &reconciles_},
      controller::ControllerOptions{
          .namespace_name = options.namespace_name,
          .workers = {.initial = options.workers, .most = options.workers},
          .reconciler = {.observe_timeout = std::chrono::milliseconds(1500)}});
  controller_->Start();
}

Subprocess* EndToEndTest::StartProcess(const std::vector<std::string>& argv,
                                       const std::string& log_name) {
  auto process = Subprocess::SpawnLogged(argv, (dir_ / log_name).string());
  if (!process.ok()) {
    ADD_FAILURE() << argv[0] << ": " << process.status().ToString();
    return nullptr;
  }
  processes_.push_back(std::move(process).value());
  return processes_.back().get();
}

Subprocess* EndToEndTest::StartBinary(const std::string& token,
                                      const std::vector<std::string>& flags) {
  const std::string kubeconfig = (dir_ / (token + ".kubeconfig")).string();
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\n"
                            << "clusters:\n- name: test\n  cluster:\n    server: " << server_->url()
                            << "\nusers:\n- name: test\n  user:\n    token: " << token
                            << "\ncontexts:\n- name: test\n  context:\n    cluster: test\n"
                            << "    user: test\n    namespace: system\ncurrent-context: test\n";
  std::vector<std::string> argv = {GROUPSCALER_BINARY, "controller", "--kubeconfig", kubeconfig};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return StartProcess(argv, token + ".log");
}

}  // namespace groupscaler::testing
