// `groupscaler controller` as the real binary, as a user runs it: a
// kubeconfig pointing at the test API server over HTTP, the librdkafka mock
// cluster, signals. Each process gets its own bearer token, so the API
// server's request log tells which process wrote what.

#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/e2e.h"
#include "support/http_get.h"
#include "support/subprocess.h"

namespace groupscaler::controller {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using testing::kNamespace;
using testing::PortInLog;
using testing::Subprocess;
using testing::WaitFor;
using Steady = std::chrono::steady_clock;

class ControllerBinary : public testing::EndToEndTest {
 protected:
  void SetUp() override {
    EndToEndTest::SetUp();
    if (HasFatalFailure()) return;
    Topic("orders", 6, "app");
    Put("deployments", testing::Deployment("app", 1));
    Put("consumergroupautoscalers",
        testing::Autoscaler("app", cluster_->bootstrap_servers(), {{"maxReplicas", 6}}));
  }

  Subprocess* StartController(const std::string& token) {
    return StartBinary(token,
                       {"--leader-elect", "--leader-election-namespace", "system",
                        "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "json"});
  }

  // Starts "token-a", waits until it holds the Lease, then starts "token-b".
  void StartLeaderThenFollower() {
    leader_ = StartController("token-a");
    ASSERT_NE(leader_, nullptr);
    ASSERT_TRUE(WaitFor([&] { return !Holder().empty() && Holder() != "<none>"; }, seconds(10)))
        << leader_->log();
    follower_ = StartController("token-b");
    ASSERT_NE(follower_, nullptr);
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
  // GETs of the Lease that the process with `token` sent: its attempts.
  int LeaseReads(const std::string& token) {
    int n = 0;
    for (const auto& r : server_->Requests()) {
      if (r.authorization == "Bearer " + token && r.method == "GET" &&
          r.path.find("/leases/") != std::string::npos) {
        ++n;
      }
    }
    return n;
  }
  // Waits for the process with `token` to make one more attempt at the
  // Lease (one retry period, 2 s); whether it did.
  bool WaitForLeaseAttempt(const std::string& token) {
    const int seen = LeaseReads(token);
    return WaitFor([&] { return LeaseReads(token) > seen; }, seconds(5));
  }

  std::string Holder() {
    auto lease =
        server_->Get("coordination.k8s.io/v1", "leases", "system", "groupscaler-controller");
    if (!lease.ok()) return "<none>";
    return json::parse(*lease)["spec"].value("holderIdentity", "");
  }
  static int HealthPort(const Subprocess& child) { return PortInLog(child, "readyz"); }

  Subprocess* leader_ = nullptr;
  Subprocess* follower_ = nullptr;
};

TEST_F(ControllerBinary, OnlyTheLeaderWritesAndSigtermHandsOverAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartLeaderThenFollower());
  Subprocess& a = *leader_;
  Subprocess& b = *follower_;
  ASSERT_TRUE(WaitFor([&] { return HealthPort(a) > 0 && HealthPort(b) > 0; }, seconds(5)));

  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {50, 50, 50, 50, 0, 0})
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 2; }, seconds(10))) << a.log();
  ASSERT_TRUE(WaitForLeaseAttempt("token-b")) << b.log();
  EXPECT_GT(Writes("token-a"), 0);
  EXPECT_EQ(Writes("token-b"), 0) << "the follower never writes";
  // Both serve probes; the follower is ready while idle.
  for (Subprocess* c : {&a, &b}) {
    EXPECT_EQ(testing::HttpGet(HealthPort(*c), "/healthz").code, 200);
    EXPECT_EQ(testing::HttpGet(HealthPort(*c), "/readyz").code, 200);
    EXPECT_EQ(testing::HttpGet(HealthPort(*c), "/nope").code, 404);
  }

  // SIGTERM: a stops within 5 s and releases the Lease, so b need not wait
  // out the 15 s lease duration.
  const std::string a_identity = Holder();
  const auto term = Steady::now();
  a.Signal(SIGTERM);
  EXPECT_EQ(a.Wait(testing::Stretched(seconds(5))), 0) << a.log();
  EXPECT_LT(Steady::now() - term, testing::Stretched(seconds(5)));
  ASSERT_TRUE(WaitFor([&] { return !Holder().empty() && Holder() != a_identity; }, seconds(4)))
      << "holder still " << Holder();
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {0, 0, 0, 0, 100, 100})
                  .ok());
  EXPECT_TRUE(WaitFor([&] { return Replicas("app") == 4; }, seconds(8))) << b.log();
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
  ASSERT_NO_FATAL_FAILURE(StartLeaderThenFollower());
  Subprocess& a = *leader_;
  Subprocess& b = *follower_;
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 1 && Writes("token-a") > 0; }, seconds(10)));
  ASSERT_TRUE(WaitForLeaseAttempt("token-b")) << "b has seen a's lease renewed";
  a.Signal(SIGKILL);
  EXPECT_EQ(a.Wait(seconds(2)), 128 + SIGKILL);
  const auto killed = Steady::now();
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {100, 100, 100, 0, 0, 0})
                  .ok());
  // Lease duration 15 s, plus one retry period for b to notice.
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 3; }, seconds(25))) << b.log();
  const auto elapsed = Steady::now() - killed;
  EXPECT_GT(elapsed, seconds(10)) << "b must wait for the lease to expire";
  // a's last renewal was seen up to one retry period late; b retries every
  // 2 s; then one reconcile.
  EXPECT_LT(elapsed, seconds(15 + 2 + 2 + 1));
  EXPECT_GT(Writes("token-b"), 0);
}

// The API server refuses the Lease past the renew deadline (as when it is
// away): the leader stops reconciling but keeps running (no restart, ready
// as a follower), and once the Lease answers again it leads again in the
// same process and acts on a lag step.
TEST_F(ControllerBinary, ALostLeaseStopsTheTermAndTheSameProcessLeadsAgain) {
  Subprocess* a = StartController("token-a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Replicas("app") == 1 && Writes("token-a") > 0; }, seconds(10)))
      << a->log();
  server_->InjectFault({.path_contains = "/leases/", .count = 1000, .status_code = 503});
  ASSERT_TRUE(
      WaitFor([&] { return a->log().find("leadership lost") != std::string::npos; }, seconds(20)))
      << a->log();
  const int writes = Writes("token-a");
  ASSERT_TRUE(groupscaler::testing::ProduceCounts(cluster_->bootstrap_servers(), "orders",
                                                  {100, 100, 100, 0, 0, 0})
                  .ok());
  std::this_thread::sleep_for(testing::Stretched(seconds(3)));
  EXPECT_EQ(Writes("token-a"), writes) << "no write without the Lease";
  EXPECT_EQ(Replicas("app"), 1);
  EXPECT_FALSE(a->Wait(seconds(0)).has_value()) << "still running";
  EXPECT_EQ(testing::HttpGet(HealthPort(*a), "/readyz").code, 200);

  server_->ClearFaults();
  EXPECT_TRUE(WaitFor([&] { return Replicas("app") == 3; }, seconds(15))) << a->log();
  EXPECT_FALSE(a->Wait(seconds(0)).has_value());
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
    std::vector<std::string> argv = {GROUPSCALER_BINARY, "controller"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const testing::RunResult r = testing::RunProcess(argv, seconds(10));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr(c.want));
  }
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace groupscaler::controller
