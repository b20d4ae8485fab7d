#pragma once

// The fixture of the end-to-end tests on a real Kubernetes control plane
// (support/kube_control_plane.h): one control plane per test binary, the
// chart installed into it once with the real `helm`, a namespace per test,
// librdkafka's mock cluster as the Kafka, and the real `groupscaler
// controller` running with the chart ServiceAccount's token, so that it has
// exactly the chart's rights. Everything runs in real time: tests poll.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/kube_control_plane.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler::testing {

// Where the chart is installed, and the ServiceAccount the controller runs as.
inline constexpr const char* kReleaseNamespace = "groupscaler";
inline constexpr const char* kRelease = "groupscaler";
inline constexpr const char* kServiceAccount = "groupscaler";

// The control plane of this test binary, started by the first caller and
// stopped at exit; null (with the reason in `error`) when it cannot start.
KubeControlPlane* SharedControlPlane(std::string* error = nullptr);

// `helm` with the control plane's admin kubeconfig.
RunResult Helm(const KubeControlPlane& plane, const std::vector<std::string>& args);

// The source tree's path of `relative` ("charts/groupscaler").
std::filesystem::path SourcePath(const std::string& relative);

// Condition `type` of an autoscaler's `status` (null when absent).
nlohmann::json ConditionOf(const nlohmann::json& status, const std::string& type);

class ClusterTest : public ::testing::Test {
 protected:
  // Starts (or reuses) the control plane, makes this test's namespace
  // ns_ and directory dir_, installs the chart (unless NeedsChart() says
  // not) and starts a one-broker mock Kafka.
  void SetUp() override;
  virtual bool NeedsChart() const { return true; }
  // Stops every process started, deletes the namespace.
  void TearDown() override;

  KubeControlPlane& plane() { return *plane_; }

  // kubectl ARGS -n ns_, as the admin.
  RunResult Kubectl(std::vector<std::string> args);
  // kubectl apply of `object` (namespace defaulted to ns_; a null
  // metadata.namespace for cluster-scoped objects); fails the test when
  // kubectl does.
  void Apply(const nlohmann::json& object);
  // kubectl get RESOURCE NAME -o json in ns_; null when absent.
  nlohmann::json Get(const std::string& resource, const std::string& name);

  // Installs the chart as release kRelease in kReleaseNamespace with
  // `values` ("key=value" for --set), unless an install with exactly these
  // values is there already (an upgrade otherwise), and waits until its CRD
  // is established.
  void InstallChart(const std::vector<std::string>& values = {});
  // A kubeconfig of the chart's ServiceAccount.
  std::filesystem::path ChartServiceAccountKubeconfig();

  // Starts `groupscaler controller --kubeconfig KUBECONFIG FLAGS...` with
  // text logs at debug level into dir_/`log_name`.
  Subprocess* StartController(const std::filesystem::path& kubeconfig,
                              const std::vector<std::string>& flags = {},
                              const std::string& log_name = "controller.log");
  // The controller as the chart ServiceAccount, watching every namespace.
  Subprocess* StartChartController(const std::vector<std::string>& flags = {});

  // A topic "orders-<ns_>" of `partitions` partitions on the mock Kafka with
  // `lag` messages on each partition beyond `group`'s committed offset 0.
  std::string TopicWithLag(const std::string& group, int partitions, int64_t lag_per_partition);

  // A Deployment (or StatefulSet) `name` with `replicas`, selecting
  // app=`name`, and an autoscaler for it in ns_ (support/e2e.h's, on the mock
  // Kafka and the given topic, with the lag policy at lagThreshold 1000 and
  // scale-ups in one step), spec merged with `spec_overrides`.
  nlohmann::json Workload(const std::string& kind, const std::string& name, int replicas);
  nlohmann::json Autoscaler(const std::string& name, const std::string& topic,
                            const nlohmann::json& spec_overrides = nlohmann::json::object());

  // Of autoscaler `name` in ns_: its status (an empty object until the
  // controller wrote one, so that value() reads a default), condition
  // `type` (null when absent), and `kubectl get cga NAME` as columns.
  nlohmann::json Status(const std::string& name);
  nlohmann::json Condition(const std::string& name, const std::string& type);
  std::map<std::string, std::string> PrinterColumns(const std::string& name);
  // spec.replicas of `kind` ("deployment", "statefulset") `name`; -1 absent.
  int Replicas(const std::string& kind, const std::string& name);
  // The Events of ns_ about `involved_name`, as the API server has them.
  std::vector<nlohmann::json> Events(const std::string& involved_name);

  // The API server's audit records (responses) of `user` since this test
  // started, with `code` when non-zero.
  std::vector<nlohmann::json> Audit(const std::string& user, int code = 0);

  KubeControlPlane* plane_ = nullptr;
  std::string ns_;
  std::filesystem::path dir_;
  std::unique_ptr<MockCluster> kafka_;
  std::vector<std::unique_ptr<Subprocess>> processes_;
  size_t audit_start_ = 0;
};

// The chart ServiceAccount's user name.
std::string ChartUser();

}  // namespace groupscaler::testing
