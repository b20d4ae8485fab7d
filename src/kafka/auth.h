#pragma once

// How groupscaler authenticates to a Kafka cluster. Settings arrive as a
// string map (the Kubernetes work fills it from a Secret; `groupscaler lag`
// reads it from --auth-file) and are checked here, before any client exists,
// so that a typo fails loudly instead of silently connecting in plaintext.
//
// Keys (case-sensitive; every other key is rejected, naming the key):
//
//   sasl               none (default) | plain | scram_sha256 | scram_sha512 | oauthbearer
//                      | aws_msk_iam
//   username           SASL user           (plain, scram_*: required)
//   password           SASL password       (plain, scram_*: required)        [secret]
//   oauthTokenEndpointUri  OIDC token endpoint, https://...  (oauthbearer: required)
//   oauthClientId      OIDC client id      (oauthbearer: required)
//   oauthClientSecret  OIDC client secret  (oauthbearer: required)           [secret]
//   oauthScope         OIDC scope          (oauthbearer: optional)
//   oauthExtensions    SASL extensions k=v,k2=v2 sent with the token  (oauthbearer: optional)
//   oauthCa | oauthCaFile  CA of the token endpoint, PEM text | path  (oauthbearer: optional,
//                      at most one; needs librdkafka 2.11, else rejected naming the key)
//   awsRegion          AWS region of the MSK cluster  (aws_msk_iam: required)
//   awsAccessKeyId     static AWS credentials         (aws_msk_iam: optional,
//   awsSecretAccessKey   both or neither)                                    [secret]
//   awsSessionToken    with the static keys: their session token           [secret]
//   awsRoleArn         a role to assume (STS AssumeRole) with the credentials found
//   awsRoleSessionName its session name (with awsRoleArn; default groupscaler)
//   tls                disable (default) | enable; aws_msk_iam: enable (default), never
//                      disable (MSK's IAM listener, port 9098, is TLS only)
//   ca | caFile        CA certificate(s), PEM text | path        (tls: optional, at most one)
//   cert | certFile    client certificate, PEM text | path      (tls: optional, at most one)
//   key | keyFile      client private key, PEM text | path      (tls: with cert; at most one)
//   keyPassword        password of the private key              (with key)   [secret]
//
// Hostname verification is always on under tls (there is no key to turn it
// off). Contradictions are rejected: SASL credentials without the matching
// `sasl`, TLS material without `tls: enable`, both `ca` and `caFile`, a
// certificate without a key, ... Secret values never appear in messages.

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace groupscaler::kafka {

using AuthSettings = std::map<std::string, std::string>;

// sasl=aws_msk_iam: what the OAUTHBEARER token refresh needs (see
// msk_iam_oauth.h). Empty strings are settings not given.
struct MskIamSettings {
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string role_arn;
  std::string role_session_name;
};

// Every key above.
inline constexpr std::array<std::string_view, 24> kAuthKeys = {"sasl",
                                                               "username",
                                                               "password",
                                                               "oauthTokenEndpointUri",
                                                               "oauthClientId",
                                                               "oauthClientSecret",
                                                               "oauthScope",
                                                               "oauthExtensions",
                                                               "oauthCa",
                                                               "oauthCaFile",
                                                               "tls",
                                                               "ca",
                                                               "caFile",
                                                               "cert",
                                                               "certFile",
                                                               "key",
                                                               "keyFile",
                                                               "keyPassword",
                                                               "awsRegion",
                                                               "awsAccessKeyId",
                                                               "awsSecretAccessKey",
                                                               "awsSessionToken",
                                                               "awsRoleArn",
                                                               "awsRoleSessionName"};

// The librdkafka configuration that realises AuthSettings, plus the secret
// values that must be redacted wherever text could leak them.
struct AuthConfig {
  // librdkafka property name -> value, in a stable order.
  std::vector<std::pair<std::string, std::string>> properties;
  // The values of secret settings (non-empty ones only).
  std::vector<std::string> secrets;
  // Set for sasl=aws_msk_iam: every handle then needs the token refresh
  // callback (InstallMskIamTokenRefresh), librdkafka has no token of its own.
  std::optional<MskIamSettings> msk_iam;
};

// Validates `settings` and translates them. Errors are INVALID_ARGUMENT and
// name the offending key, never its value.
StatusOr<AuthConfig> BuildAuthConfig(const AuthSettings& settings);
// The same for a librdkafka of `librdkafka_version` (rd_kafka_version()'s
// format), which decides whether oauthCa and oauthCaFile can be honoured.
StatusOr<AuthConfig> BuildAuthConfig(const AuthSettings& settings, int librdkafka_version);

// Parses `key=value` lines (blank lines and lines starting with '#' skipped,
// whitespace around key and value trimmed, the first '=' separates) into
// AuthSettings. Errors are INVALID_ARGUMENT `SOURCE:LINE: what is wrong`,
// naming a key at most, never a value. Does not validate keys:
// BuildAuthConfig does.
StatusOr<AuthSettings> ParseAuthText(std::string_view text, std::string_view source);

// Reads the file at `path` (at most 1 MiB) and parses it as above, with
// `path` as the SOURCE.
StatusOr<AuthSettings> ReadAuthFile(const std::string& path);

// `text` with every occurrence of every secret replaced by "[redacted]".
std::string Redact(std::string text, const std::vector<std::string>& secrets);

}  // namespace groupscaler::kafka
