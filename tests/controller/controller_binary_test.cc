// `groupscaler controller` as the real binary, as a user runs it: a
// kubeconfig pointing at the test API server over HTTP, the librdkafka mock
// cluster, signals. Each process gets its own bearer token, so the API
// server's request log tells which process wrote what.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kNs = "payments";

json Servers(const std::string& bootstrap) {
  json out = json::array();
  std::stringstream in(bootstrap);
  for (std::string s; std::getline(in, s, ',');) out.push_back(s);
  return out;
}

class ControllerBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("controller_binary_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    auto server = groupscaler::testing::KubeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto cluster = groupscaler::testing::MockCluster::Start(1);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    ASSERT_TRUE(cluster_->CreateTopic("orders", 6).ok());
    std::vector<groupscaler::testing::Commit> commits;
    for (int p = 0; p < 6; ++p) commits.push_back({"orders", p, 0});
    ASSERT_TRUE(
        groupscaler::testing::CommitOffsets(cluster_->bootstrap_servers(), "app", commits).ok());
    Put("deployments", {{"apiVersion", "apps/v1"},
                        {"kind", "Deployment"},
                        {"metadata", {{"name", "app"}, {"namespace", kNs}}},
                        {"spec", {{"replicas", 1}}}});
    Put("consumergroupautoscalers",
        {{"apiVersion", "groupscaler.io/v1alpha1"},
         {"kind", "ConsumerGroupAutoscaler"},
         {"metadata", {{"name", "app"}, {"namespace", kNs}}},
         {"spec",
          {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", "app"}}},
           {"kafka",
            {{"bootstrapServers", Servers(cluster_->bootstrap_servers())},
             {"groupId", "app"},
             {"topics", {"orders"}}}},
           {"maxReplicas", 6},
           {"lagThreshold", 100},
           {"alignment", "none"},
           {"pollIntervalSeconds", 1}}}});
  }
  void TearDown() override {
    children_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Put(const std::string& resource, const json& object) {
    auto stored = server_->Upsert(resource, object.dump());
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  }

  // A kubeconfig whose user authenticates with `token`.
  std::string Kubeconfig(const std::string& token) {
    const std::string path = (dir_ / (token + ".kubeconfig")).string();
    std::ofstream(path) << "apiVersion: v1\nkind: Config\n"
                        << "clusters:\n- name: test\n  cluster:\n    server: " << server_->url()
                        << "\nusers:\n- name: test\n  user:\n    token: " << token
                        << "\ncontexts:\n- name: test\n  context:\n    cluster: test\n"
                        << "    user: test\n    namespace: system\ncurrent-context: test\n";
    return path;
  }

  Child& StartController(const std::string& token) {
    std::vector<std::string> argv = {GROUPSCALER_BINARY,
                                     "controller",
                                     "--kubeconfig",
                                     Kubeconfig(token),
                                     "--leader-elect",
                                     "--leader-election-namespace",
                                     "system",
                                     "--health-probe-bind-address",
                                     "127.0.0.1:0",
                                     "--log-format",
                                     "json"};
    children_.push_back(std::make_unique<Child>(argv, (dir_ / (token + ".log")).string()));
    return *children_.back();
  }

  // Writes (not GETs, not lease traffic) that the process with `token` sent.
  int Writes(const std::string& token) {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.authorization == "Bearer " + token && r.method != "GET" &&
          r.path.find("/leases") == std::string::npos) {
        ++n;
      }
    }
    return n;
  }
  std::string Holder() {
    auto lease =
        server_->Get("coordination.k8s.io/v1", "leases", "system", "groupscaler-controller");
    if (!lease.ok()) return "<none>";
    return json::parse(*lease)["spec"].value("holderIdentity", "");
  }
  int Replicas() {
    auto text = server_->Get("apps/v1", "deployments", kNs, "app");
    return text.ok() ? json::parse(*text)["spec"]["replicas"].get<int>() : -1;
  }
  static int HealthPort(const Child& child) {
    std::smatch m;
    const std::string log = child.log();
    static const std::regex kPort("readyz on port ([0-9]+)");
    return std::regex_search(log, m, kPort) ? std::stoi(m[1]) : 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<groupscaler::testing::KubeApiServer> server_;
  std::unique_ptr<groupscaler::testing::MockCluster> cluster_;
  std::vector<std::unique_ptr<Child>> children_;
};

