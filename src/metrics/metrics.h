#pragma once

// groupscaler's Prometheus metrics: a prometheus-cpp registry holding every
// family (see README.md, "Metrics"), fed through the controller's
// MetricsSink interface, and served on /metrics.
//
// Usable without the rest of the controller, e.g. by the demo:
//
//   metrics::Metrics metrics({.partition_lag = false});
//   if (Status s = metrics.Serve("127.0.0.1:0"); !s.ok()) ...;  // metrics.port()
//   metrics.SetLeader(true);  // no leader election
//   controller::Reconciler reconciler({..., .metrics = &metrics});
//
// Series of one autoscaler follow what its last reconcile knew: anything
// unknown (lag while Kafka cannot be read, a topic no longer consumed, the
// whole autoscaler once deleted) is removed, never exported as 0.
// Thread-safe.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "controller/metrics_sink.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace groupscaler::metrics {

// The version this binary was built as (CMake's project version, "0.1.0"),
// as `groupscaler --version` prints it.
std::string_view Version();

struct MetricsOptions {
  // Export groupscaler_partition_lag_messages, one series per partition
  // (--metrics-partition-lag; off by default for cardinality).
  bool partition_lag = false;
  // The version label of groupscaler_build_info.
  std::string version = std::string(Version());
};

class Metrics final : public controller::MetricsSink {
 public:
  explicit Metrics(MetricsOptions options = {});
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves /metrics on `bind_address`: "host:port" or ":port" (every IPv4
  // interface); port 0 picks a free one (see port()). INVALID_ARGUMENT for
  // a malformed address, UNAVAILABLE when it cannot listen there (the
  // message says why), FAILED_PRECONDITION when already serving. Stops
  // serving when destroyed.
  Status Serve(const std::string& bind_address);
  // The port /metrics is served on; 0 before Serve.
  int port() const { return port_; }
  // Stops serving (the destructor does too). Takes up to 2 s (civetweb
  // polls for its stop flag), so a shutdown can run it alongside other
  // work; the sink methods stay usable meanwhile. Not concurrent with Serve.
  void StopServing();

  // Every series in the text exposition format, as /metrics answers
  // (without the HTTP server's own exposer_* series).
  std::string Scrape() const;
  // The registry behind /metrics, for metrics of one's own.
  prometheus::Registry& registry() { return *registry_; }

  // controller::MetricsSink.
  void RecordAutoscaler(const controller::AutoscalerSample& sample) override;
  void ForgetAutoscaler(const std::string& namespace_name, const std::string& name) override;
  void RecordReconcile(controller::ReconcileResult result,
                       std::chrono::duration<double> duration) override;
  void SetWorkQueueDepth(size_t depth) override;
  void ObserveWorkQueueWait(std::chrono::duration<double> wait) override;
  void SetWorkers(size_t workers) override;
  void AddKafkaRequests(const kafka::RequestCounts& delta) override;
  void CountKafkaError(controller::KafkaErrorKind kind) override;
  void CountKubeRequest(std::string_view verb, std::string_view code) override;
  // Starts at 0; call SetLeader(true) when leader election is off.
  void SetLeader(bool leader) override;

 private:
  using Labels = std::map<std::string, std::string>;
  using GaugeFamily = prometheus::Family<prometheus::Gauge>;
  using CounterFamily = prometheus::Family<prometheus::Counter>;

  // What is exported for one autoscaler beyond its fixed label sets.
  struct Exported {
    std::string group;  // of the group-labelled series; empty: none
    // Label sets of the per-topic and per-partition series, by family.
    std::map<GaugeFamily*, std::set<Labels>> series;
    // The value groupscaler_rebalances_caused_total shows.
    std::optional<int64_t> rebalances;
  };

  // The constructor's two halves: the families of each autoscaler's series,
  // and those of the controller itself.
  void RegisterAutoscalerSeries(prometheus::Registry& r);
  void RegisterControllerSeries(prometheus::Registry& r);

  // RecordAutoscaler's steps, under mu_, for the group labels `l`: the
  // one-value gauges; the per-topic and per-partition series; the scale
  // and rebalance counters.
  void SetGroupGauges(const Labels& l, const controller::AutoscalerSample& s);
  void SetTopicSeries(const Labels& l, const controller::AutoscalerSample& s, Exported& e);
  void CountChanges(const Labels& l, const controller::AutoscalerSample& s, Exported& e);

  void RemoveGroupSeriesLocked(const std::string& namespace_name, const std::string& name,
                               const Exported& exported);
  // Sets `family` to exactly `wanted` among the series recorded in
  // `exported`, removing the others.
  static void SetSeries(GaugeFamily& family, const std::map<Labels, double>& wanted,
                        Exported& exported);

  const MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;

  // Per autoscaler.
  GaugeFamily* lag_;
  GaugeFamily* topic_lag_;
  GaugeFamily* partition_lag_;
  GaugeFamily* partitions_;
  GaugeFamily* ceiling_;
  GaugeFamily* current_replicas_;
  GaugeFamily* desired_replicas_;
  GaugeFamily* members_;
  GaugeFamily* produce_rate_;
  GaugeFamily* consume_rate_;
  CounterFamily* scale_events_;
  GaugeFamily* at_ceiling_;
  GaugeFamily* idle_members_;
  GaugeFamily* spec_valid_;
  GaugeFamily* kafka_reachable_;
  GaugeFamily* last_observation_;
  GaugeFamily* max_time_lag_;
  GaugeFamily* stalled_partitions_;
  CounterFamily* rebalances_;

  // The controller.
  CounterFamily* reconciles_;
  prometheus::Histogram* reconcile_duration_;
  prometheus::Gauge* workqueue_depth_;
  prometheus::Gauge* workers_;
  prometheus::Histogram* workqueue_wait_;
  CounterFamily* kafka_requests_;
  CounterFamily* kafka_errors_;
  CounterFamily* kube_requests_;
  prometheus::Gauge* leader_;

  std::mutex mu_;  // autoscalers_, and the series of one autoscaler
  std::map<std::pair<std::string, std::string>, Exported> autoscalers_;

  // Last: stops serving before anything above goes.
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace groupscaler::metrics
