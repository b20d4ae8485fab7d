// sasl=oauthbearer without a network: the client credentials grant as
// posted (HTTP Basic of form-url-encoded credentials, the form), the token
// read from the answer (expiry, JWT sub as principal), errors in one line
// without the secret, the cache (one grant for every caller until 80% of
// its lifetime) and the backoff after failures, on a manual clock; and the
// refresh seam handing librdkafka a token with extensions.

#include "common/base64.h"
#include "kafka/oauth_client_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/manual_clock.h"
#include "kafka/msk_iam_token.h"
#include "kafka/oauth_token_refresh.h"
#include "token_refresh_handle.h"

namespace groupscaler::kafka {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kEndpoint[] = "https://idp.example/oauth2/token";
constexpr char kSecret[] = "S3cr3t/with+reserved=chars&%";
const Timestamp kNow{1767323045000ms};  // 2026-01-02T03:04:05Z

// A JWT (unsigned: only the broker checks signatures) with `claims`.
std::string Jwt(const std::string& claims) {
  return Base64UrlEncode(R"({"alg":"RS256","typ":"JWT"})") + "." + Base64UrlEncode(claims) +
         ".c2ln";
}

// Answers every request with `next`, recording it.
class ScriptedHttp final : public HttpClient {
 public:
  StatusOr<HttpResponse> Send(const HttpRequest& request, std::chrono::milliseconds) override {
    requests.push_back(request);
    return next;
  }
  std::vector<HttpRequest> requests;
  StatusOr<HttpResponse> next = HttpResponse{200, ""};
};

HttpResponse Granted(const std::string& token, int expires_in) {
  return {200, R"({"access_token":")" + token + R"(","token_type":"Bearer","expires_in":)" +
                   std::to_string(expires_in) + "}"};
}

OAuthClientCredentials Settings() {
  return {.token_endpoint = kEndpoint,
          .client_id = "groupscaler",
          .client_secret = kSecret,
          .scope = "kafka read",
          .extensions = {{"traceId", "gs-1"}},
          .ca_pem = "",
          .ca_file = ""};
}

// The grant on a scripted client and a manual clock.
struct Grant {
  ManualClock clock{kNow};
  ScriptedHttp* http = nullptr;  // owned by the source
  std::unique_ptr<OAuthTokenSource> source;

  explicit Grant(OAuthClientCredentials settings = Settings()) {
    auto scripted = std::make_unique<ScriptedHttp>();
    http = scripted.get();
    source = std::make_unique<ClientCredentialsTokenSource>(
        std::move(settings), std::vector<std::string>{kSecret}, std::move(scripted), &clock);
  }
  // The same, cached.
  void Cache() { source = std::make_unique<CachedTokenSource>(std::move(source), &clock); }
  int requests() const { return static_cast<int>(http->requests.size()); }
};

TEST(ClientCredentials, BasicAuthorizationFormUrlEncodesThenBase64) {
  // base64("svc%20client:p%40ss%3Aw%2Frd%2B%26%3D%25%C3%A9"), RFC 6749 2.3.1.
  EXPECT_EQ(BasicAuthorization("svc client", "p@ss:w/rd+&=%\xC3\xA9"),
            "Basic c3ZjJTIwY2xpZW50OnAlNDBzcyUzQXclMkZyZCUyQiUyNiUzRCUyNSVDMyVBOQ==");
}

TEST(ClientCredentials, PostsTheGrantFormWithBasicAuthentication) {
  Grant grant;
  grant.http->next = Granted("opaque-token", 3600);
  ASSERT_TRUE(grant.source->Token().ok());
  ASSERT_EQ(grant.requests(), 1);
  const HttpRequest& request = grant.http->requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, kEndpoint);
  EXPECT_EQ(request.body, "grant_type=client_credentials&scope=kafka%20read");
  EXPECT_THAT(request.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                   "Content-Type", "application/x-www-form-urlencoded")));
  EXPECT_THAT(request.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                   "Authorization", BasicAuthorization("groupscaler", kSecret))));
  EXPECT_THAT(request.body, Not(HasSubstr("client_secret")));

  OAuthClientCredentials no_scope = Settings();
  no_scope.scope.clear();
  EXPECT_EQ(ClientCredentialsForm(no_scope.scope), "grant_type=client_credentials");
}

struct AnswerCase {
  std::string name;
  HttpResponse response;
  // Expected token, when the answer is one.
  std::string principal;
  Timestamp expiry;
  // Else the error's message.
  std::string error;
};
void PrintTo(const AnswerCase& c, std::ostream* os) { *os << c.name; }

