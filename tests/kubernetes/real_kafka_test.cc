// The real `groupscaler controller`, as the chart ServiceAccount on the real
// control plane, watching autoscalers whose Kafka is a real broker
// (support/kafka_broker.h, one for the binary, every listener): credentials
// from an authSecretRef Secret read the exact lag and scale; real consumer
// processes show as members and, beyond the partitions, as IdleMembers; a
// refused login or an unknown CA holds the replicas and names the broker and
// the mechanism, an OAuth client the token endpoint refuses holds them and
// names the endpoint, never the secret; the broker down holds, its return
// recovers; partitions added raise the ceiling at the next metadata refresh.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/files.h"
#include "kafka_real/clients.h"
#include "kubernetes/cluster_test.h"
#include "metrics/scrape.h"
#include "support/e2e.h"
#include "support/http_get.h"
#include "support/kafka_broker.h"
#include "support/kube_api_server.h"
#include "support/mock_cluster.h"
#include "support/oauth_server.h"

namespace groupscaler::testing {
namespace {

using metrics::testing::Value;
using nlohmann::json;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

// The OAuth token endpoint on https, its CA given in the Secret (oauthCa).
const OAuthServer::Options kOAuth = {.port = FreePort(), .https = true, .http_port = FreePort()};
OAuthServer* oauth = nullptr;
const auto* const kOAuthEnvironment =
    ::testing::AddGlobalTestEnvironment(new OAuthServerEnvironment(kOAuth, &oauth));

// Every listener, the OAUTH one verifying the endpoint's tokens.
KafkaCluster::Options EveryListener() {
  KafkaCluster::Options options{.brokers = 1, .oauth = BrokerOAuthFor(kOAuth)};
  options.listeners.insert(KafkaListener::kOauthbearer);
  return options;
}

KafkaCluster* kafka = nullptr;
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new KafkaClusterEnvironment("kube_kafka", EveryListener(), &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }

std::string Pem(const std::filesystem::path& path) {
  StatusOr<std::string> text = ReadFileBounded(path.string(), 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

// The auth Secret's keys (README: security settings) for PLAIN over TLS with
// the fixture's CA, as PEM text: the controller reads them from the Secret.
json PlainOverTls(const std::string& password) {
  return {{"sasl", "plain"},
          {"username", kafka->SaslUserFor("PLAIN").username},
          {"password", password},
          {"tls", "enable"},
          {"ca", Pem(kafka->ca_path())}};
}

// SCRAM-SHA-512 without TLS (the SASL_PLAINTEXT listener).
json ScramSha512() {
  const SaslUser& user = kafka->SaslUserFor("SCRAM-SHA-512");
  return {{"sasl", "scram_sha512"}, {"username", user.username}, {"password", user.password}};
}

json MutualTls() {
  return {{"tls", "enable"},
          {"ca", Pem(kafka->ca_path())},
          {"cert", Pem(kafka->client_cert_path())},
          {"key", Pem(kafka->client_key_path())}};
}

// The auth Secret's keys for OAuth client credentials with `secret`, the
// token endpoint's CA inline.
json OAuthClient(const std::string& secret) {
  return {{"sasl", "oauthbearer"},
          {"oauthTokenEndpointUri", oauth->token_url()},
          {"oauthClientId", kOAuth.client_id},
          {"oauthClientSecret", secret},
          {"oauthCa", oauth->ca_pem()}};
}

bool HasEvent(const std::vector<json>& events, const std::string& reason) {
  return std::any_of(events.begin(), events.end(),
                     [&](const json& e) { return e.value("reason", "") == reason; });
}

class RealKafkaTest : public ClusterTest {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      std::cout << "the end of the broker's log:\n" << LastLines(kafka->log(0), 40) << std::flush;
    }
    ClusterTest::TearDown();
  }

  // A new topic with produced[p] messages on partition p.
  std::string ProducedTopic(const std::vector<int64_t>& produced) {
    const std::string topic = Unique("orders");
    EXPECT_TRUE(kafka->CreateTopic(topic, static_cast<int>(produced.size()), 1).ok());
    EXPECT_TRUE(ProduceCounts(Plaintext(), topic, produced).ok());
    return topic;
  }

  // Commits committed[p] on partition p of `topic` for a new group; its name.
  std::string GroupCommitted(const std::string& topic, const std::vector<int64_t>& committed) {
    const std::string group = Unique("group-" + std::to_string(++groups_));
    std::vector<Commit> commits;
    for (size_t p = 0; p < committed.size(); ++p) {
      commits.push_back({topic, static_cast<int32_t>(p), committed[p]});
    }
    EXPECT_TRUE(CommitOffsets(Plaintext(), group, commits).ok());
    return group;
  }

  void ApplySecret(const std::string& name, const json& settings) {
    Apply({{"apiVersion", "v1"},
           {"kind", "Secret"},
           {"metadata", {{"name", name}}},
           {"stringData", settings}});
  }

  // A Deployment `name` at `replicas` and its autoscaler on the broker's
  // `listener`, for `group` on `topic`, with the credentials of Secret
  // `secret` (none when empty); spec merged with `overrides`.
  void Scaled(const std::string& name, int replicas, KafkaListener listener,
              const std::string& group, const std::string& topic, const std::string& secret,
              const json& overrides = json::object()) {
    json spec = {
        {"kafka", {{"bootstrapServers", {kafka->bootstrap(listener)}}, {"groupId", group}}}};
    if (!secret.empty()) spec["kafka"]["authSecretRef"] = {{"name", secret}};
    spec.merge_patch(overrides);
    Apply(Workload("Deployment", name, replicas));
    Apply(Autoscaler(name, topic, spec));
  }

  std::string ConditionField(const std::string& name, const std::string& type,
                             const std::string& field) {
    const json c = Condition(name, type);
    return c.is_object() ? c.value(field, "") : "";
  }

  // The Events of ns_ with `reason` about `name`.
  std::vector<json> EventsWith(const std::string& name, const std::string& reason) {
    std::vector<json> out;
    for (json& e : Events(name)) {
      if (e.value("reason", "") == reason) out.push_back(std::move(e));
    }
    return out;
  }

  int groups_ = 0;
};

// PLAIN over TLS, SCRAM-SHA-512 and mutual TLS, each from its Secret: the
// status has the exact lag the test committed, and each Deployment is
// scaled by it (lagThreshold 1000: 2500 -> 3, 1800 -> 2, 4200 -> 5).
TEST_F(RealKafkaTest, AuthSecretReadsTheExactLagAndScales) {
  const std::string topic = ProducedTopic({1000, 1000, 1000, 1000, 1000, 1000});
  const std::string plain_group = GroupCommitted(topic, {900, 800, 700, 600, 400, 100});
  const std::string scram_group = GroupCommitted(topic, {700, 700, 700, 700, 700, 700});
  const std::string mtls_group = GroupCommitted(topic, {300, 300, 300, 300, 300, 300});
  ApplySecret("kafka-plain", PlainOverTls(kafka->SaslUserFor("PLAIN").password));
  ApplySecret("kafka-scram", ScramSha512());
  ApplySecret("kafka-mtls", MutualTls());
  Scaled("plain", 1, KafkaListener::kSaslSsl, plain_group, topic, "kafka-plain");
  Scaled("scram", 1, KafkaListener::kSaslPlaintext, scram_group, topic, "kafka-scram");
  Scaled("mtls", 1, KafkaListener::kMutualTls, mtls_group, topic, "kafka-mtls");
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "plain") == 3; }, seconds(60)))
      << Status("plain").dump(1) << controller->log();
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "scram") == 2; }, seconds(30)))
      << Status("scram").dump(1) << controller->log();
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "mtls") == 5; }, seconds(30)))
      << Status("mtls").dump(1) << controller->log();
  // On a loaded machine one observation can time out (Ready False for a
  // poll, replicas held); the status is read once it is Ready again.
  for (const auto& [name, lag] :
       {std::pair{"plain", 2500}, std::pair{"scram", 1800}, std::pair{"mtls", 4200}}) {
    SCOPED_TRACE(name);
    json status;
    EXPECT_TRUE(WaitFor(
        [&] {
          status = Status(name);
          const json ready = ConditionOf(status, "Ready");
          return ready.is_object() && ready.value("status", "") == "True";
        },
        seconds(30)))
        << status.dump(1) << controller->log();
    EXPECT_EQ(status.value("totalLag", int64_t{-1}), lag) << status.dump(1);
    EXPECT_EQ(status.value("partitions", 0), 6);
    EXPECT_EQ(status.value("ceiling", 0), 6);
    const json reachable = ConditionOf(status, "KafkaReachable");
    EXPECT_TRUE(reachable.is_object() && reachable.value("status", "") == "True") << status.dump(1);
    // Whatever a loaded machine timed out, no broker refused the login or
    // the certificates (the message of a refusal: the test below).
    for (const json& event : EventsWith(name, "KafkaUnreachable")) {
      EXPECT_THAT(event.value("message", ""), Not(HasSubstr(": refused ("))) << event.dump(1);
    }
  }
}

