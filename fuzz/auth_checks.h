#pragma once

// BuildAuthConfig's contract (src/kafka/auth.h), checked on one settings map:
// shared by auth_settings and kube_answers (a Secret's data becomes settings).

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "kafka/auth.h"

namespace groupscaler::fuzz {

inline constexpr std::array<std::string_view, 6> kSecretAuthKeys = {
    "password", "oauthClientSecret", "key", "keyPassword", "awsSecretAccessKey", "awsSessionToken"};

// Accepted: a security.protocol first, and the secrets are exactly the
// non-empty secret settings. Rejected: INVALID_ARGUMENT with a message that
// does not depend on any secret value (the same settings with the secret
// values replaced are rejected with the same message), so none can leak.
inline void CheckBuildAuthConfig(const kafka::AuthSettings& settings) {
  StatusOr<kafka::AuthConfig> config = kafka::BuildAuthConfig(settings);
  if (config.ok()) {
    FUZZ_CHECK(!config->properties.empty());
    const auto& [name, protocol] = config->properties.front();
    FUZZ_CHECK(name == "security.protocol");
    FUZZ_CHECK(protocol == "plaintext" || protocol == "ssl" || protocol == "sasl_plaintext" ||
               protocol == "sasl_ssl");
    size_t secret_settings = 0;
    for (std::string_view key : kSecretAuthKeys) {
      auto it = settings.find(std::string(key));
      if (it == settings.end()) continue;
      ++secret_settings;
      FUZZ_CHECK(std::find(config->secrets.begin(), config->secrets.end(), it->second) !=
                 config->secrets.end());
    }
    FUZZ_CHECK(config->secrets.size() == secret_settings);
    return;
  }
  CheckRejection(config.status());
  FUZZ_CHECK(config.status().code() == StatusCode::kInvalidArgument);
  kafka::AuthSettings masked = settings;
  int n = 0;
  for (std::string_view key : kSecretAuthKeys) {
    auto it = masked.find(std::string(key));
    if (it != masked.end() && !it->second.empty()) it->second = "\x01masked" + std::to_string(++n);
  }
  StatusOr<kafka::AuthConfig> again = kafka::BuildAuthConfig(masked);
  FUZZ_CHECK_MSG(!again.ok() && again.status() == config.status(),
                 config.status().ToString() + " vs " + again.status().ToString());
}

}  // namespace groupscaler::fuzz