TEST_F(ControllerBinary, OnlyTheLeaderWritesAndSigtermHandsOverAtOnce) {
  Child& a = StartController("token-a");
  ASSERT_TRUE(WaitFor([&] { return !Holder().empty() && Holder() != "<none>"; }, seconds(10)))
      << a.log();
  Child& b = StartController("token-b");
  ASSERT_TRUE(WaitFor([&] { return HealthPort(a) > 0 && HealthPort(b) > 0; }, seconds(5)));

  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {50, 50, 50, 50, 0, 0})
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return Replicas() == 2; }, seconds(10))) << a.log();
  std::this_thread::sleep_for(seconds(2));
  EXPECT_GT(Writes("token-a"), 0);
  EXPECT_EQ(Writes("token-b"), 0) << "the follower never writes";
  // Both serve probes; the follower is ready while idle.
  for (Child* c : {&a, &b}) {
    EXPECT_EQ(HttpGet(HealthPort(*c), "/healthz"), 200);
    EXPECT_EQ(HttpGet(HealthPort(*c), "/readyz"), 200);
    EXPECT_EQ(HttpGet(HealthPort(*c), "/nope"), 404);
  }

  // SIGTERM: a stops within 5 s and releases the Lease, so b need not wait
  // out the 15 s lease duration.
  const std::string a_identity = Holder();
  const auto term = Steady::now();
  a.Signal(SIGTERM);
  EXPECT_EQ(a.Wait(seconds(5)), 0) << a.log();
  EXPECT_LT(Steady::now() - term, seconds(5));
  ASSERT_TRUE(WaitFor([&] { return !Holder().empty() && Holder() != a_identity; }, seconds(4)))
      << "holder still " << Holder();
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {0, 0, 0, 0, 100, 100})
                  .ok());
  EXPECT_TRUE(WaitFor([&] { return Replicas() == 4; }, seconds(8))) << b.log();
  EXPECT_GT(Writes("token-b"), 0);

  // Every log line is one JSON object.
  std::stringstream lines(a.log());
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  }
  EXPECT_GT(count, 2);
}

TEST_F(ControllerBinary, KilledLeaderReplacedWithinTheLeaseDuration) {
  Child& a = StartController("token-a");
  ASSERT_TRUE(WaitFor([&] { return !Holder().empty() && Holder() != "<none>"; }, seconds(10)))
      << a.log();
  Child& b = StartController("token-b");
  ASSERT_TRUE(WaitFor([&] { return Replicas() == 1 && Writes("token-a") > 0; }, seconds(10)));
  std::this_thread::sleep_for(seconds(2));  // b has seen a's lease renewed
  a.Signal(SIGKILL);
  EXPECT_EQ(a.Wait(seconds(2)), 128 + SIGKILL);
  const auto killed = Steady::now();
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {100, 100, 100, 0, 0, 0})
                  .ok());
  // Lease duration 15 s, plus one retry period for b to notice.
  ASSERT_TRUE(WaitFor([&] { return Replicas() == 3; }, seconds(25))) << b.log();
  const auto elapsed = Steady::now() - killed;
  EXPECT_GT(elapsed, seconds(10)) << "b must wait for the lease to expire";
  // a's last renewal was seen up to one retry period late; b retries every
  // 2 s; then one reconcile.
  EXPECT_LT(elapsed, seconds(15 + 2 + 2 + 1));
  EXPECT_GT(Writes("token-b"), 0);
}

TEST(ControllerCommand, BadFlagsAndKubeconfigExitTwoWithOneLine) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::string want;
  };
  const std::string dir = std::filesystem::temp_directory_path();
  const std::string bad = dir + "/controller_binary_test_bad.kubeconfig";
  std::ofstream(bad) << "apiVersion: v1\nkind: Config\nusers:\n- name: x\n  user:\n    exec: {}\n";
  for (const Case& c : std::vector<Case>{
           {"WorkersZero", {"--workers", "0"}, "--workers"},
           {"LogFormatXml", {"--log-format", "xml"}, "--log-format"},
           {"UnknownFlag", {"--nope"}, "--nope"},
           {"MissingKubeconfig", {"--kubeconfig", dir + "/does-not-exist"}, "does-not-exist"},
           {"KubeconfigWithoutContext", {"--kubeconfig", bad}, "context"},
       }) {
    SCOPED_TRACE(c.name);
    const std::string err = dir + "/controller_binary_test_" + c.name + ".err";
    std::vector<std::string> argv = {GROUPSCALER_BINARY, "controller"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    Child child(argv, err);
    EXPECT_EQ(child.Wait(seconds(10)), 2);
    const std::string text = child.log();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    EXPECT_THAT(text, ::testing::HasSubstr(c.want));
    std::filesystem::remove(err);
  }
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace groupscaler::controller
