#pragma once

// AWS Signature Version 4, pure: no I/O, no clock (the time is an input).
// The MSK IAM token (a presigned URL, msk_iam_token.h) and the STS
// AssumeRole request (aws_credentials.h) are signed with it. Checked against
// the AWS SigV4 test suite (tests/kafka/data/aws_sigv4_testsuite.json).
//
// Contract:
// * Query parameters and header values are given decoded; encoding is done
//   here (RFC 3986: everything but A-Z a-z 0-9 - _ . ~ percent-encoded with
//   upper-case hex, as AWS requires).
// * `path` is taken as the canonical URI as it is ("/" for every request
//   groupscaler makes); it is not normalised or encoded again.
// * Header names are compared and signed in lower case, values trimmed and
//   inner runs of spaces collapsed; every header given is signed.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace groupscaler::kafka {

// AWS credentials. `secret_access_key` and `session_token` are secrets.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;            // empty for long-term keys
  std::optional<Timestamp> expiration;  // none for long-term keys
};

using AwsParams = std::vector<std::pair<std::string, std::string>>;

struct SigV4Request {
  std::string method = "GET";
  std::string path = "/";
  AwsParams query;    // decoded names and values, in any order
  AwsParams headers;  // must include "host" (and x-amz-date for header signing)
  std::string body;
};

// What a signature is bound to: region, service and the signing time.
struct SigV4Scope {
  std::string region;
  std::string service;
  Timestamp time;
};

// RFC 3986 percent-encoding as AWS canonicalises it.
std::string AwsUriEncode(std::string_view text);
// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// "20150830T123600Z" (the seconds of `t`, UTC).
std::string AmzDate(Timestamp t);
// "20150830/us-east-1/service/aws4_request".
std::string CredentialScope(const SigV4Scope& scope);
// `query` sorted by encoded name, then value, as "a=1&b=2", encoded.
std::string CanonicalQueryString(const AwsParams& query);
// "host;x-amz-date": the signed header names, lower case, sorted.
std::string SignedHeaders(const AwsParams& headers);
// The canonical request of SigV4's step 1.
std::string CanonicalRequest(const SigV4Request& request);
// "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hash of canonical request>".
std::string StringToSign(const SigV4Scope& scope, std::string_view canonical_request);
// Lower-case hex HMAC of `string_to_sign` under the key derived from the
// secret, date, region and service.
std::string SigV4Signature(std::string_view secret_access_key, const SigV4Scope& scope,
                           std::string_view string_to_sign);

// The Authorization header's value for `request` (header signing: the
// caller has put x-amz-date, and x-amz-security-token when there is a
// session token, in its headers).
std::string AuthorizationHeader(const SigV4Request& request, const AwsCredentials& credentials,
                                const SigV4Scope& scope);

// Query presigning: adds X-Amz-Algorithm, -Credential, -Date, -Expires,
// -SignedHeaders (and -Security-Token with a session token) to
// `request.query`, then X-Amz-Signature.
void Presign(SigV4Request& request, const AwsCredentials& credentials, const SigV4Scope& scope,
             std::chrono::seconds expires);

}  // namespace groupscaler::kafka
