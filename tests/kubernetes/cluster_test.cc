#include "kubernetes/cluster_test.h"

#include "support/e2e.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#ifndef GROUPSCALER_BINARY
#error "GROUPSCALER_BINARY must name the groupscaler binary"
#endif
#ifndef GROUPSCALER_SOURCE_DIR
#error "GROUPSCALER_SOURCE_DIR must name the source tree"
#endif

namespace groupscaler::testing {

using nlohmann::json;
using nlohmann::literals::operator""_json_pointer;

namespace {

// The control plane of this process: started on first use, stopped (its
// processes killed) when the process exits.
struct SharedPlane {
  ~SharedPlane() {
    if (!plane) return;
    const std::filesystem::path dir = plane->dir();
    plane.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::unique_ptr<KubeControlPlane> plane;
  std::string error;
};

SharedPlane& Shared() {
  static SharedPlane shared;
  return shared;
}

// A DNS label from the test's name: "t-" + lower-case letters and digits,
// and a number that keeps it unique when the name is cut short.
std::string NamespaceFor(const ::testing::TestInfo& info) {
  static int tests = 0;
  const std::string suffix = "-" + std::to_string(++tests);
  std::string name = "t-";
  for (char c : std::string(info.test_suite_name()) + "-" + info.name()) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (name.back() != '-') {
      name += '-';
    }
  }
  name = name.substr(0, 63 - suffix.size());
  while (name.back() == '-') name.pop_back();
  return name + suffix;
}

std::string InstalledValues(const std::vector<std::string>& values) {
  std::string joined;
  for (const auto& v : values) joined += v + ";";
  return joined;
}

}  // namespace

KubeControlPlane* SharedControlPlane(std::string* error) {
  SharedPlane& shared = Shared();
  if (!shared.plane && shared.error.empty()) {
    auto plane = KubeControlPlane::Start(std::filesystem::temp_directory_path() /
                                         ("kube_cp_" + std::to_string(::getpid())));
    if (plane.ok()) {
      shared.plane = std::move(plane).value();
    } else {
      shared.error = plane.status().ToString();
    }
  }
  if (error != nullptr) *error = shared.error;
  return shared.plane.get();
}

std::filesystem::path SourcePath(const std::string& relative) {
  return std::filesystem::path(GROUPSCALER_SOURCE_DIR) / relative;
}

RunResult Helm(const KubeControlPlane& plane, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SourcePath(".tools/bin/helm").string(),
                                   "--kubeconfig=" + plane.admin_kubeconfig().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, std::chrono::seconds(120));
}

std::string ChartUser() {
  return std::string("system:serviceaccount:") + kReleaseNamespace + ":" + kServiceAccount;
}

void ClusterTest::SetUp() {
  std::string error;
  plane_ = SharedControlPlane(&error);
  ASSERT_NE(plane_, nullptr) << error;
  const ::testing::TestInfo& info = *::testing::UnitTest::GetInstance()->current_test_info();
  ns_ = NamespaceFor(info);
  dir_ = plane_->dir() / ns_;
  std::filesystem::create_directories(dir_);
  ASSERT_TRUE(plane_->CreateNamespace(ns_).ok()) << "namespace " << ns_;
  if (NeedsChart()) {
    ASSERT_NO_FATAL_FAILURE(InstallChart());
  }
  audit_start_ = plane_->AuditRecords().size();
  auto kafka = MockCluster::Start(1);
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  kafka_ = std::move(kafka).value();
}

void ClusterTest::TearDown() {
  if (HasFailure()) {
    // What each controller did last, for a failure whose wait passed.
    for (const auto& process : processes_) {
      std::cout << "the end of process " << process->pid() << "'s log:\n"
                << LastLines(process->log(), 60) << std::flush;
    }
  }
  processes_.clear();
  kafka_.reset();
  if (plane_ != nullptr && !ns_.empty()) {
    // The autoscalers go first, at once, so that the next test's controller
    // does not find them in a namespace that is still terminating.
    Kubectl({"delete", "cga", "--all", "--wait=true"});
    plane_->kubectl({"delete", "namespace", ns_, "--wait=false"});
  }
}

