#include "controller/metrics_sink.h"

#include <limits>
#include <map>

namespace groupscaler::controller {

std::string_view ReconcileResultName(ReconcileResult result) {
  switch (result) {
    case ReconcileResult::kSuccess:
      return "success";
    case ReconcileResult::kError:
      return "error";
    case ReconcileResult::kHold:
      return "hold";
  }
  return "error";
}

std::string_view KafkaErrorKindName(KafkaErrorKind kind) {
  switch (kind) {
    case KafkaErrorKind::kUnreachable:
      return "unreachable";
    case KafkaErrorKind::kTimeout:
      return "timeout";
    case KafkaErrorKind::kCoordinator:
      return "coordinator";
    case KafkaErrorKind::kTopic:
      return "topic";
    case KafkaErrorKind::kAuth:
      return "auth";
    case KafkaErrorKind::kOther:
      return "other";
  }
  return "other";
}

void AddDecision(const policy::Decision& decision, AutoscalerSample& sample) {
  sample.at_ceiling = decision.flags.at_ceiling;
  sample.idle_members = decision.flags.idle_members;
  sample.stalled_partitions = static_cast<int32_t>(decision.stalled_partitions.size());

  // Topics in name order, each with what is known of it.
  std::map<std::string, TopicSample> topics;
  auto topic = [&](const std::string& name) -> TopicSample& {
    TopicSample& t = topics[name];
    t.topic = name;
    return t;
  };
  if (decision.lag_known) {
    for (const policy::PartitionLag& p : decision.partition_lags) {
      if (!p.known) continue;
      sample.partitions.push_back({.topic = p.topic, .partition = p.partition, .lag = p.lag});
      TopicSample& t = topic(p.topic);
      // Saturating, like the total.
      const int64_t sum = t.lag.value_or(0);
      constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
      t.lag = p.lag > kMax - sum ? kMax : sum + p.lag;
    }
  }
  for (const policy::TopicRate& rate : decision.topic_rates) {
    if (!rate.produce_rate && !rate.consume_rate) continue;
    TopicSample& t = topic(rate.topic);
    t.produce_rate = rate.produce_rate;
    t.consume_rate = rate.consume_rate;
  }
  for (auto& [name, t] : topics) sample.topics.push_back(std::move(t));
}

}  // namespace groupscaler::controller
