#include "kafka/msk_iam_token.h"

#include <cpprest/asyncrt_utils.h>

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
  token.value = Base64UrlNoPadding(MskIamSignedUrl(credentials, region, now, user_agent));
  token.expiry = std::chrono::floor<std::chrono::seconds>(now) + kMskTokenLifetime;
  if (credentials.expiration) token.expiry = std::min(token.expiry, *credentials.expiration);
  token.principal = credentials.access_key_id;
  return token;
}

std::string Base64UrlNoPadding(std::string_view data) {
  std::string out =
      utility::conversions::to_base64(std::vector<unsigned char>(data.begin(), data.end()));
  while (!out.empty() && out.back() == '=') out.pop_back();
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

}  // namespace groupscaler::kafka