// Real consumers in separate processes, one group: the status counts them
// as members; once they outnumber the partitions the IdleMembers warning
// comes, with one replica only, so from the members alone.
TEST_F(RealKafkaTest, RealMembersAreCountedAndIdleOnesWarned) {
  const std::string topic = ProducedTopic({10, 10});
  const std::string group = Unique("members");
  Scaled("consumers", 1, KafkaListener::kPlaintext, group, topic, "");
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  std::vector<std::unique_ptr<Subprocess>> members;
  auto join = [&] {
    auto member = Subprocess::Spawn({KAFKA_GROUP_MEMBER_PATH, Plaintext(), group, topic});
    ASSERT_TRUE(member.ok()) << member.status().ToString();
    members.push_back(std::move(member).value());
  };
  join();
  join();
  EXPECT_TRUE(WaitFor([&] { return Status("consumers").value("members", 0) == 2; }, seconds(60)))
      << Status("consumers").dump(1) << controller->log();
  EXPECT_FALSE(HasEvent(Events("consumers"), "IdleMembers"));

  join();
  EXPECT_TRUE(WaitFor([&] { return Status("consumers").value("members", 0) == 3; }, seconds(60)))
      << Status("consumers").dump(1) << controller->log();
  std::vector<json> idle;
  EXPECT_TRUE(WaitFor(
      [&] {
        idle = EventsWith("consumers", "IdleMembers");
        return !idle.empty();
      },
      seconds(30)))
      << controller->log();
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].value("type", ""), "Warning");
  EXPECT_THAT(idle[0].value("message", ""), HasSubstr("(3 members)"));
  EXPECT_THAT(idle[0].value("message", ""), HasSubstr("2 partitions"));
  EXPECT_EQ(Replicas("deployment", "consumers"), 1);
}

