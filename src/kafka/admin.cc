#include "kafka/admin.h"

#include <fmt/ranges.h>
#include <librdkafka/rdkafka.h>

#include <functional>
#include <utility>

#include "kafka/auth.h"
#include "kafka/rdkafka_ptr.h"

namespace groupscaler::kafka {
namespace {

// Sends one admin request with `send` and returns the event it ended with;
// errors begin with `what`.
StatusOr<EventPtr> Request(
    rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout,
    const std::string& what, const std::vector<std::string>& secrets,
    const std::function<void(const rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& send) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
  char err[512];
  const int ms = static_cast<int>(timeout.count());
  rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, err, sizeof(err));
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS) {
    // Answer once the controller has made the change, not only accepted it.
    rd_kafka_AdminOptions_set_operation_timeout(options.get(), ms, err, sizeof(err));
  }
  QueuePtr queue(rd_kafka_queue_new(rk));
  send(options.get(), queue.get());
  // The request's own timeout ends it; the margin covers its reply.
  EventPtr event(rd_kafka_queue_poll(queue.get(), ms + 1000));
  if (!event) {
    return DeadlineExceededError(what + ": no answer within " + std::to_string(ms) + " ms");
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return UnavailableError(what + ": " +
                            Redact(rd_kafka_event_error_string(event.get()), secrets));
  }
  return event;
}

// The first refused topic of a CreateTopics or DeleteTopics result.
Status TopicErrors(const rd_kafka_topic_result_t** results, size_t count, const char* verb) {
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return FailedPreconditionError(std::string(verb) + " topic " +
                                     rd_kafka_topic_result_name(results[i]) + ": " +
                                     rd_kafka_topic_result_error_string(results[i]));
    }
  }
  return Status::Ok();
}

std::vector<std::pair<const char*, std::string>> ClientProperties(const ClusterConfig& cluster,
                                                                  const AuthConfig& auth) {
  std::vector<std::pair<const char*, std::string>> props = {
      {"bootstrap.servers", fmt::format("{}", fmt::join(cluster.bootstrap_servers, ","))},
      {"log_level", "0"}};
  for (const auto& [name, value] : auth.properties) props.emplace_back(name.c_str(), value);
  return props;
}

}  // namespace

StatusOr<std::unique_ptr<KafkaAdmin>> KafkaAdmin::Connect(const ClusterConfig& cluster) {
  StatusOr<AuthConfig> auth = BuildAuthConfig(cluster.auth);
  if (!auth.ok()) return auth.status();
  std::unique_ptr<KafkaAdmin> admin(new KafkaAdmin());
  admin->secrets_ = auth->secrets;
  StatusOr<std::shared_ptr<OAuthTokenSource>> source = NewTokenSource(*auth);
  if (!source.ok()) return source.status();
  if (*source) {
    admin->token_refresh_ = std::make_unique<TokenRefreshContext>();
    admin->token_refresh_->token_source = std::move(source).value();
  }
  StatusOr<RdKafkaPtr> rk =
      NewClient(RD_KAFKA_PRODUCER, ClientProperties(cluster, *auth), [&](rd_kafka_conf_t* conf) {
        if (!admin->token_refresh_) return;
        rd_kafka_conf_set_opaque(conf, admin->token_refresh_.get());
        InstallTokenRefresh<TokenRefreshContext>(conf);
      });
  if (!rk.ok()) return InvalidArgumentError(Redact(rk.status().message(), auth->secrets));
  admin->rk_ = std::move(rk).value();
  if (admin->token_refresh_) {
    if (Status s = StartTokenRefresh(admin->rk_.get()); !s.ok()) return s;
  }
  return admin;
}

Status KafkaAdmin::CreateTopics(const std::vector<std::string>& topics, int partitions,
                                int replication_factor, std::chrono::milliseconds timeout) {
  std::vector<rd_kafka_NewTopic_t*> specs;
  char err[512];
  for (const std::string& t : topics) {
    rd_kafka_NewTopic_t* spec =
        rd_kafka_NewTopic_new(t.c_str(), partitions, replication_factor, err, sizeof(err));
    if (spec == nullptr) {
      rd_kafka_NewTopic_destroy_array(specs.data(), specs.size());
      return InvalidArgumentError("topic " + t + ": " + err);
    }
    specs.push_back(spec);
  }
  StatusOr<EventPtr> event =
      Request(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, "create topics", secrets_,
              [&](auto* options, auto* queue) {
                rd_kafka_CreateTopics(rk_.get(), specs.data(), specs.size(), options, queue);
              });
  rd_kafka_NewTopic_destroy_array(specs.data(), specs.size());
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event->get()), &count);
  return TopicErrors(results, count, "create");
}

Status KafkaAdmin::DeleteTopics(const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout) {
  std::vector<rd_kafka_DeleteTopic_t*> specs;
  for (const std::string& t : topics) specs.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
  StatusOr<EventPtr> event =
      Request(rk_.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, "delete topics", secrets_,
              [&](auto* options, auto* queue) {
                rd_kafka_DeleteTopics(rk_.get(), specs.data(), specs.size(), options, queue);
              });
  rd_kafka_DeleteTopic_destroy_array(specs.data(), specs.size());
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event->get()), &count);
  return TopicErrors(results, count, "delete");
}

Status KafkaAdmin::DeleteGroups(const std::vector<std::string>& groups,
                                std::chrono::milliseconds timeout) {
  std::vector<rd_kafka_DeleteGroup_t*> specs;
  for (const std::string& g : groups) specs.push_back(rd_kafka_DeleteGroup_new(g.c_str()));
  StatusOr<EventPtr> event =
      Request(rk_.get(), RD_KAFKA_ADMIN_OP_DELETEGROUPS, timeout, "delete groups", secrets_,
              [&](auto* options, auto* queue) {
                rd_kafka_DeleteGroups(rk_.get(), specs.data(), specs.size(), options, queue);
              });
  rd_kafka_DeleteGroup_destroy_array(specs.data(), specs.size());
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_group_result_t** results =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(event->get()), &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_error_t* e = rd_kafka_group_result_error(results[i]);
    if (e == nullptr || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) continue;
    return FailedPreconditionError(std::string("delete group ") +
                                   rd_kafka_group_result_name(results[i]) + ": " +
                                   rd_kafka_error_string(e));
  }
  return Status::Ok();
}

}  // namespace groupscaler::kafka
