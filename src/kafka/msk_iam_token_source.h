#pragma once

// sasl=aws_msk_iam: the OAUTHBEARER token source (oauth_token_refresh.h)
// that signs an MSK IAM token (msk_iam_token.h) with the AWS credentials
// found (aws_credentials.h).
//
// Contract:
// * A token lives 900 s, or until the credentials' expiration if sooner.
// * Failures name their source (STS, the Pod Identity agent, ...),
//   redacted, after "MSK IAM token: ".
// * The principal is the credentials' access key id (not a secret; MSK
//   takes the identity from the signature).

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kafka/auth.h"
#include "kafka/aws_credentials.h"
#include "kafka/http_client.h"
#include "kafka/oauth_token_refresh.h"

namespace groupscaler::kafka {

class MskIamTokenSource final : public OAuthTokenSource {
 public:
  // Production: MskIamCredentials over cpprestsdk for `msk`. `clock` is not
  // owned and must outlive this.
  MskIamTokenSource(const MskIamSettings& msk, std::vector<std::string> secrets, const Clock* clock,
                    Getenv getenv = ProcessEnvironment());
  // Tests: `credentials` as given.
  MskIamTokenSource(std::string region, std::unique_ptr<AwsCredentialsProvider> credentials,
                    const Clock* clock, std::vector<std::string> secrets);

  // A token signed now.
  StatusOr<BearerToken> Token() override;

 private:
  const std::string region_;
  const std::vector<std::string> secrets_;
  const Clock* const clock_;
  std::unique_ptr<HttpClient> http_;  // of the production providers
  std::unique_ptr<AwsCredentialsProvider> credentials_;
};

}  // namespace groupscaler::kafka