class TokenAnswerTest : public ::testing::TestWithParam<AnswerCase> {};

TEST_P(TokenAnswerTest, ReadsTheTokenOrNamesWhatIsWrong) {
  const AnswerCase& c = GetParam();
  StatusOr<BearerToken> token = ParseTokenResponse(c.response, Settings(), kNow);
  if (!c.error.empty()) {
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().message(), std::string("OAuth token endpoint ") + kEndpoint + c.error);
    return;
  }
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->principal, c.principal);
  EXPECT_EQ(token->expiry, c.expiry);
  EXPECT_EQ(token->extensions, Settings().extensions);
}

const int64_t kNowSeconds = 1767323045;

INSTANTIATE_TEST_SUITE_P(
    ClientCredentials, TokenAnswerTest,
    ::testing::Values(
        AnswerCase{.name = "opaque_token_is_the_clients",
                   .response = Granted("opaque", 300),
                   .principal = "groupscaler",
                   .expiry = kNow + 300s},
        AnswerCase{.name = "jwt_sub_is_the_principal_and_a_sooner_exp_the_expiry",
                   .response = Granted(Jwt(R"({"sub":"svc-reader","exp":)" +
                                           std::to_string(kNowSeconds + 60) + "}"),
                                       300),
                   .principal = "svc-reader",
                   .expiry = kNow + 60s},
        AnswerCase{
            .name = "jwt_exp_without_expires_in",
            .response = {200, R"({"access_token":")" +
                                  Jwt(R"({"exp":)" + std::to_string(kNowSeconds + 90) + "}") +
                                  R"(","token_type":"bearer"})"},
            .principal = "groupscaler",
            .expiry = kNow + 90s},
        AnswerCase{.name = "expired_jwt",
                   .response = Granted(
                       Jwt(R"({"sub":"s","exp":)" + std::to_string(kNowSeconds - 60) + "}"), 3600),
                   .error = ": granted a token already expired"},
        AnswerCase{.name = "no_expiry_at_all",
                   .response = {200, R"({"access_token":"opaque"})"},
                   .error = ": the answer gives no expires_in and the token no exp"},
        AnswerCase{.name = "not_a_bearer_token",
                   .response = {200, R"({"access_token":"opaque","token_type":"mac"})"},
                   .error = ": token_type is not Bearer"},
        AnswerCase{.name = "no_access_token",
                   .response = {200, "<html>sign in</html>"},
                   .error = ": the answer holds no access_token"},
        AnswerCase{.name = "oauth_error",
                   .response = {400, R"({"error":"invalid_scope","error_description":"no"})"},
                   .error = ": HTTP 400 invalid_scope: no"},
        AnswerCase{.name = "bare_status", .response = {503, "busy"}, .error = ": HTTP 503"}),
    [](const auto& info) { return info.param.name; });

TEST(ClientCredentials, ErrorsAreOneLineNamingTheEndpointWithoutTheSecret) {
  Grant grant;
  grant.http->next =
      HttpResponse{401, std::string(R"({"error":"invalid_client","error_description":"secret )") +
                            kSecret + R"(\nis wrong"})"};
  StatusOr<BearerToken> token = grant.source->Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(token.status().message(), std::string("OAuth token endpoint ") + kEndpoint +
                                          ": HTTP 401 invalid_client: secret [redacted] is wrong");

  grant.http->next =
      UnavailableError(std::string("POST ") + kEndpoint + ": Error in SSL handshake");
  token = grant.source->Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(),
              StartsWith(std::string("OAuth token endpoint: POST ") + kEndpoint));
}

