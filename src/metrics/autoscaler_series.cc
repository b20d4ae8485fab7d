#include "metrics/autoscaler_series.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <iterator>

namespace groupscaler::metrics {
namespace {

using controller::TopicSample;
using Key = AutoscalerSeries::Key;
using Label = prometheus::ClientMetric::Label;
using prometheus::MetricFamily;
using prometheus::MetricType;

// One family of per-autoscaler series.
struct FamilyDef {
  const char* name;
  const char* help;
  MetricType type;
  // Only autoscalers with a group have series in it.
  bool per_group;
  // Appends the series of one autoscaler.
  std::function<void(const Key& key, const AutoscalerRecord& r, MetricFamily& family)> add;
};

// Appends a series to `family`, a gauge or a counter, with its labels in
// name order as prometheus-cpp's own families have them.
void AddSeries(MetricFamily& family, std::vector<Label> labels, double value) {
  std::sort(labels.begin(), labels.end());
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  metric.label = std::move(labels);
  (family.type == MetricType::Counter ? metric.counter.value : metric.gauge.value) = value;
}

std::vector<Label> GroupLabels(const Key& key, const AutoscalerRecord& r) {
  return {{"namespace", key.first}, {"name", key.second}, {"group", r.group}};
}

std::vector<Label> With(std::vector<Label> labels, std::string name, std::string value) {
  labels.push_back({std::move(name), std::move(value)});
  return labels;
}

template <typename T>
std::optional<double> AsDouble(const std::optional<T>& value) {
  if (!value) return std::nullopt;
  return static_cast<double>(*value);
}

std::optional<double> ZeroOne(const std::optional<bool>& value) {
  if (!value) return std::nullopt;
  return *value ? 1.0 : 0.0;
}

// A family of one series per autoscaler with a group, absent while `value`
// is unknown.
FamilyDef GroupFamily(const char* name, const char* help, MetricType type,
                      std::optional<double> (*value)(const AutoscalerRecord&)) {
  return {name, help, type, true,
          [value](const Key& key, const AutoscalerRecord& r, MetricFamily& family) {
            if (const std::optional<double> v = value(r)) {
              AddSeries(family, GroupLabels(key, r), *v);
            }
          }};
}

FamilyDef GroupGauge(const char* name, const char* help,
                     std::optional<double> (*value)(const AutoscalerRecord&)) {
  return GroupFamily(name, help, MetricType::Gauge, value);
}

// A gauge of one series per topic whose `field` is known.
template <typename T>
FamilyDef TopicGauge(const char* name, const char* help, std::optional<T> TopicSample::*field) {
  return {name, help, MetricType::Gauge, true,
          [field](const Key& key, const AutoscalerRecord& r, MetricFamily& family) {
            for (const TopicSample& t : r.topics) {
              if (const std::optional<double> v = AsDouble(t.*field)) {
                AddSeries(family, With(GroupLabels(key, r), "topic", t.topic), *v);
              }
            }
          }};
}

void AddPartitionLag(const Key& key, const AutoscalerRecord& r, MetricFamily& family) {
  for (const controller::PartitionSample& p : r.partitions) {
    AddSeries(
        family,
        With(With(GroupLabels(key, r), "topic", p.topic), "partition", std::to_string(p.partition)),
        static_cast<double>(p.lag));
  }
}

void AddSpecValid(const Key& key, const AutoscalerRecord& r, MetricFamily& family) {
  AddSeries(family, {{"namespace", key.first}, {"name", key.second}}, r.spec_valid ? 1 : 0);
}

// Both directions exist from the first sample, so that rate() sees the first
// scale event.
void AddScaleEvents(const Key& key, const AutoscalerRecord& r, MetricFamily& family) {
  AddSeries(family, With(GroupLabels(key, r), "direction", "up"), static_cast<double>(r.scaled_up));
  AddSeries(family, With(GroupLabels(key, r), "direction", "down"),
            static_cast<double>(r.scaled_down));
}

// Autoscalers per piece of a family's exposition.
constexpr int kSlice = 500;

// The exposition of `piece`, series of one family. When `continued` (the
// family's first piece is out) without its HELP line (left out with an empty
// help) and TYPE line (which the serializer writes first).
std::string Text(std::vector<MetricFamily>& piece, bool continued) {
  if (continued) piece.front().help.clear();
  std::string text = prometheus::TextSerializer().Serialize(piece);
  if (continued) text.erase(0, text.find('\n') + 1);
  return text;
}

// Every family, in the order of the exposition.
const std::vector<FamilyDef>& Families() {
  static const std::vector<FamilyDef> families = {
      GroupGauge("groupscaler_consumer_group_lag_messages",
                 "Messages the consumer group has not consumed yet, over all its topics; absent "
                 "while unknown",
                 [](const AutoscalerRecord& r) { return AsDouble(r.figures.total_lag); }),
      TopicGauge("groupscaler_topic_lag_messages",
                 "Messages the consumer group has not consumed yet, per topic", &TopicSample::lag),
      {"groupscaler_partition_lag_messages",
       "Messages the consumer group has not consumed yet, per partition (only with "
       "--metrics-partition-lag)",
       MetricType::Gauge, true, AddPartitionLag},
      GroupGauge("groupscaler_partitions", "Partitions of the group's topics",
                 [](const AutoscalerRecord& r) { return AsDouble(r.figures.partitions); }),
      GroupGauge(
          "groupscaler_replica_ceiling",
          "Most replicas that can have work: min(maxReplicas, partitions / consumersPerReplica)",
          [](const AutoscalerRecord& r) { return AsDouble(r.figures.ceiling); }),
      GroupGauge("groupscaler_current_replicas", "Replicas of the scale target",
                 [](const AutoscalerRecord& r) { return AsDouble(r.figures.current_replicas); }),
      GroupGauge("groupscaler_desired_replicas", "Replicas groupscaler decided",
                 [](const AutoscalerRecord& r) { return AsDouble(r.figures.desired_replicas); }),
      GroupGauge("groupscaler_group_members",
                 "Members of the consumer group, where the broker reports them",
                 [](const AutoscalerRecord& r) { return AsDouble(r.figures.members); }),
      TopicGauge("groupscaler_produce_rate_messages_per_second",
                 "Messages produced to the topic per second, smoothed", &TopicSample::produce_rate),
      TopicGauge("groupscaler_consume_rate_messages_per_second",
                 "Messages the group consumed from the topic per second, smoothed",
                 &TopicSample::consume_rate),
      GroupGauge("groupscaler_at_partition_ceiling",
                 "1 when lag asks for at least the replica ceiling: more replicas cannot help, "
                 "more partitions can",
                 [](const AutoscalerRecord& r) { return ZeroOne(r.at_ceiling); }),
      GroupGauge("groupscaler_idle_members",
                 "1 when current replicas or group members exceed the ceiling and some stay idle",
                 [](const AutoscalerRecord& r) { return ZeroOne(r.idle_members); }),
      {"groupscaler_spec_valid", "1 when the autoscaler's spec is valid", MetricType::Gauge, false,
       AddSpecValid},
      GroupGauge("groupscaler_kafka_reachable",
                 "1 when the last observation of the group succeeded",
                 [](const AutoscalerRecord& r) { return ZeroOne(r.kafka_reachable); }),
      GroupGauge(
          "groupscaler_last_observation_timestamp_seconds",
          "Unix time of the last successful observation of the group",
          [](const AutoscalerRecord& r) -> std::optional<double> {
            if (!r.last_observation) return std::nullopt;
            return std::chrono::duration<double>(r.last_observation->time_since_epoch()).count();
          }),
      GroupGauge(
          "groupscaler_max_time_lag_seconds",
          "Age of the oldest unconsumed message over the group's partitions, where known",
          [](const AutoscalerRecord& r) { return AsDouble(r.figures.max_time_lag_seconds); }),
      GroupGauge("groupscaler_stalled_partitions",
                 "Partitions with lag whose committed offset stopped moving",
                 [](const AutoscalerRecord& r) { return AsDouble(r.stalled_partitions); }),
      {"groupscaler_scale_events_total",
       "Changes of the target's replicas made by groupscaler, by direction", MetricType::Counter,
       true, AddScaleEvents},
      GroupFamily("groupscaler_rebalances_caused_total",
                  "Consumer group rebalances caused by groupscaler's scale changes",
                  MetricType::Counter,
                  [](const AutoscalerRecord& r) { return AsDouble(r.figures.rebalances_caused); }),
  };
  return families;
}

}  // namespace

void AutoscalerSeries::Record(const controller::AutoscalerSample& s) {
  std::lock_guard lock(mu_);
  AutoscalerRecord& r = autoscalers_[{s.namespace_name, s.name}];
  // A new group starts afresh: nothing of the old one's series stays.
  if (r.group != s.group) r = AutoscalerRecord{.group = s.group};
  r.spec_valid = s.spec_valid;
  if (s.group.empty()) return;
  // The rebalance counter shows the decision's count: kept while reconciles
  // do not decide (it is unknown then), lower when a new object under this
  // name starts its history over (a counter reset to Prometheus).
  const std::optional<int64_t> rebalances =
      s.figures.rebalances_caused ? s.figures.rebalances_caused : r.figures.rebalances_caused;
  r.figures = s.figures;
  r.figures.rebalances_caused = rebalances;
  r.kafka_reachable = s.kafka_reachable;
  r.at_ceiling = s.at_ceiling;
  r.idle_members = s.idle_members;
  r.stalled_partitions = s.stalled_partitions;
  if (s.observed_at) r.last_observation = s.observed_at;
  r.topics = s.topics;
  if (partition_lag_) r.partitions = s.partitions;
  if (s.scaled > 0) ++r.scaled_up;
  if (s.scaled < 0) ++r.scaled_down;
}

void AutoscalerSeries::Forget(const std::string& namespace_name, const std::string& name) {
  std::lock_guard lock(mu_);
  autoscalers_.erase({namespace_name, name});
}

void AutoscalerSeries::Clear() {
  std::lock_guard lock(mu_);
  autoscalers_.clear();
}

bool AutoscalerSeries::Write(const Writer& write) const {
  for (const FamilyDef& def : Families()) {
    bool continued = false;
    std::optional<Key> after;
    do {
      std::vector<MetricFamily> piece = {{.name = def.name, .help = def.help, .type = def.type}};
      after = VisitSlice(after, [&](const Key& key, const AutoscalerRecord& r) {
        if (!def.per_group || !r.group.empty()) def.add(key, r, piece.front());
      });
      if (piece.front().metric.empty()) continue;
      if (!write(Text(piece, continued))) return false;
      continued = true;
    } while (after);
  }
  return true;
}

std::optional<Key> AutoscalerSeries::VisitSlice(const std::optional<Key>& after,
                                                const Visit& visit) const {
  std::lock_guard lock(mu_);
  auto it = after ? autoscalers_.upper_bound(*after) : autoscalers_.begin();
  const auto first = it;
  for (int n = 0; it != autoscalers_.end() && n < kSlice; ++it, ++n) visit(it->first, it->second);
  if (it == first) return std::nullopt;
  return std::prev(it)->first;
}

}  // namespace groupscaler::metrics
