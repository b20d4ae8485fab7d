// The client credentials grant over cpprestsdk against the test token
// endpoint on https (support/oauth_server.h): trusted with its CA given, and
// refused, in one line naming the endpoint, by the system's CA roots, by
// another CA, and when reached by an address its certificate does not name
// (host name verification is on).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kafka/http_client.h"
#include "kafka/oauth_client_credentials.h"
#include "support/kube_api_server.h"
#include "support/oauth_server.h"
#include "support/subprocess.h"

namespace groupscaler::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class OAuthHttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = testing::OAuthServer::Start({.port = testing::FreePort(),
                                               .https = true,
                                               .http_port = testing::FreePort(),
                                               .listen_host = "0.0.0.0"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // A grant with the server's client, through `http`, at `url`.
  static StatusOr<BearerToken> GrantThrough(std::unique_ptr<HttpClient> http,
                                            const std::string& url) {
    const testing::OAuthServer::Options& o = server_->options();
    OAuthClientCredentials settings{.token_endpoint = url,
                                    .client_id = o.client_id,
                                    .client_secret = o.client_secret,
                                    .scope = "kafka.read",
                                    .extensions = {},
                                    .ca_pem = "",
                                    .ca_file = ""};
    ClientCredentialsTokenSource source(settings, {o.client_secret}, std::move(http), &clock_);
    return source.Token();
  }

  static std::unique_ptr<HttpClient> Trusting(const std::string& ca_pem) {
    StatusOr<std::unique_ptr<HttpClient>> http = NewHttpClientTrusting(ca_pem);
    EXPECT_TRUE(http.ok()) << http.status().ToString();
    return http.ok() ? std::move(http).value() : NewHttpClient();
  }

  // A failed grant: one line naming `url`, without the secret.
  static void ExpectRefusal(const StatusOr<BearerToken>& token, const std::string& url) {
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().code(), StatusCode::kUnavailable);
    EXPECT_THAT(token.status().message(), StartsWith("OAuth token endpoint: POST " + url + ": "));
    EXPECT_THAT(token.status().message(), Not(HasSubstr(server_->options().client_secret)));
    EXPECT_THAT(token.status().message(), Not(HasSubstr("\n")));
  }

  static inline testing::OAuthServer* server_ = nullptr;
  static inline RealClock clock_;
};

TEST_F(OAuthHttpsTest, TrustsTheGivenCa) {
  const int before = server_->token_requests();
  StatusOr<BearerToken> token = GrantThrough(Trusting(server_->ca_pem()), server_->token_url());
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->principal, server_->options().client_id);  // the JWT's sub
  EXPECT_GT(token->expiry, clock_.Now());
  EXPECT_EQ(server_->token_requests(), before + 1);
  EXPECT_EQ(server_->granted_scopes().back(), "kafka.read");
}

TEST_F(OAuthHttpsTest, SystemRootsDoNotTrustAnUnknownCa) {
  ExpectRefusal(GrantThrough(NewHttpClient(), server_->token_url()), server_->token_url());
}

TEST_F(OAuthHttpsTest, AnotherCaIsNotTrusted) {
  StatusOr<testing::TestPki> other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());
  ExpectRefusal(GrantThrough(Trusting(other->ca_pem), server_->token_url()), server_->token_url());
}

TEST_F(OAuthHttpsTest, AnAddressTheCertificateDoesNotNameIsRefused) {
  // 127.0.0.2 reaches the same listener (plain HTTP answers there)...
  const std::string plain =
      "http://127.0.0.2:" + std::to_string(server_->options().http_port) + "/token";
  ASSERT_TRUE(GrantThrough(NewHttpClient(), plain).ok());
  // ...but the certificate names 127.0.0.1 and localhost only.
  const std::string other_host =
      "https://127.0.0.2:" + std::to_string(server_->options().port) + "/token";
  StatusOr<BearerToken> token = GrantThrough(Trusting(server_->ca_pem()), other_host);
  ExpectRefusal(token, other_host);
  EXPECT_THAT(token.status().message(), HasSubstr("handshake"));
}

TEST(NewHttpClientTrusting, RefusesTextWithoutACertificate) {
  StatusOr<std::unique_ptr<HttpClient>> http = NewHttpClientTrusting("no certificate here");
  ASSERT_FALSE(http.ok());
  EXPECT_EQ(http.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace groupscaler::kafka
