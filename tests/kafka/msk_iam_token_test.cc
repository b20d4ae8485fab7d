// The MSK IAM token against AWS's own signer: for fixed credentials, region
// and time, ours equals byte for byte what aws-msk-iam-sasl-signer-js makes
// (the npm package scripts/setup installs in .tools/node_modules; the
// version is pinned there and in kSignerUserAgent).

#include "kafka/msk_iam_token.h"
#include "common/base64.h"

#include <gtest/gtest.h>

#include "support/subprocess.h"

namespace groupscaler::kafka {
namespace {

using namespace std::chrono_literals;

const std::string kSourceDir = GROUPSCALER_SOURCE_DIR;
const std::string kNode = "/usr/bin/node";
// The package adds its own name and version as the User-Agent parameter
// after signing; groupscaler adds its own there, which MSK does not check.
constexpr char kSignerUserAgent[] = "aws-msk-iam-sasl-signer-js/1.0.3";

// 2026-01-02T03:04:05.678Z: the signer takes whole seconds.
constexpr Timestamp kTime{1767323045678ms};

struct Case {
  std::string name;
  std::string region;
  AwsCredentials credentials;
};

// What the package makes: the token and its expiry in ms since the epoch.
std::pair<std::string, std::string> SignerToken(const Case& c) {
  std::vector<std::string> argv = {kNode,
                                   kSourceDir + "/tests/kafka/msk_iam_token.js",
                                   kSourceDir + "/.tools/node_modules",
                                   c.region,
                                   std::to_string(kTime.time_since_epoch().count()),
                                   c.credentials.access_key_id,
                                   c.credentials.secret_access_key};
  if (!c.credentials.session_token.empty()) argv.push_back(c.credentials.session_token);
  const testing::RunResult r = testing::RunProcess(argv, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err << "(run scripts/setup: it installs the signer)";
  const size_t newline = r.out.find('\n');
  if (newline == std::string::npos) return {};
  return {r.out.substr(0, newline),
          r.out.substr(newline + 1, r.out.find('\n', newline + 1) - newline - 1)};
}

TEST(MskIamTokenTest, EqualsTheTokenOfAwsSigner) {
  const Case cases[] = {
      {.name = "long-term keys",
       .region = "us-east-1",
       .credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", {}}},
      {.name = "session credentials",
       .region = "eu-west-1",
       .credentials = {"ASIAIOSFODNN7EXAMPLE",
                       "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
                       "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/==",
                       {}}},
  };
  for (const Case& c : cases) {
    const MskIamToken ours = MakeMskIamToken(c.credentials, c.region, kTime, kSignerUserAgent);
    const auto [token, expiry_ms] = SignerToken(c);
    EXPECT_EQ(ours.value, token) << c.name << ": our URL "
                                 << MskIamSignedUrl(c.credentials, c.region, kTime,
                                                    kSignerUserAgent);
    EXPECT_EQ(std::to_string(ours.expiry.time_since_epoch().count()), expiry_ms) << c.name;
    EXPECT_EQ(ours.principal, c.credentials.access_key_id);
  }
}

TEST(MskIamTokenTest, IsThePresignedConnectUrl) {
  const AwsCredentials credentials{"AKID", "secret", "", {}};
  const std::string url = MskIamSignedUrl(credentials, "ap-south-1", kTime, "groupscaler/1");
  EXPECT_EQ(url.rfind("https://kafka.ap-south-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
                      "User-Agent=groupscaler%2F1&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                      "X-Amz-Credential=AKID%2F20260102%2Fap-south-1%2Fkafka-cluster%2Faws4_"
                      "request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&X-Amz-Signature=",
                      0),
            0u)
      << url;
  const MskIamToken token = MakeMskIamToken(credentials, "ap-south-1", kTime, "groupscaler/1");
  EXPECT_EQ(token.value.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(token.value, Base64UrlEncode(url));
}

TEST(MskIamTokenTest, ExpiresWithItsCredentialsIfThatIsSooner) {
  AwsCredentials credentials{"AKID", "secret", "token", {}};
  const Timestamp signed_at = std::chrono::floor<std::chrono::seconds>(kTime);
  EXPECT_EQ(MakeMskIamToken(credentials, "us-east-1", kTime, "ua").expiry, signed_at + 900s);
  credentials.expiration = signed_at + 60s;
  EXPECT_EQ(MakeMskIamToken(credentials, "us-east-1", kTime, "ua").expiry, signed_at + 60s);
}

}  // namespace
}  // namespace groupscaler::kafka
