#pragma once

// A test-only OAuth 2.0 authorization server on loopback, for the
// OAUTHBEARER listener of the real Kafka test bed (kafka_broker.h): the
// client credentials grant and the JWKS that brokers verify its tokens by.
// Plain HTTP on 127.0.0.1 (librdkafka 2.8.0 cannot be given a CA for the
// token endpoint; see README, "OAuth").
//
// Contract:
// * Start() makes an RSA 2048 key and listens on `port` (FreePort()) until
//   the destructor.
// * POST /token with `grant_type=client_credentials` (form), the client id
//   and secret by HTTP Basic or in the form, an optional `scope`: 200
//   {"access_token": JWT, "token_type": "Bearer", "expires_in": S} where the
//   JWT is RS256-signed with claims sub (the client id), iss, aud, iat, exp
//   and scope. A wrong client or secret: 401 {"error": "invalid_client"};
//   anything else malformed: 400 {"error": "invalid_request"}.
// * GET /jwks: {"keys": [{"kty": "RSA", "kid", "alg": "RS256", "use": "sig",
//   "n", "e"}]} (base64url).
// * Faults apply to tokens issued after they are set: an expired token (exp
//   a minute ago), another audience, refusing every secret.
// * Counts token requests (every POST /token, answered or refused) and
//   their arrival times. Thread-safe.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace groupscaler::testing {

class OAuthServer {
 public:
  struct Options {
    int port = 0;  // required
    std::string issuer = "https://issuer.groupscaler.test";
    std::string audience = "kafka";
    std::string client_id = "groupscaler";
    std::string client_secret = "groupscaler-client-secret";
    std::chrono::seconds lifetime{3600};
  };
  enum class Fault { kNone, kExpiredToken, kWrongAudience, kRefuseSecret };

  static StatusOr<std::unique_ptr<OAuthServer>> Start(Options options);
  ~OAuthServer();
  OAuthServer(const OAuthServer&) = delete;
  OAuthServer& operator=(const OAuthServer&) = delete;

  // "http://127.0.0.1:PORT/token" and ".../jwks".
  std::string token_url() const;
  std::string jwks_url() const;
  const Options& options() const;

  void SetFault(Fault fault);
  int token_requests() const;
  // Token requests that arrived at or after `since`.
  int TokenRequestsSince(std::chrono::steady_clock::time_point since) const;
  // The scopes the granted tokens carried, one per grant.
  std::vector<std::string> granted_scopes() const;

  struct Impl;

 private:
  explicit OAuthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace groupscaler::testing
