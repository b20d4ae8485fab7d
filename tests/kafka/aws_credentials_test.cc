// The AWS credential sources of MSK IAM against local servers playing STS and
// the EKS Pod Identity agent, which check each request as AWS documents it;
// the cache on a manual clock.

#include "kafka/aws_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

// After gtest: cpprestsdk's U() macro breaks gtest's templates that follow it.
#include <cpprest/base_uri.h>

#include <filesystem>
#include <fstream>

#include "common/manual_clock.h"
#include "local_http_server.h"

namespace groupscaler::kafka {
namespace {

using namespace std::chrono_literals;
using testing::CannedResponse;
using ::testing::HasSubstr;
using testing::LocalHttpServer;
using ::testing::Not;
using testing::RecordedRequest;

constexpr Timestamp kT0{1767323045000ms};  // 2026-01-02T03:04:05Z
constexpr char kWebToken[] = "eyJhbGciOiJSUzI1NiJ9.web-identity-token.signature";

std::string StsAnswer(const std::string& action, const std::string& key,
                      const std::string& expiration) {
  return "<" + action + "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><" + action +
         "Result><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
         "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>" +
         key +
         "</AccessKeyId><SecretAccessKey>sts-secret&amp;/+</SecretAccessKey>"
         "<SessionToken>sts-session-token</SessionToken><Expiration>" +
         expiration + "</Expiration></Credentials></" + action +
         "Result><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></" + action +
         "Response>";
}

constexpr char kStsDenied[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender"
    "</Type><Code>AccessDenied</Code><Message>Not authorized to perform "
    "sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>2</RequestId></ErrorResponse>";

// The decoded parameters of a form body.
std::map<std::string, std::string> Form(const std::string& body) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : web::uri::split_query(body)) {
    out[web::uri::decode(name)] = web::uri::decode(value);
  }
  return out;
}

class TempFile {
 public:
  explicit TempFile(const std::string& content)
      : path_(std::filesystem::temp_directory_path() /
              ("groupscaler-aws-" + std::to_string(::getpid()) + "-" + std::to_string(++count_))) {
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int count_ = 0;
  std::filesystem::path path_;
};

Getenv Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class AwsCredentialsTest : public ::testing::Test {
 protected:
  AwsContext Context(Getenv env = Env({})) {
    return AwsContext{http_.get(), &clock_, std::move(env), 5000ms};
  }

  std::unique_ptr<HttpClient> http_ = NewHttpClient();
  ManualClock clock_{kT0};
};

TEST_F(AwsCredentialsTest, WebIdentityAsksStsAsAwsDocuments) {
  auto sts = LocalHttpServer::Start([](const RecordedRequest&) {
    return CannedResponse{
        200, "text/xml", StsAnswer("AssumeRoleWithWebIdentity", "ASIAWEB", "2026-01-02T04:04:05Z")};
  });
  ASSERT_NE(sts, nullptr);
  TempFile token(std::string(kWebToken) + "\n");
  auto provider = WebIdentityCredentials(Context(), sts->url(), "arn:aws:iam::123456789012:role/r",
                                         token.path(), "groupscaler");
  StatusOr<AwsCredentials> credentials = provider->Credentials();
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->access_key_id, "ASIAWEB");
  EXPECT_EQ(credentials->secret_access_key, "sts-secret&/+");
  EXPECT_EQ(credentials->session_token, "sts-session-token");
  EXPECT_EQ(credentials->expiration, kT0 + 1h);

  const std::vector<RecordedRequest> requests = sts->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path_and_query, "/");
  EXPECT_THAT(requests[0].headers.at("content-type"),
              HasSubstr("application/x-www-form-urlencoded"));
  EXPECT_EQ(Form(requests[0].body),
            (std::map<std::string, std::string>{{"Action", "AssumeRoleWithWebIdentity"},
                                                {"RoleArn", "arn:aws:iam::123456789012:role/r"},
                                                {"RoleSessionName", "groupscaler"},
                                                {"Version", "2011-06-15"},
                                                {"WebIdentityToken", kWebToken}}));
  EXPECT_EQ(requests[0].headers.count("authorization"), 0u);  // unsigned, as documented
}

TEST_F(AwsCredentialsTest, StsRefusalNamesStsAndItsReasonButNoSecret) {
  auto sts = LocalHttpServer::Start([](const RecordedRequest&) {
    return CannedResponse{403, "text/xml", kStsDenied};
  });
  ASSERT_NE(sts, nullptr);
  TempFile token(kWebToken);
  auto provider = WebIdentityCredentials(Context(), sts->url(), "arn:aws:iam::1:role/r",
                                         token.path(), "groupscaler");
  StatusOr<AwsCredentials> credentials = provider->Credentials();
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(credentials.status().message(),
              HasSubstr("STS AssumeRoleWithWebIdentity at " + sts->url() +
                        ": HTTP 403 AccessDenied: Not authorized"));
  EXPECT_THAT(credentials.status().message(), Not(HasSubstr(kWebToken)));
}

