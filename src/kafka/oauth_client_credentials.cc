#include "kafka/oauth_client_credentials.h"

#include <cpprest/asyncrt_utils.h>
#include <cpprest/base_uri.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/files.h"

namespace groupscaler::kafka {
namespace {

using nlohmann::json;

constexpr char kFormType[] = "application/x-www-form-urlencoded";
constexpr size_t kMaxCaFile = 1 << 20;
// Lifetimes beyond this (about 3,000 years) are not times.
constexpr int64_t kMaxSeconds = 100'000'000'000;

// A positive whole number of seconds, if `value` is one.
std::optional<std::chrono::seconds> Seconds(const json& value) {
  if (!value.is_number_integer()) return std::nullopt;
  const int64_t n = value.get<int64_t>();
  if (n <= 0 || n > kMaxSeconds) return std::nullopt;
  return std::chrono::seconds(n);
}

// The claims of `token` if it is a JWT (header.payload.signature, the
// payload base64url JSON); the signature is the broker's to check.
std::optional<json> JwtClaims(const std::string& token) {
  const size_t first = token.find('.');
  if (first == std::string::npos) return std::nullopt;
  const size_t second = token.find('.', first + 1);
  if (second == std::string::npos) return std::nullopt;
  const StatusOr<std::string> payload =
      Base64UrlDecode(std::string_view(token).substr(first + 1, second - first - 1));
  if (!payload.ok()) return std::nullopt;
  json claims = json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return std::nullopt;
  return claims;
}

// The string member `name` of `doc`, "" when there is none.
std::string Text(const json& doc, const char* name) {
  if (!doc.is_object() || !doc.contains(name) || !doc[name].is_string()) return "";
  return doc[name].get<std::string>();
}

// " invalid_client: description" of an OAuth error answer (RFC 6749
// section 5.2), "" when the body is none.
std::string OAuthError(const std::string& body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const std::string error = Text(doc, "error"), description = Text(doc, "error_description");
  if (error.empty()) return "";
  return " " + error + (description.empty() ? "" : ": " + description);
}

// When the token expires: after expires_in, or at the JWT's exp if sooner.
std::optional<Timestamp> Expiry(const json& answer, const std::optional<json>& claims,
                                Timestamp now) {
  std::optional<Timestamp> expiry;
  if (answer.contains("expires_in")) {
    if (auto seconds = Seconds(answer["expires_in"])) expiry = now + *seconds;
  }
  if (claims && claims->contains("exp")) {
    if (auto exp = Seconds((*claims)["exp"])) {
      const Timestamp at(*exp);
      expiry = expiry ? std::min(*expiry, at) : at;
    }
  }
  return expiry;
}

std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

// The client of the token endpoint: trusting oauthCa or oauthCaFile if given.
StatusOr<std::unique_ptr<HttpClient>> HttpClientFor(const OAuthClientCredentials& settings) {
  if (settings.ca_pem.empty() && settings.ca_file.empty()) return NewHttpClient();
  const std::string key = settings.ca_pem.empty() ? "\"oauthCaFile\"" : "\"oauthCa\"";
  std::string pem = settings.ca_pem;
  if (pem.empty()) {
    StatusOr<std::string> read = ReadFileBounded(settings.ca_file, kMaxCaFile);
    if (!read.ok())
      return InvalidArgumentError("auth setting " + key + ": " + read.status().message());
    pem = std::move(read).value();
  }
  StatusOr<std::unique_ptr<HttpClient>> http = NewHttpClientTrusting(pem);
  if (!http.ok())
    return InvalidArgumentError("auth setting " + key + ": " + http.status().message());
  return http;
}

}  // namespace

ClientCredentialsTokenSource::ClientCredentialsTokenSource(OAuthClientCredentials settings,
                                                           std::vector<std::string> secrets,
                                                           std::unique_ptr<HttpClient> http,
                                                           const Clock* clock)
    : settings_(std::move(settings)),
      secrets_(std::move(secrets)),
      http_(std::move(http)),
      clock_(clock) {}

StatusOr<BearerToken> ClientCredentialsTokenSource::Token() {
  const HttpRequest request{
      "POST",
      settings_.token_endpoint,
      {{"Authorization", BasicAuthorization(settings_.client_id, settings_.client_secret)},
       {"Content-Type", kFormType},
       {"Accept", "application/json"}},
      ClientCredentialsForm(settings_.scope)};
  StatusOr<HttpResponse> response = http_->Send(request, kTokenRequestTimeout);
  StatusOr<BearerToken> token =
      response.ok() ? ParseTokenResponse(*response, settings_, clock_->Now())
                    : Status(response.status().code(),
                             "OAuth token endpoint: " + response.status().message());
  if (token.ok()) return token;
  return Status(token.status().code(), OneLine(Redact(token.status().message(), secrets_)));
}

StatusOr<std::unique_ptr<OAuthTokenSource>> NewClientCredentialsTokenSource(
    const OAuthClientCredentials& settings, std::vector<std::string> secrets, const Clock* clock) {
  StatusOr<std::unique_ptr<HttpClient>> http = HttpClientFor(settings);
  if (!http.ok()) return http.status();
  return std::unique_ptr<OAuthTokenSource>(std::make_unique<ClientCredentialsTokenSource>(
      settings, std::move(secrets), std::move(http).value(), clock));
}

std::string BasicAuthorization(std::string_view client_id, std::string_view client_secret) {
  const std::string pair = web::uri::encode_data_string(std::string(client_id)) + ":" +
                           web::uri::encode_data_string(std::string(client_secret));
  return "Basic " + Base64Encode(pair);
}

std::string ClientCredentialsForm(std::string_view scope) {
  std::string form = "grant_type=client_credentials";
  if (!scope.empty()) form += "&scope=" + web::uri::encode_data_string(std::string(scope));
  return form;
}

StatusOr<BearerToken> ParseTokenResponse(const HttpResponse& response,
                                         const OAuthClientCredentials& settings, Timestamp now) {
  const std::string what = "OAuth token endpoint " + settings.token_endpoint;
  if (response.status_code != 200) {
    return Status(
        StatusCodeOfHttp(response.status_code),
        what + ": HTTP " + std::to_string(response.status_code) + OAuthError(response.body));
  }
  const json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  const std::string access_token = Text(answer, "access_token");
  if (access_token.empty()) return UnavailableError(what + ": the answer holds no access_token");
  if (std::string type = Text(answer, "token_type"); answer.contains("token_type")) {
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (type != "bearer") {
      return FailedPreconditionError(what + ": token_type is not Bearer");
    }
  }
  const std::optional<json> claims = JwtClaims(access_token);
  const std::optional<Timestamp> expiry = Expiry(answer, claims, now);
  if (!expiry) {
    return UnavailableError(what + ": the answer gives no expires_in and the token no exp");
  }
  if (*expiry <= now) return FailedPreconditionError(what + ": granted a token already expired");
  std::string principal = claims ? Text(*claims, "sub") : "";
  if (principal.empty()) principal = settings.client_id;
  return BearerToken{access_token, *expiry, std::move(principal), settings.extensions};
}

}  // namespace groupscaler::kafka
