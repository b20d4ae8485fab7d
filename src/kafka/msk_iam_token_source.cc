#include "kafka/msk_iam_token_source.h"

#include "kafka/msk_iam_token.h"

namespace groupscaler::kafka {
namespace {

#ifndef GROUPSCALER_VERSION
#define GROUPSCALER_VERSION "0"
#endif
constexpr char kUserAgent[] = "groupscaler/" GROUPSCALER_VERSION;

}  // namespace

MskIamTokenSource::MskIamTokenSource(const MskIamSettings& msk, std::vector<std::string> secrets,
                                     const Clock* clock, Getenv getenv)
    : region_(msk.region), secrets_(std::move(secrets)), clock_(clock), http_(NewHttpClient()) {
  credentials_ = MskIamCredentials(msk, AwsContext{http_.get(), clock_, std::move(getenv)});
}

MskIamTokenSource::MskIamTokenSource(std::string region,
                                     std::unique_ptr<AwsCredentialsProvider> credentials,
                                     const Clock* clock, std::vector<std::string> secrets)
    : region_(std::move(region)),
      secrets_(std::move(secrets)),
      clock_(clock),
      credentials_(std::move(credentials)) {}

StatusOr<BearerToken> MskIamTokenSource::Token() {
  StatusOr<AwsCredentials> credentials = credentials_->Credentials();
  if (!credentials.ok()) {
    return Status(credentials.status().code(),
                  "MSK IAM token: " + Redact(credentials.status().message(), secrets_));
  }
  MskIamToken token = MakeMskIamToken(*credentials, region_, clock_->Now(), kUserAgent);
  return BearerToken{std::move(token.value), token.expiry, std::move(token.principal), {}};
}

}  // namespace groupscaler::kafka
