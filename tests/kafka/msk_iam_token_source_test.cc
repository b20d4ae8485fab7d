// sasl=aws_msk_iam through librdkafka: the token refresh callback
// (oauth_token_refresh.h) hands a real handle, the reader's and
// KafkaAdmin's, its token, and a reader whose STS refuses fails its
// observation with a line naming STS, its secret in no error or log line.

#include "kafka/msk_iam_token_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/manual_clock.h"
#include "kafka/admin.h"
#include "kafka/mock_cluster.h"
#include "kafka/rdkafka_lag_reader.h"
#include "local_http_server.h"
#include "support/subprocess.h"
#include "token_refresh_handle.h"

namespace groupscaler::kafka {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// Captures the default logger's lines; readable while librdkafka's threads
// log (the ring buffer sink takes its lock to read).
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10'000)),
        previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
    spdlog::set_level(spdlog::level::debug);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    std::string out;
    for (const std::string& line : sink_->last_formatted()) out += line;
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

// A cluster on a port nobody listens on (the token comes before any
// connection), with static keys.
ClusterConfig MskIamCluster() {
  ClusterConfig cluster;
  cluster.bootstrap_servers = {"127.0.0.1:" + std::to_string(testing::FreePort())};
  cluster.auth = {{"sasl", "aws_msk_iam"},
                  {"awsRegion", "eu-west-1"},
                  {"awsAccessKeyId", "AKIAEXAMPLE"},
                  {"awsSecretAccessKey", kSecret}};
  return cluster;
}

// Answers what it is told.
class ScriptedCredentials final : public AwsCredentialsProvider {
 public:
  StatusOr<AwsCredentials> Credentials() override { return next; }
  StatusOr<AwsCredentials> next = AwsCredentials{};
};

TEST(MskIamOauthTest, TokenSourceSignsAtItsClockAndRedactsErrors) {
  ManualClock clock(Timestamp(1767323045000ms));
  auto scripted = std::make_unique<ScriptedCredentials>();
  ScriptedCredentials* credentials = scripted.get();
  credentials->next = AwsCredentials{"ASIA", kSecret, "session", clock.Now() + 10min};
  MskIamTokenSource source("eu-west-1", std::move(scripted), &clock, {kSecret});
  StatusOr<BearerToken> token = source.Token();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->expiry, clock.Now() + 10min);  // the credentials', before 900 s
  EXPECT_EQ(token->principal, "ASIA");
  credentials->next = UnavailableError(std::string("STS said ") + kSecret);
  token = source.Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().message(), "MSK IAM token: STS said [redacted]");
}

TEST(MskIamOauthTest, RefreshCallbackHandsTheHandleItsToken) {
  ManualClock clock(Timestamp(std::chrono::floor<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch())));
  Status set = testing::FirstTokenRefresh(std::make_shared<MskIamTokenSource>(
      "eu-west-1", StaticCredentials({"AKIAEXAMPLE", kSecret, "", {}}), &clock,
      std::vector<std::string>{kSecret}));
  EXPECT_TRUE(set.ok()) << set.ToString();
}

TEST(MskIamOauthTest, ReaderWhoseStsRefusesFailsNamingStsWithoutTheSecret) {
  auto sts = testing::LocalHttpServer::Start([](const testing::RecordedRequest&) {
    return testing::CannedResponse{
        403, "text/xml",
        "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User is not authorized to "
        "perform: sts:AssumeRole</Message></Error></ErrorResponse>"};
  });
  ASSERT_NE(sts, nullptr);
  ScopedEnv endpoint("AWS_ENDPOINT_URL_STS", sts->url());
  LogCapture log;
  ClusterConfig cluster = MskIamCluster();
  cluster.auth["awsRoleArn"] = "arn:aws:iam::123456789012:role/kafka-reader";
  auto reader = NewRdKafkaLagReader(cluster);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto result = (*reader)->Observe({{"orders", {"orders"}}}, 3000ms);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("OAUTHBEARER"));
  EXPECT_THAT(result.status().message(),
              HasSubstr("STS AssumeRole at " + sts->url() + ": HTTP 403 AccessDenied"));
  EXPECT_THAT(result.status().message(), Not(HasSubstr(kSecret)));
  EXPECT_THAT(log.text(), HasSubstr("STS AssumeRole"));
  EXPECT_THAT(log.text(), Not(HasSubstr(kSecret)));
  ASSERT_FALSE(sts->requests().empty());
  EXPECT_THAT(sts->requests()[0].headers["authorization"], HasSubstr("Credential=AKIAEXAMPLE/"));
}

TEST(MskIamOauthTest, ReaderWithStaticKeysHandsLibrdkafkaAToken) {
  LogCapture log;
  auto reader = NewRdKafkaLagReader(MskIamCluster());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return log.text().find("OAUTHBEARER token set for AKIAEXAMPLE") != std::string::npos; },
      5s));
  EXPECT_THAT(log.text(), Not(HasSubstr("Failed to acquire SASL OAUTHBEARER token")));
  EXPECT_THAT(log.text(), Not(HasSubstr(kSecret)));
}

TEST(MskIamOauthTest, KafkaAdminHandsLibrdkafkaAToken) {
  LogCapture log;
  auto admin = KafkaAdmin::Connect(MskIamCluster());
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return log.text().find("OAUTHBEARER token set for AKIAEXAMPLE") != std::string::npos; },
      5s));
  EXPECT_THAT(log.text(), Not(HasSubstr(kSecret)));
}

}  // namespace
}  // namespace groupscaler::kafka
