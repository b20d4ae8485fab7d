#pragma once

// What the soak runs and breaks: a real Kubernetes control plane (RBAC, the
// raw manifests applied as a user would), a three-broker real Kafka, two
// `groupscaler controller --leader-elect` processes (each its own
// ServiceAccount, so that the audit log tells their writes apart), the
// autoscalers with their Deployments, the consumer replicas of the live
// groups (example_consumer processes, as many as each Deployment asks), and
// a producer whose rate changes.
//
// Threads: the fault executor (the main thread) and the monitor share it;
// every member says which thread may call it. The Kafka cluster and the
// control plane are driven by the executor only.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo/ledger.h"
#include "demo/replica_set.h"
#include "soak/invariants.h"
#include "soak/kube_side.h"
#include "support/kafka_broker.h"
#include "support/subprocess.h"

namespace groupscaler::soak {

struct WorldOptions {
  std::filesystem::path dir;
  int live_groups = 4;            // groups with consumer processes (6 partitions, 3 replicas)
  int static_groups = 20;         // groups with a fixed backlog and no consumers
  int poll_seconds = 5;           // the autoscalers' pollIntervalSeconds
  double max_produce_rate = 150;  // per live topic, messages/s
  uint64_t seed = 1;
};

// Seconds since the soak started.
double Elapsed();
// Seconds since the epoch (the metrics' timestamps).
double WallSeconds();

// One autoscaler and its Deployment (same name), as the soak last wrote it.
struct AutoscalerState {
  std::string name;
  std::string topic;
  std::string group;
  bool live = false;           // has consumer replicas
  int replication_factor = 3;  // of its topic
  int partitions = 0;          // of its topic
  nlohmann::json spec;         // what was applied (valid)
  bool exists = false;
  std::optional<double> paused_since, deleted_since;
};

// One of the two controller processes.
struct ControllerSlot {
  std::string name;  // "a", "b"
  std::filesystem::path kubeconfig;
  std::unique_ptr<testing::Subprocess> process;
  int incarnation = 0;
  std::filesystem::path log_path;
  // Set by the executor before it kills or stops the process on purpose.
  bool exit_expected = false;
  struct RssSample {
    double t = 0;
    long kib = 0;
  };
  std::vector<std::vector<RssSample>> rss;  // per incarnation
};

class World {
 public:
  World(WorldOptions options, std::unique_ptr<KubeSide> kube, Counters* counters);
  ~World();

  // Starts everything; a Status naming what could not start.
  Status Start();
  // Stops the producer, waits up to `drain` for the live groups' lag to
  // reach zero, stops the controllers and the consumers.
  void Finish(std::chrono::seconds drain);

  // ---- executor thread ----
  KubeSide& kube() { return *kube_; }
  testing::KafkaCluster& kafka() { return *kafka_; }
  void SetBrokerDown(int id, bool down);
  void SetClusterDown(bool down);
  // kubectl apply of autoscaler `i`'s Deployment / spec (its `spec` or
  // `override`); deletes.
  Status ApplyDeployment(size_t i);
  Status DeleteDeployment(size_t i);
  Status ApplyAutoscaler(size_t i, const std::optional<nlohmann::json>& override = std::nullopt);
  Status DeleteAutoscaler(size_t i);
  // A new static autoscaler (its own group on a static topic); its index.
  StatusOr<size_t> AddStaticAutoscaler();
  // The slot holding the Lease now, if its process runs.
  std::optional<size_t> LeaderSlot();
  ControllerSlot& slot(size_t i) { return slots_.at(i); }
  std::mutex& mu() { return mu_; }
  std::vector<AutoscalerState>& autoscalers() { return autoscalers_; }  // under mu()
  void KillConsumer(size_t live_index);
  size_t live_groups() const { return consumers_.size(); }
  const std::vector<std::string>& static_topics() const { return static_topics_; }
  // Runs `groupscaler lag -o json` for `group` over SASL, keeping its output
  // for the secrets check; the parsed JSON, or null.
  nlohmann::json Lag(const std::string& group, const std::string& topic);

  // ---- monitor thread ----
  // One round: replicas against the invariants, consumers synced to the
  // Deployments, controllers that exited restarted, statuses scanned.
  void Tick(ReplicaWatch& watch);
  // Every few ticks: each controller's /metrics and RSS.
  void Sample();

  // ---- after Finish ----
  // The final checks: bounds, observations, lost messages, writers,
  // secrets, RSS; figures for the report.
  void FinalChecks(double rss_growth_bound_mib, double stuck_bound_seconds);
  std::string Figures() const;
  // The controllers' scalings and changes of leader, in time order, each at
  // the soak's t: what to read first when a counter moved.
  std::string DecisionLog() const;
  std::vector<std::string> secrets() const { return {secret_}; }
  // The soak let controller `slot`, stopped while leading, continue now.
  void NoteContinued(size_t slot);

 private:
  Status StartKafka();
  Status StartKube();
  Status CreateWorkloads();
  Status StartController(size_t slot);
  Status MakeStaticBacklog(const std::string& topic, const std::string& group, int partitions);
  nlohmann::json DeploymentObject(const AutoscalerState& a, int replicas) const;
  nlohmann::json AutoscalerObject(const AutoscalerState& a, const nlohmann::json& spec) const;
  void RestartExitedControllers();
  void SyncConsumers(const std::map<std::string, int>& replicas);
  TargetContext ContextOf(const AutoscalerState& a, int replicas) const;
  std::optional<double> BlindSince(const AutoscalerState& a) const;
  void ScanForSecrets(const std::string& where, const std::string& text);
  void ProduceLoop(std::stop_token stop);
  int Bound(const AutoscalerState& a) const;
  void CheckBoundsAtEnd();
  // Against the leader's last scrape, taken just before.
  void CheckObservationsAtEnd(double stuck_bound_seconds);
  void CheckLostMessages();
  static std::string Undrained(const nlohmann::json& lag);
  void CheckWriters();
  void CheckLogsAndEvents();
  std::filesystem::path LogOf(const ControllerSlot& slot, int incarnation) const;
  void CheckRss(double bound_mib);

  const WorldOptions options_;
  Counters* const counters_;
  std::unique_ptr<KubeSide> kube_;
  std::unique_ptr<testing::KafkaCluster> kafka_;
  std::string secret_;
  std::filesystem::path auth_file_;

  mutable std::mutex mu_;
  std::vector<AutoscalerState> autoscalers_;
  std::vector<std::string> static_topics_;
  std::optional<double> cluster_down_since_;
  std::map<int, double> broker_down_since_;
  std::vector<ControllerSlot> slots_;
  struct LiveGroup {
    std::string name;
    std::unique_ptr<demo::Ledger> ledger;
    std::unique_ptr<demo::ReplicaSet> replicas;
  };
  std::vector<LiveGroup> consumers_;
  std::string last_leader_metrics_;
  double last_leader_scrape_at_ = 0;  // seconds since the epoch
  int extra_autoscalers_ = 0;
  std::vector<Pause> pauses_;
  int delivered_after_pause_ = 0;

  std::atomic<int64_t> produced_{0};
  std::atomic<int64_t> produce_errors_{0};
  std::jthread producer_;
};

}  // namespace groupscaler::soak