// A wrong password and a CA that did not sign the broker's certificate:
// KafkaReachable=False naming the broker and the mechanism, the replicas
// held, the password nowhere. The same autoscaler with the right password
// scales down at once, so a read of the caught-up group would have.
TEST_F(RealKafkaTest, ARefusedLoginHoldsTheReplicasAndNeverShowsTheSecret) {
  const std::string topic = ProducedTopic({5, 5, 5});
  const std::string group = GroupCommitted(topic, {5, 5, 5});
  const std::string wrong = "wrong-" + std::to_string(getpid()) + "-password";
  const std::string right = kafka->SaslUserFor("PLAIN").password;
  auto other = MakeTestPki();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ApplySecret("kafka-wrong", PlainOverTls(wrong));
  ApplySecret("kafka-right", PlainOverTls(right));
  ApplySecret("kafka-other-ca", {{"tls", "enable"}, {"ca", other->ca_pem}});
  const json scale_down_at_once = {
      {"behavior", {{"scaleDown", {{"stabilizationWindowSeconds", 0}}}}}};
  Scaled("wrong", 4, KafkaListener::kSaslSsl, group, topic, "kafka-wrong", scale_down_at_once);
  Scaled("right", 4, KafkaListener::kSaslSsl, group, topic, "kafka-right", scale_down_at_once);
  Scaled("other-ca", 4, KafkaListener::kSsl, group, topic, "kafka-other-ca", scale_down_at_once);
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  struct Refusal {
    std::string name;
    KafkaListener listener;
    std::string mechanism;
  };
  for (const Refusal& r : {Refusal{"wrong", KafkaListener::kSaslSsl, "SASL_SSL, PLAIN"},
                           Refusal{"other-ca", KafkaListener::kSsl, "SSL"}}) {
    SCOPED_TRACE(r.name);
    // On a loaded machine a timeout can come first; the refusal, a new
    // cause, is written within the write rule's 15 s after it.
    std::string message;
    EXPECT_TRUE(WaitFor(
        [&] {
          message = ConditionField(r.name, "KafkaReachable", "message");
          return ConditionField(r.name, "KafkaReachable", "status") == "False" &&
                 message.find("refused") != std::string::npos;
        },
        seconds(40)))
        << Status(r.name).dump(1) << controller->log();
    EXPECT_EQ(ConditionField(r.name, "KafkaReachable", "reason"), "KafkaUnreachable");
    EXPECT_THAT(message, HasSubstr(kafka->address(0, r.listener)));
    EXPECT_THAT(message, HasSubstr("(" + r.mechanism + ")"));
    EXPECT_TRUE(HasEvent(Events(r.name), "KafkaUnreachable"));
  }
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "right") == 1; }, seconds(30)))
      << Status("right").dump(1) << controller->log();
  for (const char* name : {"wrong", "other-ca"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Replicas("deployment", name), 4);
    const json status = Status(name);
    EXPECT_EQ(status.value("desiredReplicas", 0), 4) << status.dump(1);
    EXPECT_FALSE(status.contains("totalLag")) << status.dump(1);
  }

  const std::string events = Kubectl({"get", "events", "-o", "json"}).out;
  const std::string statuses = Kubectl({"get", "cga", "-o", "json"}).out;
  for (const std::string& secret : {wrong, right}) {
    EXPECT_THAT(controller->log(), Not(HasSubstr(secret)));
    EXPECT_THAT(events, Not(HasSubstr(secret)));
    EXPECT_THAT(statuses, Not(HasSubstr(secret)));
  }
}