TEST_F(AwsCredentialsTest, AssumeRoleIsSignedWithTheCredentialsFound) {
  const AwsCredentials base{"ASIABASE", "base-secret", "base-session", {}};
  auto sts = LocalHttpServer::Start([&](const RecordedRequest& r) {
    // Check the signature as STS would: recomputed from what arrived.
    SigV4Request signed_part{"POST", "/", {}, {}, r.body};
    for (const char* name : {"content-type", "host", "x-amz-date", "x-amz-security-token"}) {
      if (r.headers.count(name)) signed_part.headers.emplace_back(name, r.headers.at(name));
    }
    const std::string expected =
        AuthorizationHeader(signed_part, base, SigV4Scope{"eu-west-1", "sts", kT0});
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != expected) {
      return CannedResponse{403, "text/xml",
                            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code>"
                            "</Error></ErrorResponse>"};
    }
    return CannedResponse{200, "text/xml",
                          StsAnswer("AssumeRole", "ASIAROLE", "2026-01-02T05:04:05Z")};
  });
  ASSERT_NE(sts, nullptr);
  auto provider = AssumeRoleCredentials(Context(), StaticCredentials(base), sts->url(), "eu-west-1",
                                        "arn:aws:iam::1:role/kafka", "gs");
  StatusOr<AwsCredentials> credentials = provider->Credentials();
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->access_key_id, "ASIAROLE");
  const RecordedRequest r = sts->requests().at(0);
  EXPECT_EQ(r.headers.at("x-amz-security-token"), "base-session");
  EXPECT_EQ(r.headers.at("x-amz-date"), "20260102T030405Z");
  EXPECT_THAT(r.headers.at("authorization"),
              HasSubstr("Credential=ASIABASE/20260102/eu-west-1/sts/aws4_request, "
                        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "));
  EXPECT_EQ(Form(r.body),
            (std::map<std::string, std::string>{{"Action", "AssumeRole"},
                                                {"RoleArn", "arn:aws:iam::1:role/kafka"},
                                                {"RoleSessionName", "gs"},
                                                {"Version", "2011-06-15"}}));
}

TEST_F(AwsCredentialsTest, PodIdentitySendsTheTokenFileAsAuthorization) {
  auto agent = LocalHttpServer::Start([](const RecordedRequest& r) {
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "pod-token") {
      return CannedResponse{401, "application/json", "{}"};
    }
    return CannedResponse{200, "application/json",
                          R"({"AccessKeyId":"ASIAPOD","SecretAccessKey":"pod-secret",)"
                          R"("Token":"pod-session","AccountId":"123456789012",)"
                          R"("Expiration":"2026-01-02T09:04:05Z"})"};
  });
  ASSERT_NE(agent, nullptr);
  TempFile token("pod-token\n");
  const std::string uri = agent->url() + "v1/credentials";
  StatusOr<AwsCredentials> credentials =
      PodIdentityCredentials(Context(), uri, token.path(), "")->Credentials();
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->access_key_id, "ASIAPOD");
  EXPECT_EQ(credentials->secret_access_key, "pod-secret");
  EXPECT_EQ(credentials->session_token, "pod-session");
  EXPECT_EQ(credentials->expiration, kT0 + 6h);
  const RecordedRequest r = agent->requests().at(0);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path_and_query, "/v1/credentials");

  TempFile wrong("other-token");
  credentials = PodIdentityCredentials(Context(), uri, wrong.path(), "")->Credentials();
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(),
              HasSubstr("EKS Pod Identity agent at " + uri + ": HTTP 401"));
  EXPECT_THAT(credentials.status().message(), Not(HasSubstr("other-token")));
}

