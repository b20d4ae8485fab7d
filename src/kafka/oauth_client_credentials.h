#pragma once

// sasl=oauthbearer: the OAuth 2.0 client credentials grant (RFC 6749
// section 4.4), made by groupscaler, as an OAUTHBEARER token source
// (oauth_token_refresh.h), which caches it and backs off.
//
// Contract:
// * Token() POSTs `grant_type=client_credentials` (and `scope` when given),
//   application/x-www-form-urlencoded, to the token endpoint, with the
//   client id and secret by HTTP Basic (RFC 6749 section 2.3.1: each
//   form-url-encoded, then base64). https is verified (chain and host name)
//   against the system's CA roots, or exactly oauthCa / oauthCaFile.
// * A 200 JSON answer with an access_token (token_type Bearer, when given)
//   is the token. It expires after expires_in, or at the JWT's exp if that
//   is sooner (or expires_in is absent); one already expired is an error.
//   Its principal is the JWT's sub, else the client id; the extensions of
//   oauthExtensions go with it.
// * Errors are one line naming the endpoint and what went wrong ("OAuth
//   token endpoint https://idp/token: HTTP 401 invalid_client: ..."), with
//   every secret redacted; no token is ever quoted.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kafka/auth.h"
#include "kafka/http_client.h"
#include "kafka/oauth_token_refresh.h"

namespace groupscaler::kafka {

inline constexpr std::chrono::seconds kTokenRequestTimeout{10};  // per wait

class ClientCredentialsTokenSource final : public OAuthTokenSource {
 public:
  // `clock` is not owned and must outlive this.
  ClientCredentialsTokenSource(OAuthClientCredentials settings, std::vector<std::string> secrets,
                               std::unique_ptr<HttpClient> http, const Clock* clock);

  // One grant, asked now.
  StatusOr<BearerToken> Token() override;

 private:
  const OAuthClientCredentials settings_;
  const std::vector<std::string> secrets_;
  const std::unique_ptr<HttpClient> http_;
  const Clock* const clock_;
};

// Production: over cpprestsdk, trusting settings' CA when it has one (read
// now). Errors name the key: "auth setting \"oauthCaFile\": ...".
StatusOr<std::unique_ptr<OAuthTokenSource>> NewClientCredentialsTokenSource(
    const OAuthClientCredentials& settings, std::vector<std::string> secrets, const Clock* clock);

// Pure parts, for tests.
// "Basic " + base64(urlencode(id) ":" urlencode(secret)).
std::string BasicAuthorization(std::string_view client_id, std::string_view client_secret);
// The grant's form body.
std::string ClientCredentialsForm(std::string_view scope);
// The token of the endpoint's answer at `now`, or the error it means
// (unredacted: Token() redacts).
StatusOr<BearerToken> ParseTokenResponse(const HttpResponse& response,
                                         const OAuthClientCredentials& settings, Timestamp now);

}  // namespace groupscaler::kafka
