#pragma once

// A test-only OAuth 2.0 authorization server on loopback, for the
// OAUTHBEARER listener of the real Kafka test bed (kafka_broker.h): the
// client credentials grant and the JWKS that brokers verify its tokens by.
//
// Contract:
// * Start() makes an RSA 2048 key and listens on `port` (FreePort()) until
//   the destructor: plain HTTP, or with Options::https, HTTPS with a
//   certificate for 127.0.0.1 and localhost from a CA of its own
//   (MakeTestPki; ca_pem()), and then plain HTTP as well on `http_port`,
//   where the brokers fetch the JWKS (their JVMs do not trust that CA).
//   Both serve every path.
// * POST /token with `grant_type=client_credentials` (form), the client id
//   and secret by HTTP Basic (each form-url-encoded, RFC 6749 2.3.1) or in
//   the form, an optional `scope`: 200
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
    bool https = false;
    int http_port = 0;  // with https: required
    // The address listened on; "0.0.0.0" makes the endpoint reachable as
    // 127.0.0.2 too, an address its certificate does not name.
    std::string listen_host = "127.0.0.1";
  };
  enum class Fault { kNone, kExpiredToken, kWrongAudience, kRefuseSecret };

  static StatusOr<std::unique_ptr<OAuthServer>> Start(Options options);
  ~OAuthServer();
  OAuthServer(const OAuthServer&) = delete;
  OAuthServer& operator=(const OAuthServer&) = delete;

  // "http(s)://127.0.0.1:PORT/token" on `port`; the plain HTTP one (on
  // `http_port` with https); the JWKS on plain HTTP.
  std::string token_url() const;
  std::string http_token_url() const;
  std::string jwks_url() const;
  // With https: the CA that signed the certificate, PEM.
  const std::string& ca_pem() const;
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