// OAuth client credentials from a Secret: the right secret reads the
// caught-up group through the broker's OAUTH listener and scales down at
// once; a secret the token endpoint refuses (401 invalid_client, as after a
// rotation) holds the replicas with KafkaReachable=False naming the
// endpoint, the secret nowhere, and the endpoint asked at the backoff's
// pace (1 s doubling), not at every reconcile (here every second).
TEST_F(RealKafkaTest, ARefusedOAuthClientHoldsTheReplicas) {
  const std::string topic = ProducedTopic({5, 5, 5});
  const std::string group = GroupCommitted(topic, {5, 5, 5});
  const std::string wrong = "wrong-" + std::to_string(getpid()) + "-client-secret";
  ApplySecret("oauth-wrong", OAuthClient(wrong));
  ApplySecret("oauth-right", OAuthClient(kOAuth.client_secret));
  const json scale_down_at_once = {
      {"behavior", {{"scaleDown", {{"stabilizationWindowSeconds", 0}}}}}};
  json every_second = scale_down_at_once;
  every_second["pollIntervalSeconds"] = 1;
  Scaled("wrong", 4, KafkaListener::kOauthbearer, group, topic, "oauth-wrong", every_second);
  Scaled("right", 4, KafkaListener::kOauthbearer, group, topic, "oauth-right", scale_down_at_once);
  const auto started = SteadyClock::now();
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);

  // On a loaded machine the first failed observation can be the broker's
  // transport failure, before the grant's refusal is known; the refusal is
  // named from the next poll on, and written as the new cause of a Ready
  // that is not True within the write rule's 15 s.
  json reachable;  // one read, so that its fields agree
  EXPECT_TRUE(WaitFor(
      [&] {
        reachable = Condition("wrong", "KafkaReachable");
        return reachable.is_object() && reachable.value("status", "") == "False" &&
               reachable.value("message", "").find(oauth->token_url()) != std::string::npos;
      },
      seconds(45)))
      << Status("wrong").dump(1) << controller->log();
  EXPECT_EQ(reachable.value("reason", ""), "KafkaUnreachable");
  EXPECT_THAT(reachable.value("message", ""), HasSubstr(oauth->token_url()));
  EXPECT_THAT(reachable.value("message", ""), HasSubstr("invalid_client"));
  EXPECT_TRUE(WaitFor([&] { return HasEvent(Events("wrong"), "KafkaUnreachable"); }, seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "right") == 1; }, seconds(30)))
      << Status("right").dump(1) << controller->log();
  EXPECT_EQ(ConditionField("right", "KafkaReachable", "status"), "True");

  EXPECT_EQ(Replicas("deployment", "wrong"), 4);
  const json held = Status("wrong");
  EXPECT_EQ(held.value("desiredReplicas", 0), 4) << held.dump(1);
  EXPECT_FALSE(held.contains("totalLag")) << held.dump(1);

  // One grant for the right client (its token lives an hour); for the
  // wrong one, reconciled every second, a request at 0, 1, 3, 7 ... s after
  // the first, never one per reconcile (checked for 6 s more).
  auto over_budget = [&] {
    const double elapsed = std::chrono::duration<double>(SteadyClock::now() - started).count();
    return oauth->token_requests() > 2 + static_cast<int>(std::log2(elapsed + 1));
  };
  EXPECT_FALSE(WaitFor(over_budget, seconds(6)))
      << oauth->token_requests() << " token requests in "
      << std::chrono::duration<double>(SteadyClock::now() - started).count() << " s";
  std::cout << "token requests: " << oauth->token_requests() << std::endl;

  const std::string events = Kubectl({"get", "events", "-o", "json"}).out;
  const std::string statuses = Kubectl({"get", "cga", "-o", "json"}).out;
  for (const std::string& secret : {wrong, kOAuth.client_secret}) {
    EXPECT_THAT(controller->log(), Not(HasSubstr(secret)));
    EXPECT_THAT(events, Not(HasSubstr(secret)));
    EXPECT_THAT(statuses, Not(HasSubstr(secret)));
  }
}

