// OAuth client credentials (OIDC) on a real Kafka broker: `groupscaler lag
// --auth-file` with sasl=oauthbearer gets a token from a token endpoint
// (support/oauth_server.h) through librdkafka's built-in OIDC grant and
// reads the exact lag through the broker's OAUTH listener, which verifies
// the token against the endpoint's JWKS (Kafka's own
// OAuthBearerValidatorCallbackHandler). A wrong client secret, an expired
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
                      << "\noauthScope=kafka.read\n";
  return path;
}

// `groupscaler lag` of a fresh group on the OAUTH listener, --timeout-ms
// `timeout_ms`.
RunResult LagThroughOAuth(const std::string& secret, int timeout_ms) {
  return Lag({"--bootstrap-servers", OAuthListener(), "--group", Unique("group"), "--topic", "any",
              "--auth-file", AuthFile(secret).string(), "--timeout-ms",
              std::to_string(timeout_ms)});
}

// One line on stderr, exit 1, within the deadline (and 3 s for the process),
// the secret nowhere.
void ExpectOneLineFailure(const RunResult& r, double seconds, int timeout_ms,
                          const std::string& secret) {
  EXPECT_LT(seconds, timeout_ms / 1000.0 + 3);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err + r.out, Not(HasSubstr(secret)));
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
  const std::string wrong = "not-the-client-secret-4711";
  constexpr int kTimeoutMs = 11000;
  const auto start = SteadyClock::now();
  const RunResult r = LagThroughOAuth(wrong, kTimeoutMs);
  const double seconds = SecondsSince(start);
  const int requests = oauth->TokenRequestsSince(start);
  std::cout << "wrong secret: exit in " << seconds << " s, " << requests
            << " token requests: " << r.err << std::flush;
  ExpectOneLineFailure(r, seconds, kTimeoutMs, wrong);
  EXPECT_THAT(r.err, HasSubstr(oauth->token_url()));
  EXPECT_THAT(r.err, HasSubstr("invalid_client"));
  EXPECT_GE(requests, 1);
  EXPECT_LE(requests / seconds, 0.5) << requests << " token requests in " << seconds << " s";
}

// librdkafka refuses an expired token itself, before any broker sees it.
TEST(RealKafkaOAuth, ExpiredTokenIsOneLineNamingTheEndpoint) {
  FaultScope fault(Fault::kExpiredToken);
  constexpr int kTimeoutMs = 5000;
  const auto start = SteadyClock::now();
  const RunResult r = LagThroughOAuth(kOAuth.client_secret, kTimeoutMs);
  const double seconds = SecondsSince(start);
  std::cout << "expired token: exit in " << seconds << " s, " << oauth->TokenRequestsSince(start)
            << " token requests: " << r.err << std::flush;
  ExpectOneLineFailure(r, seconds, kTimeoutMs, kOAuth.client_secret);
  EXPECT_THAT(r.err, HasSubstr(oauth->token_url()));
  EXPECT_THAT(r.err, HasSubstr("unexpired"));
}

// The broker refuses a token for another audience: one line naming the
// broker.
TEST(RealKafkaOAuth, WrongAudienceIsTheBrokersRefusalInOneLine) {
  FaultScope fault(Fault::kWrongAudience);
  constexpr int kTimeoutMs = 5000;
  const auto start = SteadyClock::now();
  const RunResult r = LagThroughOAuth(kOAuth.client_secret, kTimeoutMs);
  const double seconds = SecondsSince(start);
  std::cout << "wrong audience: exit in " << seconds << " s: " << r.err << std::flush;
  ExpectOneLineFailure(r, seconds, kTimeoutMs, kOAuth.client_secret);
  EXPECT_THAT(r.err, HasSubstr(kafka->address(0, KafkaListener::kOauthbearer)));
  EXPECT_THAT(r.err, HasSubstr("OAUTHBEARER"));
}

}  // namespace
}  // namespace groupscaler::testing
