// OAuth client credentials on a real Kafka broker: with sasl=oauthbearer
// groupscaler posts the grant itself (kafka/oauth_client_credentials.h) to
// a token endpoint on https (support/oauth_server.h, its certificate from a
// test CA) and reads the exact lag through the broker's OAUTH listener,
// which verifies the token against the endpoint's JWKS (Kafka's own
// OAuthBearerValidatorCallbackHandler; the JWKS on plain HTTP, which the
// brokers' JVMs fetch). The CA is given as a file (`groupscaler lag
// --auth-file`, oauthCaFile) or inline (the controller's reader, oauthCa, as
// a Secret gives it); the auth file's SASL extension (oauthExtensions) goes
// along and the broker does not refuse it. An endpoint certificate of a CA
// not given, a wrong client secret, an expired token and a token for
// another audience each end within the deadline with one line, the secret
// nowhere, and the endpoint is not hammered meanwhile.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kafka/rdkafka_lag_reader.h"
#include "kafka_real/clients.h"
#include "kafka_real/lag_cli.h"
#include "support/kafka_broker.h"
#include "support/mock_cluster.h"
#include "support/oauth_server.h"
#include "support/subprocess.h"

namespace groupscaler::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using Fault = OAuthServer::Fault;

const OAuthServer::Options kOAuth = {.port = FreePort(), .https = true, .http_port = FreePort()};

OAuthServer* oauth = nullptr;
KafkaCluster* kafka = nullptr;

const auto* const kOAuthEnvironment =
    ::testing::AddGlobalTestEnvironment(new OAuthServerEnvironment(kOAuth, &oauth));