// Partitions added to a watched topic: the ceiling (status and /metrics)
// grows at the next metadata refresh, here every 2 s, and the lag that asked
// for more than the old ceiling scales to the new one.
TEST_F(RealKafkaTest, PartitionsAddedRaiseTheCeilingAtTheNextMetadataRefresh) {
  const std::string topic = ProducedTopic({4505, 4505});
  const std::string group = GroupCommitted(topic, {5, 5});
  // No kubelet runs the pods, so no member ever joins: scaling again must
  // not wait for the group to settle.
  Scaled("growing", 1, KafkaListener::kPlaintext, group, topic, "",
         {{"policy", {{"rebalanceSettleSeconds", 0}}}});
  Subprocess* controller =
      StartChartController({"--kafka-metadata-max-age=2", "--metrics-bind-address=127.0.0.1:0"});
  ASSERT_NE(controller, nullptr);
  const int port = PortInLog(*controller, "serving /metrics", seconds(10));
  ASSERT_GT(port, 0) << controller->log();
  const std::string labels = "{group=\"" + group + "\",name=\"growing\",namespace=\"" + ns_ + "\"}";
  auto ceilings = [&](int want) {
    const std::string text = HttpGet(port, "/metrics").body;
    const json status = Status("growing");
    return status.value("partitions", 0) == want && status.value("ceiling", 0) == want &&
           Value(text, "groupscaler_partitions" + labels) == want &&
           Value(text, "groupscaler_replica_ceiling" + labels) == want;
  };

  EXPECT_TRUE(WaitFor([&] { return ceilings(2); }, seconds(60)))
      << Status("growing").dump(1) << controller->log();
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "growing") == 2; }, seconds(30)));
  EXPECT_EQ(ConditionField("growing", "AtPartitionCeiling", "status"), "True");

  const RunResult alter =
      kafka->RunTool(kTopicCommand, {"--alter", "--topic", topic, "--partitions", "5"});
  ASSERT_EQ(alter.exit_code, 0) << alter.out << alter.err;
  EXPECT_TRUE(WaitFor([&] { return ceilings(5); }, seconds(30)))
      << Status("growing").dump(1) << HttpGet(port, "/metrics").body;
  EXPECT_TRUE(WaitFor([&] { return Replicas("deployment", "growing") == 5; }, seconds(30)))
      << Status("growing").dump(1) << controller->log();
  // The new partitions have no commit: latest counts them as no backlog.
  EXPECT_EQ(Status("growing").value("totalLag", int64_t{-1}), 9000);
}

