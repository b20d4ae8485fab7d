#pragma once

// groupscaler's Prometheus metrics (see README.md, "Metrics"), fed through
// the controller's MetricsSink interface, and served on /metrics by a
// civetweb handler of our own: the controller's series in a prometheus-cpp
// registry, each autoscaler's in AutoscalerSeries' compact records, written
// out one family at a time (autoscaler_series.h).
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
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "controller/metrics_sink.h"
#include "metrics/autoscaler_series.h"

class CivetServer;

namespace prometheus {
class Counter;
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

  // Every series in the text exposition format, as /metrics answers.
  std::string Scrape() const;

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
  // Starts at 0; call SetLeader(true) when leader election is off. false
  // also drops every per-autoscaler series (a follower exports none).
  void SetLeader(bool leader) override;

 private:
  class Handler;  // GET /metrics
  using CounterFamily = prometheus::Family<prometheus::Counter>;

  void RegisterControllerSeries(prometheus::Registry& r);
  // The exposition, piece by piece, as AutoscalerSeries::Write: the
  // registry's series, then each autoscaler family.
  bool Write(const AutoscalerSeries::Writer& write) const;

  const MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  AutoscalerSeries autoscalers_;

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

  // Last: stops serving before anything above goes.
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace groupscaler::metrics
