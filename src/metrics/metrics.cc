#include "metrics/metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "common/host_port.h"

namespace groupscaler::metrics {
namespace {

using prometheus::Labels;

// Reconcile latency: a reconcile is a few API round trips plus one Kafka
// observation (up to its 3 s deadline).
const prometheus::Histogram::BucketBoundaries kReconcileBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// Queue waits: near zero while workers keep up, up to minutes when not.
const prometheus::Histogram::BucketBoundaries kQueueBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                               1,     5,     10,   30,   60,  300};

Labels AutoscalerLabels(const std::string& namespace_name, const std::string& name) {
  return {{"namespace", namespace_name}, {"name", name}};
}

Labels GroupLabels(const std::string& namespace_name, const std::string& name,
                   const std::string& group) {
  return {{"namespace", namespace_name}, {"name", name}, {"group", group}};
}

Labels With(Labels labels, const std::string& key, const std::string& value) {
  labels[key] = value;
  return labels;
}

template <typename T>
void Remove(prometheus::Family<T>& family, const Labels& labels) {
  if (family.Has(labels)) family.Remove(&family.Add(labels));
}

template <typename V>
void SetOrRemove(prometheus::Family<prometheus::Gauge>& family, const Labels& labels,
                 const std::optional<V>& value) {
  if (value) {
    family.Add(labels).Set(static_cast<double>(*value));
  } else {
    Remove(family, labels);
  }
}

std::optional<double> ZeroOne(const std::optional<bool>& value) {
  if (!value) return std::nullopt;
  return *value ? 1.0 : 0.0;
}

prometheus::Family<prometheus::Gauge>& RegisterGauge(prometheus::Registry& registry,
                                                     const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& RegisterCounter(prometheus::Registry& registry,
                                                         const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

// Why nothing can listen on host:port, from the socket layer (civetweb
// only says that it failed).
std::string WhyCannotListen(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return ::gai_strerror(rc);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  const Fd fd(::socket(found->ai_family, found->ai_socktype, found->ai_protocol));
  if (fd.get() < 0 || ::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0 ||
      ::listen(fd.get(), 1) != 0) {
    return std::strerror(errno);
  }
  return "cannot listen";
}

}  // namespace

std::string_view Version() { return GROUPSCALER_VERSION; }

Metrics::Metrics(MetricsOptions options)
    : options_(std::move(options)), registry_(std::make_shared<prometheus::Registry>()) {
  RegisterAutoscalerSeries(*registry_);
  RegisterControllerSeries(*registry_);
}

void Metrics::RegisterAutoscalerSeries(prometheus::Registry& r) {
  const struct {
    GaugeFamily** family;
    const char* name;
    const char* help;
  } gauges[] = {
      {&lag_, "groupscaler_consumer_group_lag_messages",
       "Messages the consumer group has not consumed yet, over all its topics; absent while "
       "unknown"},
      {&topic_lag_, "groupscaler_topic_lag_messages",
       "Messages the consumer group has not consumed yet, per topic"},
      {&partition_lag_, "groupscaler_partition_lag_messages",
       "Messages the consumer group has not consumed yet, per partition (only with "
       "--metrics-partition-lag)"},
      {&partitions_, "groupscaler_partitions", "Partitions of the group's topics"},
      {&ceiling_, "groupscaler_replica_ceiling",
       "Most replicas that can have work: min(maxReplicas, partitions / consumersPerReplica)"},
      {&current_replicas_, "groupscaler_current_replicas", "Replicas of the scale target"},
      {&desired_replicas_, "groupscaler_desired_replicas", "Replicas groupscaler decided"},
      {&members_, "groupscaler_group_members",
       "Members of the consumer group, where the broker reports them"},
      {&produce_rate_, "groupscaler_produce_rate_messages_per_second",
       "Messages produced to the topic per second, smoothed"},
      {&consume_rate_, "groupscaler_consume_rate_messages_per_second",
       "Messages the group consumed from the topic per second, smoothed"},
      {&at_ceiling_, "groupscaler_at_partition_ceiling",
       "1 when lag asks for at least the replica ceiling: more replicas cannot help, more "
       "partitions can"},
      {&idle_members_, "groupscaler_idle_members",
       "1 when current replicas or group members exceed the ceiling and some stay idle"},
      {&spec_valid_, "groupscaler_spec_valid", "1 when the autoscaler's spec is valid"},
      {&kafka_reachable_, "groupscaler_kafka_reachable",
       "1 when the last observation of the group succeeded"},
      {&last_observation_, "groupscaler_last_observation_timestamp_seconds",
       "Unix time of the last successful observation of the group"},
      {&max_time_lag_, "groupscaler_max_time_lag_seconds",
       "Age of the oldest unconsumed message over the group's partitions, where known"},
      {&stalled_partitions_, "groupscaler_stalled_partitions",
       "Partitions with lag whose committed offset stopped moving"},
  };
  for (const auto& g : gauges) *g.family = &RegisterGauge(r, g.name, g.help);
  scale_events_ =
      &RegisterCounter(r, "groupscaler_scale_events_total",
                       "Changes of the target's replicas made by groupscaler, by direction");
  rebalances_ = &RegisterCounter(r, "groupscaler_rebalances_caused_total",
                                 "Consumer group rebalances caused by groupscaler's scale changes");
}

void Metrics::RegisterControllerSeries(prometheus::Registry& r) {
  reconciles_ = &RegisterCounter(r, "groupscaler_reconciles_total", "Reconciles, by result");
  for (auto result : {controller::ReconcileResult::kSuccess, controller::ReconcileResult::kError,
                      controller::ReconcileResult::kHold}) {
    reconciles_->Add({{"result", std::string(controller::ReconcileResultName(result))}});
  }
  reconcile_duration_ = &prometheus::BuildHistogram()
                             .Name("groupscaler_reconcile_duration_seconds")
                             .Help("Time one reconcile took")
                             .Register(r)
                             .Add({}, kReconcileBuckets);
  workqueue_depth_ = &RegisterGauge(r, "groupscaler_workqueue_depth",
                                    "Autoscalers due for a reconcile and waiting for a worker")
                          .Add({});
  workers_ = &RegisterGauge(r, "groupscaler_workers",
                            "Worker threads reconciling: they grow while due autoscalers wait "
                            "for a busy pool, up to --workers")
                  .Add({});
  workqueue_wait_ = &prometheus::BuildHistogram()
                         .Name("groupscaler_workqueue_queue_duration_seconds")
                         .Help("Time an autoscaler waited for a worker once due")
                         .Register(r)
                         .Add({}, kQueueBuckets);
  kafka_requests_ =
      &RegisterCounter(r, "groupscaler_kafka_requests_total",
                       "Requests sent to Kafka, by API (from librdkafka's statistics)");
  kafka_errors_ =
      &RegisterCounter(r, "groupscaler_kafka_errors_total", "Failed Kafka observations, by kind");
  for (auto kind : {controller::KafkaErrorKind::kUnreachable, controller::KafkaErrorKind::kTimeout,
                    controller::KafkaErrorKind::kCoordinator, controller::KafkaErrorKind::kTopic,
                    controller::KafkaErrorKind::kAuth, controller::KafkaErrorKind::kOther}) {
    kafka_errors_->Add({{"kind", std::string(controller::KafkaErrorKindName(kind))}});
  }
  kube_requests_ =
      &RegisterCounter(r, "groupscaler_kube_api_requests_total",
                       "HTTP requests to the Kubernetes API server, by verb and status code");
  leader_ = &RegisterGauge(r, "groupscaler_leader",
                           "1 when this process holds the leader Lease or leader election is off")
                 .Add({});
  RegisterGauge(r, "groupscaler_build_info", "The running groupscaler's version; always 1")
      .Add({{"version", options_.version}})
      .Set(1);
}

Metrics::~Metrics() = default;

Status Metrics::Serve(const std::string& bind_address) {
  if (exposer_)
    return FailedPreconditionError("metrics are already served on port " + std::to_string(port_));
  StatusOr<HostPort> address = ParseHostPort(bind_address);
  // civetweb, as prometheus-cpp builds it, listens on IPv4 only.
  if (!address.ok() || address->host.find(':') != std::string::npos) {
    return InvalidArgumentError("metrics address '" + bind_address +
                                "' is not host:port or :port (IPv4)");
  }
  const std::string& host = address->host;
  const std::string port = std::to_string(address->port);
  try {
    // civetweb: a bare port listens on every IPv4 interface.
    exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", host.empty() ? port : bind_address, "num_threads", "2"});
  } catch (const std::exception&) {
    return UnavailableError("cannot serve metrics on " + bind_address + ": " +
                            WhyCannotListen(host, port));
  }
  exposer_->RegisterCollectable(registry_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return Status::Ok();
}

void Metrics::StopServing() { exposer_.reset(); }

std::string Metrics::Scrape() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void Metrics::SetSeries(GaugeFamily& family, const std::map<Labels, double>& wanted,
                        Exported& exported) {
  std::set<Labels>& had = exported.series[&family];
  for (const Labels& labels : had) {
    if (!wanted.contains(labels)) Remove(family, labels);
  }
  had.clear();
  for (const auto& [labels, value] : wanted) {
    family.Add(labels).Set(value);
    had.insert(labels);
  }
}

void Metrics::RemoveGroupSeriesLocked(const std::string& namespace_name, const std::string& name,
                                      const Exported& exported) {
  if (exported.group.empty()) return;
  const Labels labels = GroupLabels(namespace_name, name, exported.group);
  for (GaugeFamily* family :
       {lag_, partitions_, ceiling_, current_replicas_, desired_replicas_, members_, at_ceiling_,
        idle_members_, kafka_reachable_, last_observation_, max_time_lag_, stalled_partitions_}) {
    Remove(*family, labels);
  }
  for (const char* direction : {"up", "down"}) {
    Remove(*scale_events_, With(labels, "direction", direction));
  }
  Remove(*rebalances_, labels);
  for (const auto& [family, series] : exported.series) {
    for (const Labels& l : series) Remove(*family, l);
  }
}

void Metrics::RecordAutoscaler(const controller::AutoscalerSample& s) {
  std::lock_guard lock(mu_);
  spec_valid_->Add(AutoscalerLabels(s.namespace_name, s.name)).Set(s.spec_valid ? 1 : 0);
  Exported& e = autoscalers_[{s.namespace_name, s.name}];
  if (e.group != s.group) {
    RemoveGroupSeriesLocked(s.namespace_name, s.name, e);
    e = Exported{.group = s.group};
  }
  if (s.group.empty()) return;
  const Labels l = GroupLabels(s.namespace_name, s.name, s.group);

  SetGroupGauges(l, s);
  SetTopicSeries(l, s, e);
  CountChanges(l, s, e);
}

void Metrics::SetGroupGauges(const Labels& l, const controller::AutoscalerSample& s) {
  SetOrRemove(*lag_, l, s.figures.total_lag);
  SetOrRemove(*partitions_, l, s.figures.partitions);
  SetOrRemove(*ceiling_, l, s.figures.ceiling);
  SetOrRemove(*current_replicas_, l, s.figures.current_replicas);
  SetOrRemove(*desired_replicas_, l, s.figures.desired_replicas);
  SetOrRemove(*members_, l, s.figures.members);
  SetOrRemove(*at_ceiling_, l, ZeroOne(s.at_ceiling));
  SetOrRemove(*idle_members_, l, ZeroOne(s.idle_members));
  SetOrRemove(*kafka_reachable_, l, ZeroOne(s.kafka_reachable));
  SetOrRemove(*max_time_lag_, l, s.figures.max_time_lag_seconds);
  SetOrRemove(*stalled_partitions_, l, s.stalled_partitions);
  if (s.observed_at) {
    last_observation_->Add(l).Set(
        std::chrono::duration<double>(s.observed_at->time_since_epoch()).count());
  }
}

void Metrics::SetTopicSeries(const Labels& l, const controller::AutoscalerSample& s, Exported& e) {
  std::map<Labels, double> topic_lag, produce, consume, partition_lag;
  for (const controller::TopicSample& t : s.topics) {
    const Labels tl = With(l, "topic", t.topic);
    if (t.lag) topic_lag[tl] = static_cast<double>(*t.lag);
    if (t.produce_rate) produce[tl] = *t.produce_rate;
    if (t.consume_rate) consume[tl] = *t.consume_rate;
  }
  if (options_.partition_lag) {
    for (const controller::PartitionSample& p : s.partitions) {
      partition_lag[With(With(l, "topic", p.topic), "partition", std::to_string(p.partition))] =
          static_cast<double>(p.lag);
    }
  }
  SetSeries(*topic_lag_, topic_lag, e);
  SetSeries(*produce_rate_, produce, e);
  SetSeries(*consume_rate_, consume, e);
  SetSeries(*partition_lag_, partition_lag, e);
}

void Metrics::CountChanges(const Labels& l, const controller::AutoscalerSample& s, Exported& e) {
  // Both directions exist from the start, so that rate() sees the first
  // scale event.
  prometheus::Counter& up = scale_events_->Add(With(l, "direction", "up"));
  prometheus::Counter& down = scale_events_->Add(With(l, "direction", "down"));
  if (s.scaled > 0) up.Increment();
  if (s.scaled < 0) down.Increment();
  const std::optional<int64_t>& rebalances = s.figures.rebalances_caused;
  if (!rebalances) return;
  // The decision's count restarts with its history (a new object under this
  // name): so does the counter.
  if (e.rebalances && *rebalances >= *e.rebalances) {
    rebalances_->Add(l).Increment(static_cast<double>(*rebalances - *e.rebalances));
  } else {
    Remove(*rebalances_, l);
    rebalances_->Add(l).Increment(static_cast<double>(*rebalances));
  }
  e.rebalances = rebalances;
}

void Metrics::ForgetAutoscaler(const std::string& namespace_name, const std::string& name) {
  std::lock_guard lock(mu_);
  Remove(*spec_valid_, AutoscalerLabels(namespace_name, name));
  auto it = autoscalers_.find({namespace_name, name});
  if (it == autoscalers_.end()) return;
  RemoveGroupSeriesLocked(namespace_name, name, it->second);
  autoscalers_.erase(it);
}

void Metrics::RecordReconcile(controller::ReconcileResult result,
                              std::chrono::duration<double> duration) {
  reconciles_->Add({{"result", std::string(controller::ReconcileResultName(result))}}).Increment();
  reconcile_duration_->Observe(duration.count());
}

void Metrics::SetWorkQueueDepth(size_t depth) { workqueue_depth_->Set(static_cast<double>(depth)); }

void Metrics::SetWorkers(size_t workers) { workers_->Set(static_cast<double>(workers)); }

void Metrics::ObserveWorkQueueWait(std::chrono::duration<double> wait) {
  workqueue_wait_->Observe(wait.count());
}

void Metrics::AddKafkaRequests(const kafka::RequestCounts& delta) {
  for (const auto& [api, count] : delta.by_api) {
    if (count > 0) kafka_requests_->Add({{"api", api}}).Increment(static_cast<double>(count));
  }
}

void Metrics::CountKafkaError(controller::KafkaErrorKind kind) {
  kafka_errors_->Add({{"kind", std::string(controller::KafkaErrorKindName(kind))}}).Increment();
}

void Metrics::CountKubeRequest(std::string_view verb, std::string_view code) {
  kube_requests_->Add({{"verb", std::string(verb)}, {"code", std::string(code)}}).Increment();
}

void Metrics::SetLeader(bool leader) { leader_->Set(leader ? 1 : 0); }

}  // namespace groupscaler::metrics
