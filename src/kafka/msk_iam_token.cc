#include "kafka/msk_iam_token.h"

#include "common/base64.h"

#include <algorithm>

namespace groupscaler::kafka {

std::string MskIamSignedUrl(const AwsCredentials& credentials, std::string_view region,
                            Timestamp now, std::string_view user_agent) {
  const std::string host = "kafka." + std::string(region) + ".amazonaws.com";
  SigV4Request request;
  request.method = "GET";
  request.path = "/";
  request.query = {{"Action", "kafka-cluster:Connect"}};
  request.headers = {{"host", host}};
  const SigV4Scope scope{std::string(region), "kafka-cluster",
                         std::chrono::floor<std::chrono::seconds>(now)};
  Presign(request, credentials, scope, kMskTokenLifetime);
  // Unsigned, as the AWS signers add it.
  request.query.emplace_back("User-Agent", std::string(user_agent));
  return "https://" + host + "/?" + CanonicalQueryString(request.query);
}

MskIamToken MakeMskIamToken(const AwsCredentials& credentials, std::string_view region,
                            Timestamp now, std::string_view user_agent) {
  MskIamToken token;
  token.value = Base64UrlEncode(MskIamSignedUrl(credentials, region, now, user_agent));
  token.expiry = std::chrono::floor<std::chrono::seconds>(now) + kMskTokenLifetime;
  if (credentials.expiration) token.expiry = std::min(token.expiry, *credentials.expiration);
  token.principal = credentials.access_key_id;
  return token;
}

}  // namespace groupscaler::kafka