TEST(CachedTokenSource, OneGrantServesEveryCallUntil80PercentOfItsLifetime) {
  Grant grant;
  grant.Cache();
  grant.http->next = Granted("first", 1000);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(grant.source->Token()->value, "first");
  EXPECT_EQ(grant.requests(), 1);
  grant.http->next = Granted("second", 1000);
  grant.clock.Advance(799'999ms);
  EXPECT_EQ(grant.source->Token()->value, "first");
  EXPECT_EQ(grant.requests(), 1);
  grant.clock.Advance(1ms);  // 80% of 1000 s
  EXPECT_EQ(grant.source->Token()->value, "second");
  EXPECT_EQ(grant.source->Token()->value, "second");
  EXPECT_EQ(grant.requests(), 2);
}

TEST(CachedTokenSource, BacksOffDoublingTo60SecondsWithoutAskingThenResets) {
  Grant grant;
  grant.Cache();
  grant.http->next = HttpResponse{401, R"({"error":"invalid_client"})"};
  ASSERT_FALSE(grant.source->Token().ok());
  ASSERT_EQ(grant.requests(), 1);
  int expected = 1;
  for (std::chrono::milliseconds backoff : {1s, 2s, 4s, 8s, 16s, 32s, 60s, 60s}) {
    grant.clock.Advance(backoff - 1ms);
    StatusOr<BearerToken> cached = grant.source->Token();
    ASSERT_FALSE(cached.ok());
    EXPECT_THAT(cached.status().message(), HasSubstr("invalid_client"));
    EXPECT_EQ(grant.requests(), expected) << "asked within a backoff of " << backoff.count();
    grant.clock.Advance(1ms);
    EXPECT_FALSE(grant.source->Token().ok());
    EXPECT_EQ(grant.requests(), ++expected) << "not asked after a backoff of " << backoff.count();
  }

  // A success resets the backoff; the next failure, past 80% of the token's
  // lifetime, keeps the token while it is valid and waits 1 s again.
  grant.clock.Advance(60s);
  grant.http->next = Granted("good", 100);
  EXPECT_EQ(grant.source->Token()->value, "good");
  grant.http->next = HttpResponse{500, ""};
  grant.clock.Advance(80s);
  EXPECT_EQ(grant.source->Token()->value, "good");
  const int after = grant.requests();
  grant.clock.Advance(999ms);
  EXPECT_EQ(grant.source->Token()->value, "good");
  EXPECT_EQ(grant.requests(), after);
  grant.clock.Advance(1ms);
  EXPECT_EQ(grant.source->Token()->value, "good");
  EXPECT_EQ(grant.requests(), after + 1);
  grant.clock.Advance(20s);  // the token has expired: the failure shows
  StatusOr<BearerToken> expired = grant.source->Token();
  ASSERT_FALSE(expired.ok());
  EXPECT_THAT(expired.status().message(), HasSubstr("HTTP 500"));
}

// Answers what it is told.
class FixedTokenSource final : public OAuthTokenSource {
 public:
  explicit FixedTokenSource(StatusOr<BearerToken> token) : token_(std::move(token)) {}
  StatusOr<BearerToken> Token() override { return token_; }

 private:
  const StatusOr<BearerToken> token_;
};

TEST(SetToken, HandsLibrdkafkaTheTokenWithItsExtensions) {
  const Timestamp in_an_hour =
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()) + 1h;
  Status ok = testing::FirstTokenRefresh(std::make_shared<FixedTokenSource>(
      BearerToken{"token-value", in_an_hour, "svc", {{"traceId", "gs-1"}}}));
  EXPECT_TRUE(ok.ok()) << ok.ToString();
  // "auth" is reserved (RFC 7628): librdkafka refuses, and says so.
  Status refused = testing::FirstTokenRefresh(std::make_shared<FixedTokenSource>(
      BearerToken{"token-value", in_an_hour, "svc", {{"auth", "x"}}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("OAUTHBEARER token for svc refused by librdkafka"));
  EXPECT_THAT(refused.message(), Not(HasSubstr("token-value")));
}

TEST(NewTokenSource, OnlyTokenModesHaveOneAndABadCaIsRefusedByItsKey) {
  StatusOr<AuthConfig> plain =
      BuildAuthConfig({{"sasl", "plain"}, {"username", "u"}, {"password", "p"}});
  ASSERT_TRUE(plain.ok());
  StatusOr<std::shared_ptr<OAuthTokenSource>> none = NewTokenSource(*plain);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);

  AuthSettings settings = {{"sasl", "oauthbearer"},
                           {"oauthTokenEndpointUri", kEndpoint},
                           {"oauthClientId", "groupscaler"},
                           {"oauthClientSecret", kSecret}};
  StatusOr<AuthConfig> oauth = BuildAuthConfig(settings);
  ASSERT_TRUE(oauth.ok());
  StatusOr<std::shared_ptr<OAuthTokenSource>> source = NewTokenSource(*oauth);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_NE(*source, nullptr);

  settings["oauthCaFile"] = ::testing::TempDir() + "/no-such-ca.pem";
  StatusOr<std::shared_ptr<OAuthTokenSource>> missing = NewTokenSource(*BuildAuthConfig(settings));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), StartsWith("auth setting \"oauthCaFile\": "));

  settings.erase("oauthCaFile");
  settings["oauthCa"] = "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n";
  StatusOr<std::shared_ptr<OAuthTokenSource>> garbled = NewTokenSource(*BuildAuthConfig(settings));
  ASSERT_FALSE(garbled.ok());
  EXPECT_THAT(garbled.status().message(), StartsWith("auth setting \"oauthCa\": "));
}

}  // namespace
}  // namespace groupscaler::kafka
