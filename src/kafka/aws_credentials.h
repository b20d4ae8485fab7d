#pragma once

// Where the AWS credentials of MSK IAM come from, in the order the AWS SDKs
// look (MskIamCredentials):
//   1. static keys from the auth settings (awsAccessKeyId,
//      awsSecretAccessKey, optional awsSessionToken);
//   2. a web identity, as IRSA gives it: env AWS_ROLE_ARN and
//      AWS_WEB_IDENTITY_TOKEN_FILE (session name AWS_ROLE_SESSION_NAME or
//      "groupscaler"), exchanged through STS AssumeRoleWithWebIdentity;
//   3. EKS Pod Identity: env AWS_CONTAINER_CREDENTIALS_FULL_URI, GET with the
//      Authorization header read from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
//      (or AWS_CONTAINER_AUTHORIZATION_TOKEN);
// then, with awsRoleArn, STS AssumeRole signed with what was found.
// STS is https://sts.<region>.amazonaws.com, or env AWS_ENDPOINT_URL_STS.
//
// Contract:
// * Credentials that expire are cached until 5 minutes before they do
//   (CachedCredentials), measured on the injected Clock; a refresh that
//   fails while the cached ones are still valid keeps them.
// * Errors name the source ("STS AssumeRoleWithWebIdentity at URL: HTTP 403
//   AccessDenied: ..."), never a secret: no key, token or token file
//   content is quoted.
// * No AWS SDK: SigV4 from aws_sigv4.h, HTTP through HttpClient.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "kafka/auth.h"
#include "kafka/aws_sigv4.h"
#include "kafka/http_client.h"

namespace groupscaler::kafka {

class AwsCredentialsProvider {
 public:
  virtual ~AwsCredentialsProvider() = default;
  virtual StatusOr<AwsCredentials> Credentials() = 0;
};

// Environment variables, injectable: name -> value, nullopt when unset.
using Getenv = std::function<std::optional<std::string>(std::string_view)>;
Getenv ProcessEnvironment();

// What the providers that call out share. Not owned; must outlive them.
struct AwsContext {
  HttpClient* http = nullptr;
  const Clock* clock = nullptr;
  Getenv getenv;
  std::chrono::milliseconds timeout{10'000};  // per HTTP request
};

inline constexpr std::chrono::minutes kCredentialsRefreshMargin{5};

// The chain above for `settings` (sasl=aws_msk_iam), cached. When no source
// is configured, every call fails saying what to set.
std::unique_ptr<AwsCredentialsProvider> MskIamCredentials(const MskIamSettings& settings,
                                                          const AwsContext& context);

// The chain's parts.
std::unique_ptr<AwsCredentialsProvider> StaticCredentials(AwsCredentials credentials);
std::unique_ptr<AwsCredentialsProvider> WebIdentityCredentials(const AwsContext& context,
                                                               std::string sts_url,
                                                               std::string role_arn,
                                                               std::string token_file,
                                                               std::string session_name);
std::unique_ptr<AwsCredentialsProvider> PodIdentityCredentials(const AwsContext& context,
                                                               std::string full_uri,
                                                               std::string token_file,
                                                               std::string token);
std::unique_ptr<AwsCredentialsProvider> AssumeRoleCredentials(
    const AwsContext& context, std::unique_ptr<AwsCredentialsProvider> base, std::string sts_url,
    std::string region, std::string role_arn, std::string session_name);
std::unique_ptr<AwsCredentialsProvider> CachedCredentials(
    std::unique_ptr<AwsCredentialsProvider> inner, const Clock* clock,
    std::chrono::milliseconds margin = kCredentialsRefreshMargin);

// Pure parts, for tests.
// STS's endpoint for `region`: AWS_ENDPOINT_URL_STS when set.
std::string StsUrl(std::string_view region, const Getenv& getenv);
// The Credentials of an STS AssumeRole* response (XML); an ErrorResponse
// or anything else is an error naming `what` and STS's Code and Message.
StatusOr<AwsCredentials> ParseStsResponse(std::string_view xml, int http_status,
                                          std::string_view what);
// The credentials of an EKS Pod Identity (container credentials) answer.
StatusOr<AwsCredentials> ParsePodIdentityResponse(std::string_view json, std::string_view what);
// An ISO 8601 / RFC 3339 time as AWS writes them ("2026-01-02T03:04:05Z").
StatusOr<Timestamp> ParseAwsTime(std::string_view text);

}  // namespace groupscaler::kafka