RunResult ClusterTest::Kubectl(std::vector<std::string> args) {
  args.insert(args.begin(), {"-n", ns_});
  return plane_->kubectl(args);
}

void ClusterTest::Apply(const json& object) {
  json o = object;
  if (!o["metadata"].contains("namespace")) {
    o["metadata"]["namespace"] = ns_;
  } else if (o["metadata"]["namespace"].is_null()) {
    o["metadata"].erase("namespace");  // cluster-scoped
  }
  const RunResult r = plane_->Apply(o.dump());
  ASSERT_EQ(r.exit_code, 0) << "kubectl apply " << o["kind"] << ": " << r.err;
}

json ClusterTest::Get(const std::string& resource, const std::string& name) {
  const RunResult r = Kubectl({"get", resource, name, "-o", "json"});
  if (r.exit_code != 0) return nullptr;
  return json::parse(r.out, nullptr, false);
}

void ClusterTest::InstallChart(const std::vector<std::string>& values) {
  // One install per binary and set of values: the installed values are kept
  // in a file beside the control plane.
  const std::filesystem::path marker = plane_->dir() / "chart-values";
  std::string installed;
  std::getline(std::ifstream(marker), installed);
  if (std::filesystem::exists(marker) && installed == InstalledValues(values)) return;
  std::vector<std::string> args = {"upgrade",
                                   "--install",
                                   kRelease,
                                   SourcePath("charts/groupscaler").string(),
                                   "--namespace",
                                   kReleaseNamespace,
                                   "--create-namespace",
                                   "--wait=false"};
  for (const auto& v : values) args.insert(args.end(), {"--set", v});
  const RunResult r = Helm(*plane_, args);
  ASSERT_EQ(r.exit_code, 0) << "helm upgrade --install: " << r.err << r.out;
  const RunResult established =
      plane_->kubectl({"wait", "--for=condition=established", "--timeout=30s",
                       "customresourcedefinition/consumergroupautoscalers.groupscaler.io"},
                      std::chrono::seconds(40));
  ASSERT_EQ(established.exit_code, 0) << established.err;
  std::ofstream(marker) << InstalledValues(values) << "\n";
}

std::filesystem::path ClusterTest::ChartServiceAccountKubeconfig() {
  auto path = plane_->ServiceAccountKubeconfig(kReleaseNamespace, kServiceAccount);
  EXPECT_TRUE(path.ok()) << path.status().ToString();
  return path.ok() ? *path : std::filesystem::path();
}

Subprocess* ClusterTest::StartController(const std::filesystem::path& kubeconfig,
                                         const std::vector<std::string>& flags,
                                         const std::string& log_name) {
  std::vector<std::string> argv = {GROUPSCALER_BINARY,
                                   "controller",
                                   "--kubeconfig",
                                   kubeconfig.string(),
                                   "--log-format=text",
                                   "--log-level=debug",
                                   "--health-probe-bind-address=0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto process = Subprocess::SpawnLogged(argv, (dir_ / log_name).string());
  if (!process.ok()) {
    ADD_FAILURE() << "groupscaler controller: " << process.status().ToString();
    return nullptr;
  }
  processes_.push_back(std::move(process).value());
  return processes_.back().get();
}

Subprocess* ClusterTest::StartChartController(const std::vector<std::string>& flags) {
  InstallChart();
  return StartController(ChartServiceAccountKubeconfig(), flags);
}

std::string ClusterTest::TopicWithLag(const std::string& group, int partitions,
                                      int64_t lag_per_partition) {
  const std::string topic = "orders-" + ns_;
  EXPECT_TRUE(kafka_->CreateTopic(topic, partitions).ok());
  std::vector<Commit> commits;
  for (int p = 0; p < partitions; ++p) commits.push_back({topic, p, 0});
  EXPECT_TRUE(CommitOffsets(kafka_->bootstrap_servers(), group, commits).ok());
  EXPECT_TRUE(ProduceCounts(kafka_->bootstrap_servers(), topic,
                            std::vector<int64_t>(partitions, lag_per_partition))
                  .ok());
  return topic;
}

json ClusterTest::Workload(const std::string& kind, const std::string& name, int replicas) {
  json labels = {{"app", name}};
  json spec = {{"replicas", replicas},
               {"selector", {{"matchLabels", labels}}},
               {"template",
                {{"metadata", {{"labels", labels}}},
                 {"spec",
                  {{"containers",
                    {{{"name", "consumer"},
                      {"image", "registry.invalid/consumer:1"},
                      {"env", {{{"name", "GROUP_ID"}, {"value", name}}}}}}}}}}}};
  if (kind == "StatefulSet") spec["serviceName"] = name;
  return {{"apiVersion", "apps/v1"},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns_}}},
          {"spec", spec}};
}

