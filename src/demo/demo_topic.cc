#include "demo/demo_topic.h"

#include <thread>
#include <utility>

#include "kafka/rdkafka_lag_reader.h"

namespace groupscaler::demo {

StatusOr<std::unique_ptr<DemoTopic>> DemoTopic::Create(const kafka::ClusterConfig& cluster,
                                                       const std::string& topic, int partitions,
                                                       std::chrono::milliseconds timeout) {
  StatusOr<std::unique_ptr<kafka::LagReader>> reader =
      kafka::NewRdKafkaLagReader(cluster, {.describe_groups = false});
  if (!reader.ok()) return reader.status();
  // No groups: only the metadata request, the reader's first contact.
  if (StatusOr<std::vector<kafka::GroupObservation>> probe = (*reader)->Observe({}, timeout);
      !probe.ok()) {
    return Status(probe.status().code(), "cannot reach Kafka: " + probe.status().message());
  }
  StatusOr<std::unique_ptr<kafka::KafkaAdmin>> admin = kafka::KafkaAdmin::Connect(cluster);
  if (!admin.ok()) return admin.status();
  if (Status created =
          (*admin)->CreateTopics({topic}, partitions, /*replication_factor=*/-1, timeout);
      !created.ok()) {
    return created;
  }
  return std::unique_ptr<DemoTopic>(new DemoTopic(std::move(admin).value(), topic));
}

Status DemoTopic::Remove(const std::vector<std::string>& groups,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status deleted = admin_->DeleteGroups(groups, timeout);
  // A member that just left (or was killed) can still count until the
  // coordinator has processed its leave (or its session expired).
  while (!deleted.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    deleted = admin_->DeleteGroups(groups, timeout);
  }
  if (!deleted.ok()) return deleted;
  return admin_->DeleteTopics({topic_}, timeout);
}

}  // namespace groupscaler::demo