const auto* const kKafkaEnvironment =
    ::testing::AddGlobalTestEnvironment(new KafkaClusterEnvironment(
        "kafka_oauth",
        {.brokers = 1, .listeners = {KafkaListener::kOauthbearer}, .oauth = BrokerOAuthFor(kOAuth)},
        &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }
std::string OAuthListener() { return kafka->bootstrap(KafkaListener::kOauthbearer); }

// Sets a fault of the token endpoint for one test.
class FaultScope {
 public:
  explicit FaultScope(Fault fault) { oauth->SetFault(fault); }
  ~FaultScope() { oauth->SetFault(Fault::kNone); }
};

// How the token endpoint's certificate is to be trusted.
enum class Trust { kCaFile, kSystemRoots };

std::filesystem::path CaFile() {
  const std::filesystem::path path = kafka->dir() / "token-endpoint-ca.pem";
  if (!std::filesystem::exists(path)) std::ofstream(path) << oauth->ca_pem();
  return path;
}

std::filesystem::path AuthFile(const std::string& secret, Trust trust = Trust::kCaFile) {
  const std::filesystem::path path = kafka->dir() / (Unique("oauth") + ".auth");
  std::ofstream file(path);
  file << "sasl=oauthbearer\noauthTokenEndpointUri=" << oauth->token_url()
       << "\noauthClientId=" << kOAuth.client_id << "\noauthClientSecret=" << secret
       << "\noauthScope=kafka.read\noauthExtensions=traceId=groupscaler\n";
  if (trust == Trust::kCaFile) file << "oauthCaFile=" << CaFile().string() << "\n";
  return path;
}

struct Failure {
  RunResult run;
  int token_requests = 0;  // while it ran
  double seconds = 0;
};

// `groupscaler lag` of a fresh group on the OAUTH listener with `secret`,
// --timeout-ms `timeout_ms`, expected to fail with one line on stderr and
// exit code 1 within the deadline (and 3 s for the process), the secret
// nowhere. Prints what it saw under `what`.
Failure LagFailsThroughOAuth(const std::string& what, const std::string& secret, int timeout_ms,
                             Trust trust = Trust::kCaFile) {
  const auto start = SteadyClock::now();
  Failure f;
  f.run = Lag({"--bootstrap-servers", OAuthListener(), "--group", Unique("group"), "--topic", "any",
               "--auth-file", AuthFile(secret, trust).string(), "--timeout-ms",
               std::to_string(timeout_ms)});
  f.seconds = SecondsSince(start);
  f.token_requests = oauth->TokenRequestsSince(start);
  std::cout << what << ": exit in " << f.seconds << " s, " << f.token_requests
            << " token requests: " << f.run.err << std::flush;
  EXPECT_LT(f.seconds, timeout_ms / 1000.0 + 3);
  EXPECT_EQ(f.run.exit_code, 1) << f.run.out;
  EXPECT_EQ(std::count(f.run.err.begin(), f.run.err.end(), '\n'), 1) << f.run.err;
  EXPECT_THAT(f.run.err + f.run.out, Not(HasSubstr(secret)));
  return f;
}

// A topic of two partitions with 4 and 6 records and `group` committed at 1
// on both: a lag of 8.
std::string TopicWithLag8(const std::string& group) {
  const std::string topic = Unique("oauth");
  EXPECT_TRUE(kafka->CreateTopic(topic, 2, 1).ok());
  EXPECT_TRUE(ProduceCounts(Plaintext(), topic, {4, 6}).ok());
  EXPECT_TRUE(CommitOffsets(Plaintext(), group, {{topic, 0, 1}, {topic, 1, 1}}).ok());
  return topic;
}

TEST(RealKafkaOAuth, ReadsTheExactLagWithTheEndpointsCaFile) {
  const std::string group = Unique("group");
  const std::string topic = TopicWithLag8(group);
  const int before = oauth->token_requests();
  const auto start = SteadyClock::now();
  const nlohmann::json lag =
      LagJsonOf(OAuthListener(), group, {topic},
                {"--auth-file", AuthFile(kOAuth.client_secret).string(), "--timeout-ms", "8000"});
  std::cout << "lag through OAUTH in " << SecondsSince(start) << " s, "
            << oauth->token_requests() - before << " token requests" << std::endl;
  EXPECT_EQ(lag["totalLag"], 8) << lag.dump(1);
  // Kafka's own tool, on the PLAINTEXT listener, agrees.
  int64_t tool_total = 0;
  for (const auto& [key, row] : DescribeOffsets(*kafka, group)) tool_total += std::stoll(row.lag);
  EXPECT_EQ(tool_total, 8);
  // One grant serves the process's every handle.
  EXPECT_EQ(oauth->token_requests() - before, 1);
  EXPECT_THAT(oauth->granted_scopes(), Contains("kafka.read"));
}

// The controller's way: the reader from settings as a Secret gives them,
// the CA inline (PEM text).
TEST(RealKafkaOAuth, ReadsTheExactLagWithTheEndpointsCaInline) {
  const std::string group = Unique("group");
  const std::string topic = TopicWithLag8(group);
  auto reader = kafka::NewRdKafkaLagReader({.bootstrap_servers = {OAuthListener()},
                                            .auth = {{"sasl", "oauthbearer"},
                                                     {"oauthTokenEndpointUri", oauth->token_url()},
                                                     {"oauthClientId", kOAuth.client_id},
                                                     {"oauthClientSecret", kOAuth.client_secret},
                                                     {"oauthCa", oauth->ca_pem()}}});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto observed = (*reader)->Observe({{group, {topic}}}, std::chrono::milliseconds(8000));
  ASSERT_TRUE(observed.ok()) << observed.status().ToString();
  ASSERT_EQ(observed->size(), 1u);
  const auto& observation = (*observed)[0].observation;
  ASSERT_FALSE(observation.failed) << observation.error;
  int64_t total = 0;
  for (const auto& p : observation.partitions) {
    total += p.log_end_offset - p.committed_offset.value_or(p.log_end_offset);
  }
  EXPECT_EQ(total, 8);
  EXPECT_EQ(observation.partitions.size(), 2u);
}

// Without oauthCa or oauthCaFile the system's CA roots are trusted, which do
// not know the test CA: one line naming the endpoint.
TEST(RealKafkaOAuth, AnEndpointOfAnUnknownCaIsOneLineNamingIt) {
  const Failure f =
      LagFailsThroughOAuth("unknown CA", kOAuth.client_secret, 5000, Trust::kSystemRoots);
  EXPECT_THAT(f.run.err, HasSubstr("OAuth token endpoint: POST " + oauth->token_url()));
  // The handshake failed before the request: the secret never left.
  EXPECT_EQ(f.token_requests, 0);
}

// The token endpoint refuses the client (401 invalid_client): one line
// naming the endpoint. The token source backs off (1 s, doubling) and
// librdkafka asks again only about 10 s after a failure, so over a deadline
// of 11 s the endpoint sees a request every few seconds at most.
TEST(RealKafkaOAuth, WrongSecretIsOneLineNamingTheEndpointWithoutHammeringIt) {
  const Failure f = LagFailsThroughOAuth("wrong secret", "not-the-client-secret-4711", 11000);
  EXPECT_THAT(f.run.err, HasSubstr(oauth->token_url()));
  EXPECT_THAT(f.run.err, HasSubstr("invalid_client"));
  EXPECT_GE(f.token_requests, 1);
  EXPECT_LE(f.token_requests / f.seconds, 0.5) << f.token_requests << " in " << f.seconds << " s";
}

// The token source refuses a token whose JWT exp has passed, before any
// broker sees it.
TEST(RealKafkaOAuth, ExpiredTokenIsOneLineNamingTheEndpoint) {
  FaultScope fault(Fault::kExpiredToken);
  const Failure f = LagFailsThroughOAuth("expired token", kOAuth.client_secret, 5000);
  EXPECT_THAT(f.run.err, HasSubstr(oauth->token_url()));
  EXPECT_THAT(f.run.err, HasSubstr("granted a token already expired"));
}

// The broker refuses a token for another audience: one line naming the
// broker.
TEST(RealKafkaOAuth, WrongAudienceIsTheBrokersRefusalInOneLine) {
  FaultScope fault(Fault::kWrongAudience);
  const Failure f = LagFailsThroughOAuth("wrong audience", kOAuth.client_secret, 5000);
  EXPECT_THAT(f.run.err, HasSubstr(kafka->address(0, KafkaListener::kOauthbearer)));
  EXPECT_THAT(f.run.err, HasSubstr("OAUTHBEARER"));
}

}  // namespace
}  // namespace groupscaler::testing