json ClusterTest::Autoscaler(const std::string& name, const std::string& topic,
                             const json& spec_overrides) {
  json overrides = {
      {"kafka", {{"topics", {topic}}}},
      {"lagThreshold", 1000},
      {"policy", {{"type", "lag"}}},
      // Scale up in one step: the tests are about Kubernetes,
      // not the behavior's pace.
      {"behavior",
       {{"scaleUp",
         {{"stabilizationWindowSeconds", 0},
          {"policies", {{{"type", "Pods"}, {"value", 100}, {"periodSeconds", 1}}}}}}}}};
  overrides.merge_patch(spec_overrides);
  json cr = ::groupscaler::testing::Autoscaler(name, kafka_->bootstrap_servers(), overrides);
  cr["metadata"]["namespace"] = ns_;
  return cr;
}

json ClusterTest::Status(const std::string& name) {
  const json cr = Get("consumergroupautoscalers", name);
  return cr.is_object() && cr.contains("status") && cr["status"].is_object() ? cr["status"]
                                                                             : json::object();
}

json ConditionOf(const json& status, const std::string& type) {
  const json conditions = status.value("conditions", json::array());
  if (!conditions.is_array()) return nullptr;
  for (const json& c : conditions) {
    if (c.value("type", "") == type) return c;
  }
  return nullptr;
}

json ClusterTest::Condition(const std::string& name, const std::string& type) {
  return ConditionOf(Status(name), type);
}

std::map<std::string, std::string> ClusterTest::PrinterColumns(const std::string& name) {
  const RunResult r = Kubectl({"get", "cga", name});
  std::map<std::string, std::string> columns;
  std::istringstream lines(r.out);
  std::string header_line, row_line;
  std::getline(lines, header_line);
  std::getline(lines, row_line);
  std::istringstream header(header_line), row(row_line);
  for (std::string h, v; header >> h && row >> v;) columns[h] = v;
  return columns;
}

int ClusterTest::Replicas(const std::string& kind, const std::string& name) {
  const json object = Get(kind, name);
  return object.is_object() ? object["spec"].value("replicas", -1) : -1;
}

std::vector<json> ClusterTest::Events(const std::string& involved_name) {
  const RunResult r = Kubectl({"get", "events", "-o", "json"});
  std::vector<json> out;
  const json list = json::parse(r.out, nullptr, false);
  if (!list.is_object()) return out;
  for (const json& e : list["items"]) {
    if (e["involvedObject"].value("name", "") == involved_name) out.push_back(e);
  }
  return out;
}

std::vector<json> ClusterTest::Audit(const std::string& user, int code) {
  std::vector<json> out;
  std::vector<json> records = plane_->AuditRecords();
  records.erase(records.begin(),
                records.begin() + static_cast<long>(std::min(audit_start_, records.size())));
  for (json& record : records) {
    if (record.value("/user/username"_json_pointer, "") != user) continue;
    if (code != 0 && record.value("/responseStatus/code"_json_pointer, 0) != code) continue;
    out.push_back(std::move(record));
  }
  return out;
}

}  // namespace groupscaler::testing
