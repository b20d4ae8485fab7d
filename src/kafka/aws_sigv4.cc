#include "kafka/aws_sigv4.h"

#include <cpprest/base_uri.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>

// No fmt here: cpprestsdk's headers break its std::byte formatting.

namespace groupscaler::kafka {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hex(const unsigned char* data, size_t size) {
  std::string out;
  out.reserve(size * 2);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Trimmed, with inner runs of spaces collapsed to one.
std::string CanonicalValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(c);
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// (lower-case name, canonical value), sorted by name.
AwsParams CanonicalHeaderList(const AwsParams& headers) {
  AwsParams out;
  for (const auto& [name, value] : headers) out.emplace_back(Lower(name), CanonicalValue(value));
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

std::string ShortDate(Timestamp t) { return AmzDate(t).substr(0, 8); }

}  // namespace

std::string AwsUriEncode(std::string_view text) {
  return web::uri::encode_data_string(std::string(text));
}

std::string Sha256Hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr);
  return Hex(out, size);
}

std::string AmzDate(Timestamp t) {
  const std::time_t seconds =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[17];
  std::strftime(out, sizeof(out), "%Y%m%dT%H%M%SZ", &tm);
  return out;
}

std::string CredentialScope(const SigV4Scope& scope) {
  return ShortDate(scope.time) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

std::string CanonicalQueryString(const AwsParams& query) {
  AwsParams encoded;
  for (const auto& [name, value] : query) {
    encoded.emplace_back(AwsUriEncode(name), AwsUriEncode(value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    out += (out.empty() ? "" : "&") + name + "=" + value;
  }
  return out;
}

std::string SignedHeaders(const AwsParams& headers) {
  std::vector<std::string> names;
  for (const auto& [name, value] : CanonicalHeaderList(headers)) {
    if (names.empty() || names.back() != name) names.push_back(name);
  }
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ";") + name;
  return out;
}

std::string CanonicalRequest(const SigV4Request& request) {
  std::string headers;
  std::string last;
  for (const auto& [name, value] : CanonicalHeaderList(request.headers)) {
    if (name == last) {
      headers.back() = ',';
      headers += value + "\n";
      continue;
    }
    headers += name + ":" + value + "\n";
    last = name;
  }
  return request.method + "\n" + request.path + "\n" + CanonicalQueryString(request.query) + "\n" +
         headers + "\n" + SignedHeaders(request.headers) + "\n" + Sha256Hex(request.body);
}

std::string StringToSign(const SigV4Scope& scope, std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + AmzDate(scope.time) + "\n" + CredentialScope(scope) +
         "\n" + Sha256Hex(canonical_request);
}

std::string SigV4Signature(std::string_view secret_access_key, const SigV4Scope& scope,
                           std::string_view string_to_sign) {
  std::string key = Hmac("AWS4" + std::string(secret_access_key), ShortDate(scope.time));
  key = Hmac(key, scope.region);
  key = Hmac(key, scope.service);
  key = Hmac(key, "aws4_request");
  const std::string mac = Hmac(key, string_to_sign);
  return Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

std::string AuthorizationHeader(const SigV4Request& request, const AwsCredentials& credentials,
                                const SigV4Scope& scope) {
  const std::string signature = SigV4Signature(credentials.secret_access_key, scope,
                                               StringToSign(scope, CanonicalRequest(request)));
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
         CredentialScope(scope) + ", SignedHeaders=" + SignedHeaders(request.headers) +
         ", Signature=" + signature;
}

void Presign(SigV4Request& request, const AwsCredentials& credentials, const SigV4Scope& scope,
             std::chrono::seconds expires) {
  if (!credentials.session_token.empty()) {
    request.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  request.query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  request.query.emplace_back("X-Amz-Credential",
                             credentials.access_key_id + "/" + CredentialScope(scope));
  request.query.emplace_back("X-Amz-Date", AmzDate(scope.time));
  request.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  request.query.emplace_back("X-Amz-SignedHeaders", SignedHeaders(request.headers));
  const std::string signature = SigV4Signature(credentials.secret_access_key, scope,
                                               StringToSign(scope, CanonicalRequest(request)));
  request.query.emplace_back("X-Amz-Signature", signature);
}

}  // namespace groupscaler::kafka
