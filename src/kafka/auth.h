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
//   oauthTokenEndpointUri  OAuth token endpoint, https://... (http:// is taken too)
//                      (oauthbearer: required); groupscaler posts the client
//                      credentials grant to it itself (oauth_client_credentials.h)
//   oauthClientId      OAuth client id     (oauthbearer: required)
//   oauthClientSecret  OAuth client secret (oauthbearer: required)           [secret]
//   oauthScope         OAuth scope         (oauthbearer: optional)
//   oauthExtensions    SASL extensions k=v,k2=v2 sent with the token  (oauthbearer: optional)
//   oauthCa | oauthCaFile  the CA the token endpoint's certificate must chain to, PEM
//                      text | path (oauthbearer: optional, at most one; without
//                      either, the system's CA roots). Not a secret.
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
// msk_iam_token_source.h). Empty strings are settings not given.
struct MskIamSettings {
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string role_arn;
  std::string role_session_name;
};

// sasl=oauthbearer: what the client credentials grant needs (see
// oauth_client_credentials.h). Empty strings are settings not given.
struct OAuthClientCredentials {
  std::string token_endpoint;
  std::string client_id;
  std::string client_secret;
  std::string scope;
  // oauthExtensions, split: key, value, in the order given.
  std::vector<std::pair<std::string, std::string>> extensions;
  std::string ca_pem;   // oauthCa
  std::string ca_file;  // oauthCaFile
  bool operator==(const OAuthClientCredentials&) const = default;
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
  // Set for sasl=aws_msk_iam, or sasl=oauthbearer: every handle then needs
  // the token refresh callback (oauth_token_refresh.h), librdkafka makes no
  // token of its own.
  std::optional<MskIamSettings> msk_iam;
  std::optional<OAuthClientCredentials> oauth;
};

// Validates `settings` and translates them. Errors are INVALID_ARGUMENT and
// name the offending key, never its value.
StatusOr<AuthConfig> BuildAuthConfig(const AuthSettings& settings);

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
