// Kafka security settings from the outside, three ways in:
// 1. the input as a `key=value` auth file (ParseAuthText, what --auth-file
//    reads), then BuildAuthConfig on what it accepted;
// 2. a settings map built from the same bytes (FuzzedDataProvider), straight
//    into BuildAuthConfig;
// 3. that map as the controller gets it: a Secret whose data holds the
//    base64 values of the keys a Secret can have (some left undecodable),
//    read by KubeClient::GetSecretData from a scripted API server, then
//    BuildAuthConfig.

// spdlog first: cpprestsdk defines a macro U that breaks fmt's headers.
#include <spdlog/spdlog.h>

#include <cpprest/json.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "auth_checks.h"
#include "common/base64.h"
#include "common/manual_clock.h"
#include "kube/config.h"
#include "kube/kube_client.h"
#include "support/scripted_transport.h"

namespace groupscaler::fuzz {
namespace {

using testing::Frame;
using testing::ScriptedTransport;
using testing::ScriptOptions;

constexpr std::string_view kSource = "auth.properties";

constexpr std::array<std::string_view, 10> kValues = {
    "none",    "plain", "scram_sha256",      "scram_sha512",     "oauthbearer", "enable",
    "disable", "",      "https://idp/token", "/etc/kafka/ca.pem"};

void CheckAuthText(std::string_view text) {
  StatusOr<kafka::AuthSettings> settings = kafka::ParseAuthText(text, kSource);
  if (!settings.ok()) {
    CheckLineError(settings.status(), kSource);
    FUZZ_CHECK(settings.status().code() == StatusCode::kInvalidArgument);
    return;
  }
  for (const auto& [key, value] : *settings) {
    FUZZ_CHECK(!key.empty() && key.front() != '#');
    FUZZ_CHECK(key.find_first_of("=\n") == std::string::npos);
    FUZZ_CHECK(value.find('\n') == std::string::npos);
  }
  CheckBuildAuthConfig(*settings);
}

struct Generated {
  kafka::AuthSettings settings;
  // The Secret: settings whose key is a valid Secret key, their values
  // base64-encoded, or (rarely, then all_encoded is false) left as they are.
  kafka::AuthSettings secret_settings;
  std::map<std::string, std::string> secret_data;
  bool all_encoded = true;
};

// What the API server allows as a key of a Secret's data.
bool IsSecretKey(std::string_view key) {
  if (key.empty() || key.size() > 253) return false;
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

Generated Generate(FuzzedDataProvider& fdp) {
  Generated out;
  const int n = fdp.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < n && fdp.remaining_bytes() > 0; ++i) {
    std::string key = fdp.ConsumeBool() ? std::string(fdp.PickValueInArray(kafka::kAuthKeys))
                                        : fdp.ConsumeRandomLengthString(24);
    std::string value = fdp.ConsumeBool() ? std::string(fdp.PickValueInArray(kValues))
                                          : fdp.ConsumeRandomLengthString(64);
    // Only valid keys reach a Secret. (Other bytes could not come from the
    // API server, whose JSON is UTF-8; cpprestsdk cannot read a 0xFF byte in
    // JSON at all: it takes it for the end of input.)
    if (IsSecretKey(key)) {
      if (fdp.ConsumeIntegralInRange(0, 15) == 0) {
        out.secret_data[key] = value;  // raw: maybe not base64
        out.all_encoded = false;
      } else {
        out.secret_data[key] = Base64Encode(value);
      }
      out.secret_settings[key] = value;
    }
    out.settings[key] = std::move(value);
  }
  return out;
}

std::string SecretJson(const std::map<std::string, std::string>& data) {
  web::json::value secret = web::json::value::object();
  secret["apiVersion"] = web::json::value::string("v1");
  secret["kind"] = web::json::value::string("Secret");
  secret["metadata"] = web::json::value::object();
  secret["metadata"]["name"] = web::json::value::string("kafka-client");
  secret["metadata"]["namespace"] = web::json::value::string("payments");
  secret["type"] = web::json::value::string("Opaque");
  secret["data"] = web::json::value::object();
  for (const auto& [key, value] : data) secret["data"][key] = web::json::value::string(value);
  return secret.serialize();
}

void CheckSecret(const Generated& generated) {
  Frame answer;
  answer.response.status_code = 200;
  answer.response.body = SecretJson(generated.secret_data);
  ManualClock clock(Timestamp(std::chrono::seconds(1'700'000'000)),
                    ManualClock::Sleeping::kAdvance);
  auto transport = std::make_unique<ScriptedTransport>(std::deque<Frame>{std::move(answer)});
  kube::KubeClient client(std::move(transport), nullptr, ScriptOptions(), &clock);
  StatusOr<std::map<std::string, std::string>> data =
      client.GetSecretData("payments", "kafka-client");
  if (!data.ok()) {
    CheckRejection(data.status());
    // Only a value that was not base64 may fail it.
    FUZZ_CHECK_MSG(!generated.all_encoded, data.status().ToString());
    return;
  }
  if (generated.all_encoded) FUZZ_CHECK(*data == generated.secret_settings);
  CheckBuildAuthConfig(*data);
}

}  // namespace
}  // namespace groupscaler::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace groupscaler::fuzz;
  CheckAuthText(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider fdp(data, size);
  Generated generated = Generate(fdp);
  CheckBuildAuthConfig(generated.settings);
  CheckSecret(generated);
  return 0;
}
