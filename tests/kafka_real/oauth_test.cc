// OAuth client credentials (OIDC) on a real Kafka broker: `groupscaler lag
// --auth-file` with sasl=oauthbearer gets a token from a token endpoint
// (support/oauth_server.h) through librdkafka's built-in OIDC grant and
// reads the exact lag through the broker's OAUTH listener, which verifies
// the token against the endpoint's JWKS (Kafka's own
// OAuthBearerValidatorCallbackHandler); the auth file's SASL extension
// (oauthExtensions) goes along and the broker does not refuse it. A wrong client secret, an expired
// token and a token for another audience each end within the deadline with
// one line, the secret nowhere, and the endpoint is not hammered meanwhile.

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

const int kOAuthPort = FreePort();
const OAuthServer::Options kOAuth = {.port = kOAuthPort};

OAuthServer* oauth = nullptr;
KafkaCluster* kafka = nullptr;

// The token endpoint, up before the broker, which fetches its JWKS at start.
class OAuthServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto server = OAuthServer::Start(kOAuth);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    oauth = server_.get();
  }
  void TearDown() override {
    oauth = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<OAuthServer> server_;
};

const auto* const kOAuthEnvironment =
    ::testing::AddGlobalTestEnvironment(new OAuthServerEnvironment);
const auto* const kKafkaEnvironment =
    ::testing::AddGlobalTestEnvironment(new KafkaClusterEnvironment(
        "kafka_oauth",
        {.brokers = 1,
         .listeners = {KafkaListener::kOauthbearer},
         .oauth = {.jwks_url = "http://127.0.0.1:" + std::to_string(kOAuthPort) + "/jwks",
                   .issuer = kOAuth.issuer,
                   .audience = kOAuth.audience}},
        &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }
std::string OAuthListener() { return kafka->bootstrap(KafkaListener::kOauthbearer); }

// Sets a fault of the token endpoint for one test.
class FaultScope {
 public:
  explicit FaultScope(Fault fault) { oauth->SetFault(fault); }
  ~FaultScope() { oauth->SetFault(Fault::kNone); }
};

std::filesystem::path AuthFile(const std::string& secret) {
  const std::filesystem::path path = kafka->dir() / (Unique("oauth") + ".auth");
  std::ofstream(path) << "sasl=oauthbearer\noauthTokenEndpointUri=" << oauth->token_url()
                      << "\noauthClientId=" << kOAuth.client_id << "\noauthClientSecret=" << secret
                      << "\noauthScope=kafka.read\noauthExtensions=traceId=groupscaler\n";
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
Failure LagFailsThroughOAuth(const std::string& what, const std::string& secret, int timeout_ms) {
  const auto start = SteadyClock::now();
  Failure f;
  f.run =
      Lag({"--bootstrap-servers", OAuthListener(), "--group", Unique("group"), "--topic", "any",
           "--auth-file", AuthFile(secret).string(), "--timeout-ms", std::to_string(timeout_ms)});
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

TEST(RealKafkaOAuth, ReadsTheExactLagThroughTheOAuthListener) {
  const std::string topic = Unique("oauth"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 2, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {4, 6}).ok());
  ASSERT_TRUE(CommitOffsets(Plaintext(), group, {{topic, 0, 1}, {topic, 1, 1}}).ok());
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
  EXPECT_GE(oauth->token_requests() - before, 1);
  EXPECT_THAT(oauth->granted_scopes(), Contains("kafka.read"));
}

// The token endpoint refuses the client (401 invalid_client): one line
// naming the endpoint, and librdkafka asks again only after 10 s, so over a
// deadline of 11 s the endpoint sees a request every few seconds at most
// (measured: 2 in 11 s).
TEST(RealKafkaOAuth, WrongSecretIsOneLineNamingTheEndpointWithoutHammeringIt) {
  const Failure f = LagFailsThroughOAuth("wrong secret", "not-the-client-secret-4711", 11000);
  EXPECT_THAT(f.run.err, HasSubstr(oauth->token_url()));
  EXPECT_THAT(f.run.err, HasSubstr("invalid_client"));
  EXPECT_GE(f.token_requests, 1);
  EXPECT_LE(f.token_requests / f.seconds, 0.5) << f.token_requests << " in " << f.seconds << " s";
}

// librdkafka refuses an expired token itself, before any broker sees it.
TEST(RealKafkaOAuth, ExpiredTokenIsOneLineNamingTheEndpoint) {
  FaultScope fault(Fault::kExpiredToken);
  const Failure f = LagFailsThroughOAuth("expired token", kOAuth.client_secret, 5000);
  EXPECT_THAT(f.run.err, HasSubstr(oauth->token_url()));
  EXPECT_THAT(f.run.err, HasSubstr("unexpired"));
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
