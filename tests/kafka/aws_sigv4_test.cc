// SigV4 against the AWS Signature Version 4 test suite (a few of its cases,
// kept in data/aws_sigv4_testsuite.json with their source), and its parts.

#include "kafka/aws_sigv4.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace groupscaler::kafka {
namespace {

using namespace std::chrono_literals;

// 2015-08-30T12:36:00Z, the suite's signing time.
constexpr Timestamp kSuiteTime{1440938160000ms};

nlohmann::json LoadSuite() {
  std::ifstream in(AWS_SIGV4_TESTSUITE);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

AwsParams Pairs(const nlohmann::json& list) {
  AwsParams out;
  for (const auto& pair : list) {
    out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return out;
}

TEST(AwsSigV4Test, PassesTheAwsTestSuite) {
  const nlohmann::json suite = LoadSuite();
  ASSERT_GE(suite["tests"].size(), 7u);
  auto text = [](const nlohmann::json& j, const char* name) { return j[name].get<std::string>(); };
  const AwsCredentials credentials{
      text(suite, "accessKeyId"), text(suite, "secretAccessKey"), "", {}};
  const SigV4Scope scope{text(suite, "region"), text(suite, "service"), kSuiteTime};
  for (const auto& test : suite["tests"]) {
    SigV4Request request{text(test, "method"), text(test, "path"), Pairs(test["query"]),
                         Pairs(test["headers"]), text(test, "body")};
    EXPECT_EQ(AuthorizationHeader(request, credentials, scope), text(test, "authorization"))
        << text(test, "name") << "\ncanonical request:\n"
        << CanonicalRequest(request);
  }
}

TEST(AwsSigV4Test, EncodesAsAwsCanonicalises) {
  EXPECT_EQ(AwsUriEncode("-._~AZaz09"), "-._~AZaz09");
  EXPECT_EQ(AwsUriEncode("kafka-cluster:Connect"), "kafka-cluster%3AConnect");
  EXPECT_EQ(AwsUriEncode("a b+c/d=e*"), "a%20b%2Bc%2Fd%3De%2A");
  EXPECT_EQ(AwsUriEncode("\xe1\x88\xb4"), "%E1%88%B4");
}

TEST(AwsSigV4Test, FormatsDatesAndScopes) {
  EXPECT_EQ(AmzDate(kSuiteTime + 999ms), "20150830T123600Z");
  EXPECT_EQ(CredentialScope({"eu-west-1", "sts", kSuiteTime}),
            "20150830/eu-west-1/sts/aws4_request");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AwsSigV4Test, PresignAddsTheQueryParametersAndSignsThem) {
  SigV4Request request{"GET", "/", {{"Action", "Do"}}, {{"host", "example.amazonaws.com"}}, ""};
  const AwsCredentials credentials{"AKIDEXAMPLE", "secret", "session/token=", {}};
  Presign(request, credentials, {"us-east-1", "service", kSuiteTime}, 900s);
  const std::string query = CanonicalQueryString(request.query);
  EXPECT_NE(query.find("X-Amz-Security-Token=session%2Ftoken%3D"), std::string::npos) << query;
  EXPECT_NE(query.find("X-Amz-Expires=900&"), std::string::npos) << query;
  EXPECT_NE(query.find("X-Amz-SignedHeaders=host"), std::string::npos) << query;
  EXPECT_EQ(request.query.back().first, "X-Amz-Signature");
  EXPECT_EQ(request.query.back().second.size(), 64u);
}

}  // namespace
}  // namespace groupscaler::kafka
