#include "demo/demo_topic.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "kafka/rdkafka_lag_reader.h"

namespace groupscaler::demo {
namespace {

// Until `reader` observes `group` on `topic` whole: the brokers list a new
// topic, and then serve each partition, a moment (up to seconds) after
// CreateTopics is answered.
Status WaitServed(kafka::LagReader& reader, const std::string& topic, const std::string& group,
                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    StatusOr<std::vector<kafka::GroupObservation>> observed =
        reader.Observe({{.group_id = group, .topics = {topic}}}, timeout);
    if (observed.ok() && observed->front().topic_errors.empty() &&
        !observed->front().observation.failed) {
      const auto& parts = observed->front().observation.partitions;
      if (std::none_of(parts.begin(), parts.end(), [](const auto& p) { return p.failed; })) {
        return Status::Ok();
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError("topic " + topic + " created, but not served within " +
                                   std::to_string(timeout.count() / 1000) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

StatusOr<std::unique_ptr<DemoTopic>> DemoTopic::Create(const kafka::ClusterConfig& cluster,
                                                       const std::string& topic, int partitions,
                                                       const std::string& group,
                                                       std::chrono::milliseconds timeout) {
  // Metadata asked again soon after a missing topic: WaitServed polls.
  StatusOr<std::unique_ptr<kafka::LagReader>> reader = kafka::NewRdKafkaLagReader(
      cluster, {.metadata_min_interval = std::chrono::milliseconds(250), .describe_groups = false});
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
  if (Status served = WaitServed(**reader, topic, group, timeout); !served.ok()) {
    // Leaves nothing behind; the wait's error is the one to report.
    (void)(*admin)->DeleteTopics({topic}, timeout);
    return served;
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