// SIGTERM while the broker is down, its coordinator requests unanswered
// (they never time out inside librdkafka): the controller still stops
// within the 5 s a pod is given, exit 0.
TEST_F(RealKafkaTest, SigtermWhileTheBrokerIsDownStopsWithinFiveSeconds) {
  const std::string topic = ProducedTopic({10, 10});
  const std::string group = GroupCommitted(topic, {5, 5});
  Scaled("orders", 1, KafkaListener::kPlaintext, group, topic, "");
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  ASSERT_TRUE(WaitFor(
      [&] { return ConditionField("orders", "KafkaReachable", "status") == "True"; }, seconds(60)))
      << controller->log();

  kafka->Stop(0);
  EXPECT_TRUE(WaitFor(
      [&] { return ConditionField("orders", "KafkaReachable", "status") == "False"; }, seconds(30)))
      << controller->log();
  const auto signalled = SteadyClock::now();
  controller->Signal(SIGTERM);
  EXPECT_EQ(controller->Wait(Stretched(seconds(5))), 0) << controller->log();
  EXPECT_LT(SteadyClock::now() - signalled, Stretched(seconds(5)));
  ASSERT_TRUE(kafka->Restart(0).ok());
}

// The only broker killed: the controller holds the replicas with
// KafkaReachable=False and no lag (never a zero that would scale down); the
// broker back, the same controller process reads the lag again.
TEST_F(RealKafkaTest, TheBrokerDownHoldsAndItsReturnRecoversWithoutARestart) {
  const std::string topic = ProducedTopic({1000, 1000, 1000, 1000});
  const std::string group = GroupCommitted(topic, {250, 250, 250, 250});
  Scaled("orders", 1, KafkaListener::kPlaintext, group, topic, "",
         {{"behavior", {{"scaleDown", {{"stabilizationWindowSeconds", 0}}}}}});
  Subprocess* controller = StartChartController();
  ASSERT_NE(controller, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Replicas("deployment", "orders") == 3; }, seconds(60)))
      << Status("orders").dump(1) << controller->log();

  kafka->Stop(0);
  EXPECT_TRUE(WaitFor(
      [&] { return ConditionField("orders", "KafkaReachable", "status") == "False"; }, seconds(30)))
      << Status("orders").dump(1) << controller->log();
  const json held = Status("orders");
  EXPECT_FALSE(held.contains("totalLag")) << held.dump(1);
  EXPECT_EQ(held.value("desiredReplicas", 0), 3);
  EXPECT_EQ(Replicas("deployment", "orders"), 3);

  ASSERT_TRUE(kafka->Restart(0).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return ConditionField("orders", "KafkaReachable", "status") == "True" &&
               Status("orders").value("totalLag", int64_t{-1}) == 3000;
      },
      seconds(60)))
      << Status("orders").dump(1) << controller->log();
  EXPECT_EQ(Replicas("deployment", "orders"), 3);
  EXPECT_FALSE(controller->Wait(std::chrono::milliseconds(0)).has_value()) << controller->log();
  EXPECT_THAT(controller->log(), Not(HasSubstr("scaled down")));
}

}  // namespace
}  // namespace groupscaler::testing
