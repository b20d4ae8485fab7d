#pragma once

// The end-to-end set-up of the controller, metrics and monitoring tests: the
// test Kubernetes API server over real HTTP, librdkafka's mock cluster over
// TCP, and the controller under test, either in this process or as the real
// `groupscaler` binary. Everything runs in real time, so tests poll
// (WaitFor, subprocess.h).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "controller/controller.h"
#include "kafka/lag_reader.h"
#include "kube/kube_client.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler::testing {

// The namespace of the objects the builders below make.
inline constexpr const char* kNamespace = "payments";
// The autoscalers' pollIntervalSeconds.
inline constexpr int kPollSeconds = 1;

// Deployment `name` in kNamespace with `replicas` (spec and status),
// selecting app=`name`.
nlohmann::json Deployment(const std::string& name, int replicas);

// ConsumerGroupAutoscaler `name` in kNamespace for Deployment `name` and
// group `name` on topic "orders" at `bootstrap` ("host:port,..."):
// minReplicas 1, maxReplicas 24, lagThreshold 100, alignment none, a poll
// every kPollSeconds; `spec_overrides` is merge-patched into the spec.
nlohmann::json Autoscaler(const std::string& name, const std::string& bootstrap,
                          const nlohmann::json& spec_overrides = nlohmann::json::object());

// N of the first "`what` on port N" in `process`'s log, waiting up to
// `timeout` for it to be written; 0 when none.
int PortInLog(const Subprocess& process, const std::string& what,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

struct InProcessOptions {
  std::string namespace_name;  // empty: every namespace
  int workers = 2;
  bool read_workloads = false;  // the pod-template check (anti_pattern.h)
};

// Starts the API server, a mock cluster of `brokers` brokers, a KubeClient
// for the server and a scratch directory; stops all, and every controller
// and process started, at the end of the test.
// Counts each autoscaler's reconciles that published a sample (every one
// but a failed one); the rest of MetricsSink is dropped. Thread-safe.
class ReconcileCounter final : public controller::MetricsSink {
 public:
  int count(const std::string& name) const;

  void RecordAutoscaler(const controller::AutoscalerSample& sample) override;
  void ForgetAutoscaler(const std::string&, const std::string&) override {}
  void RecordReconcile(controller::ReconcileResult, std::chrono::duration<double>) override {}
  void SetWorkQueueDepth(size_t) override {}
  void SetWorkers(size_t) override {}
  void ObserveWorkQueueWait(std::chrono::duration<double>) override {}
  void AddKafkaRequests(const kafka::RequestCounts&) override {}
  void CountKafkaError(controller::KafkaErrorKind) override {}
  void CountKubeRequest(std::string_view, std::string_view) override {}
  void SetLeader(bool) override {}

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;  // by name
};

class EndToEndTest : public ::testing::Test {
 protected:
  explicit EndToEndTest(int brokers = 1) : brokers_(brokers) {}
  void SetUp() override;
  void TearDown() override;

  // Creates `topic` and commits `offset` on each of its partitions for
  // `group`, so that every message produced past it is lag.
  void Topic(const std::string& topic, int partitions, const std::string& group,
             int64_t offset = 0);
  void CommitAll(const std::string& topic, int partitions, const std::string& group,
                 int64_t offset);

  // Creates or replaces `object` in `resource` ("deployments", ...).
  void Put(const std::string& resource, const nlohmann::json& object);
  // Of autoscaler `name` in kNamespace: its status, null when it has none.
  nlohmann::json GetStatus(const std::string& name);
  // Its condition `type`, null when absent; the condition's status, "" when absent.
  nlohmann::json Condition(const std::string& name, const std::string& type);
  std::string ConditionStatus(const std::string& name, const std::string& type);
  // Deployment `name`'s spec.replicas, -1 when absent.
  int Replicas(const std::string& name);
  // PATCHes of Deployment `name`'s /scale received.
  int ScalePatches(const std::string& name);
  // Events with `reason` posted.
  int Events(const std::string& reason);
  // Waits until the in-process controller has reconciled autoscaler `name`
  // `times` more times (reconciles that failed do not count), at most
  // `times` poll intervals plus 5 s; whether it did. What a "nothing
  // changes over further polls" assertion waits on.
  bool WaitForPolls(const std::string& name, int times);

  // The controller in this process: client_ for every Kubernetes call, a
  // fresh pool of librdkafka readers, Kafka observations bounded at 1.5 s.
  void StartController(const InProcessOptions& options = {});

  // Starts `argv` with its stderr in dir_/`log_name`; null (and a test
  // failure) when it cannot.
  Subprocess* StartProcess(const std::vector<std::string>& argv, const std::string& log_name);
  // Starts `groupscaler controller --kubeconfig K flags...`, K naming the API
  // server, namespace "system" and bearer `token`, by which the server's
  // request log tells processes apart; its log is dir_/`token`.log.
  Subprocess* StartBinary(const std::string& token, const std::vector<std::string>& flags);

  RealClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<KubeApiServer> server_;
  std::unique_ptr<MockCluster> cluster_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<kafka::LagReaderPool> registry_;
  std::unique_ptr<controller::Controller> controller_;
  ReconcileCounter reconciles_;

 private:
  const int brokers_;
  std::vector<std::unique_ptr<Subprocess>> processes_;
};

}  // namespace groupscaler::testing