TEST_F(AwsCredentialsTest, ChainTakesStaticKeysThenWebIdentityThenPodIdentity) {
  auto sts = LocalHttpServer::Start([](const RecordedRequest&) {
    return CannedResponse{
        200, "text/xml", StsAnswer("AssumeRoleWithWebIdentity", "ASIAWEB", "2026-01-02T04:04:05Z")};
  });
  auto agent = LocalHttpServer::Start([](const RecordedRequest&) {
    return CannedResponse{200, "application/json",
                          R"({"AccessKeyId":"ASIAPOD","SecretAccessKey":"s","Token":"t",)"
                          R"("Expiration":"2026-01-02T09:04:05Z"})"};
  });
  ASSERT_TRUE(sts && agent);
  TempFile token(kWebToken);
  const std::map<std::string, std::string> irsa = {{"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"},
                                                   {"AWS_WEB_IDENTITY_TOKEN_FILE", token.path()},
                                                   {"AWS_ENDPOINT_URL_STS", sts->url()}};
  std::map<std::string, std::string> both = irsa;
  both["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = agent->url();
  MskIamSettings keys{
      .region = "us-east-1", .access_key_id = "AKIASTATIC", .secret_access_key = "static-secret"};
  MskIamSettings none{.region = "us-east-1"};
  struct Case {
    std::string name;
    MskIamSettings settings;
    std::map<std::string, std::string> env;
    std::string key;  // expected access key id; empty: an error
  };
  const Case cases[] = {
      {.name = "static keys first", .settings = keys, .env = both, .key = "AKIASTATIC"},
      {.name = "then IRSA", .settings = none, .env = both, .key = "ASIAWEB"},
      {.name = "then Pod Identity",
       .settings = none,
       .env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", agent->url()}},
       .key = "ASIAPOD"},
      {.name = "none", .settings = none, .env = {}, .key = ""},
  };
  for (const Case& c : cases) {
    StatusOr<AwsCredentials> got =
        MskIamCredentials(c.settings, Context(Env(c.env)))->Credentials();
    if (c.key.empty()) {
      ASSERT_FALSE(got.ok()) << c.name;
      EXPECT_THAT(got.status().message(), HasSubstr("no AWS credentials for MSK IAM")) << c.name;
      continue;
    }
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status().ToString();
    EXPECT_EQ(got->access_key_id, c.key) << c.name;
  }
}

// Counts calls and answers what it is told.
class ScriptedProvider final : public AwsCredentialsProvider {
 public:
  StatusOr<AwsCredentials> Credentials() override {
    ++calls;
    return next;
  }
  int calls = 0;
  StatusOr<AwsCredentials> next = AwsCredentials{};
};

TEST_F(AwsCredentialsTest, CacheRefreshesFiveMinutesBeforeExpiry) {
  auto scripted = std::make_unique<ScriptedProvider>();
  ScriptedProvider* inner = scripted.get();
  inner->next = AwsCredentials{"ASIA1", "s1", "t1", kT0 + 1h};
  auto cached = CachedCredentials(std::move(scripted), &clock_);
  EXPECT_EQ(cached->Credentials()->access_key_id, "ASIA1");
  clock_.Advance(54min);
  EXPECT_EQ(cached->Credentials()->access_key_id, "ASIA1");
  EXPECT_EQ(inner->calls, 1);

  clock_.Advance(1min);  // 5 minutes before expiry: refreshed
  inner->next = AwsCredentials{"ASIA2", "s2", "t2", kT0 + 2h};
  EXPECT_EQ(cached->Credentials()->access_key_id, "ASIA2");
  EXPECT_EQ(inner->calls, 2);

  clock_.Set(kT0 + 2h - 2min);  // refresh fails, the cached ones still valid
  inner->next = UnavailableError("STS down");
  EXPECT_EQ(cached->Credentials()->access_key_id, "ASIA2");
  clock_.Set(kT0 + 2h);  // expired: the error
  EXPECT_EQ(cached->Credentials().status().message(), "STS down");
  EXPECT_EQ(inner->calls, 4);
}

TEST_F(AwsCredentialsTest, StaticKeysAreNeverRefreshed) {
  auto scripted = std::make_unique<ScriptedProvider>();
  ScriptedProvider* inner = scripted.get();
  inner->next = AwsCredentials{"AKIA", "s", "", std::nullopt};
  auto cached = CachedCredentials(std::move(scripted), &clock_);
  ASSERT_TRUE(cached->Credentials().ok());
  clock_.Advance(24h * 365);
  ASSERT_TRUE(cached->Credentials().ok());
  EXPECT_EQ(inner->calls, 1);
}

TEST(AwsCredentialsParseTest, StsAnswersAndErrors) {
  StatusOr<AwsCredentials> ok =
      ParseStsResponse(StsAnswer("AssumeRole", "ASIA", "2026-01-02T03:04:05.500Z"), 200, "STS");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->secret_access_key, "sts-secret&/+");
  EXPECT_EQ(ok->expiration, kT0 + 500ms);
  EXPECT_EQ(ParseStsResponse("<AssumeRoleResponse/>", 200, "STS AssumeRole").status().message(),
            "STS AssumeRole: the answer holds no complete Credentials");
  EXPECT_EQ(
      ParseStsResponse(kStsDenied, 400, "STS X").status().message(),
      "STS X: HTTP 400 AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity");
  EXPECT_EQ(ParseStsResponse("oops", 503, "STS X").status().code(), StatusCode::kUnavailable);
}

TEST(AwsCredentialsParseTest, TimesAndEndpoints) {
  EXPECT_EQ(*ParseAwsTime("2026-01-02T03:04:05Z"), kT0);
  EXPECT_FALSE(ParseAwsTime("yesterday").ok());
  EXPECT_EQ(StsUrl("eu-west-1", Env({})), "https://sts.eu-west-1.amazonaws.com/");
  EXPECT_EQ(StsUrl("eu-west-1", Env({{"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1/"}})),
            "http://127.0.0.1:1/");
  EXPECT_FALSE(ParsePodIdentityResponse("{}", "agent").ok());
  EXPECT_FALSE(ParsePodIdentityResponse("not json", "agent").ok());
}

}  // namespace
}  // namespace groupscaler::kafka
