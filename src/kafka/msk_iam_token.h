#pragma once

// The token of AWS MSK IAM access control, pure: what
// aws-msk-iam-sasl-signer-js's generateAuthTokenFromCredentialsProvider
// makes, byte for byte (tests/kafka/msk_iam_token_test.cc runs it).
//
// The token is the URL https://kafka.<region>.amazonaws.com/?Action=
// kafka-cluster%3AConnect presigned with SigV4 (service kafka-cluster,
// X-Amz-Expires=900), with a User-Agent parameter added after signing,
// all query parameters sorted, then base64url without padding. MSK takes it
// as the SASL/OAUTHBEARER token.

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "kafka/aws_sigv4.h"

namespace groupscaler::kafka {

inline constexpr std::chrono::seconds kMskTokenLifetime{900};

struct MskIamToken {
  std::string value;  // base64url, no padding
  // When the token stops working: signing time + 900 s, or the credentials'
  // expiration if that comes first.
  Timestamp expiry;
  // The principal to give librdkafka with it: the access key id (not a
  // secret; MSK takes the identity from the signature).
  std::string principal;
};

// The presigned URL before base64url.
std::string MskIamSignedUrl(const AwsCredentials& credentials, std::string_view region,
                            Timestamp now, std::string_view user_agent);

// The token for `credentials` in `region`, signed at `now` (whole seconds).
MskIamToken MakeMskIamToken(const AwsCredentials& credentials, std::string_view region,
                            Timestamp now, std::string_view user_agent);

}  // namespace groupscaler::kafka
