#include "kafka/auth.h"

#include <array>
#include <cctype>
#include <functional>
#include <set>

#include "common/files.h"

namespace groupscaler::kafka {
namespace {

constexpr std::array<std::string_view, 6> kSecretKeys = {
    "password", "oauthClientSecret", "key", "keyPassword", "awsSecretAccessKey", "awsSessionToken"};

constexpr std::array<std::string_view, 6> kAwsKeys = {"awsRegion",          "awsAccessKeyId",
                                                      "awsSecretAccessKey", "awsSessionToken",
                                                      "awsRoleArn",         "awsRoleSessionName"};

std::string Quote(std::string_view key) {
  // Built by appending: GCC 12 at -O3 warns (-Wrestrict, falsely) on
  // "\"" + std::string(key) + "\"".
  std::string quoted;
  quoted.reserve(key.size() + 2);
  quoted.push_back('"');
  quoted.append(key);
  quoted.push_back('"');
  return quoted;
}

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

using Has = std::function<bool(std::string_view)>;
// A setting's value, "" when not given.
using Get = std::function<std::string(std::string_view)>;

// The aws* keys: only with sasl=aws_msk_iam, and consistent among themselves.
Status CheckAwsKeys(const Has& has, const std::string& sasl) {
  for (std::string_view key : kAwsKeys) {
    if (sasl != "aws_msk_iam" && has(key)) {
      return InvalidArgumentError("auth setting " + Quote(key) + " given but sasl is " + sasl);
    }
  }
  if (sasl != "aws_msk_iam") return Status::Ok();
  if (!has("awsRegion")) {
    return InvalidArgumentError("auth setting \"awsRegion\" is required with sasl aws_msk_iam");
  }
  for (auto [key, other] : {std::pair{"awsAccessKeyId", "awsSecretAccessKey"},
                            std::pair{"awsSecretAccessKey", "awsAccessKeyId"}}) {
    if (has(key) && !has(other)) {
      return InvalidArgumentError("auth setting " + Quote(other) + " is required with " +
                                  Quote(key));
    }
  }
  if (has("awsSessionToken") && !has("awsAccessKeyId")) {
    return InvalidArgumentError(
        "auth setting \"awsSessionToken\" given without \"awsAccessKeyId\" and "
        "\"awsSecretAccessKey\"");
  }
  if (has("awsRoleSessionName") && !has("awsRoleArn")) {
    return InvalidArgumentError("auth setting \"awsRoleSessionName\" given without \"awsRoleArn\"");
  }
  return Status::Ok();
}

using Extensions = std::vector<std::pair<std::string, std::string>>;

// "k=v,k2=v2" as SASL OAUTHBEARER extensions (RFC 7628): every item a
// non-empty key of letters, '=', a value. Nullopt when malformed.
std::optional<Extensions> ParseExtensions(std::string_view text) {
  Extensions extensions;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t eq = item.find('=');
    if (eq == 0 || eq == std::string_view::npos) return std::nullopt;
    for (char c : item.substr(0, eq)) {
      if (!std::isalpha(static_cast<unsigned char>(c))) return std::nullopt;
    }
    extensions.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    if (comma == std::string_view::npos) return extensions;
    text = text.substr(comma + 1);
  }
}

// The oauth keys' values, given sasl oauthbearer and its required keys.
// The token endpoint may be http://, for a loopback or in-cluster endpoint;
// the README says https is expected.
StatusOr<OAuthClientCredentials> OAuthFrom(const Get& get) {
  OAuthClientCredentials oauth{.token_endpoint = get("oauthTokenEndpointUri"),
                               .client_id = get("oauthClientId"),
                               .client_secret = get("oauthClientSecret"),
                               .scope = get("oauthScope"),
                               .extensions = {},
                               .ca_pem = get("oauthCa"),
                               .ca_file = get("oauthCaFile")};
  if (oauth.token_endpoint.rfind("https://", 0) != 0 &&
      oauth.token_endpoint.rfind("http://", 0) != 0) {
    return InvalidArgumentError("auth setting \"oauthTokenEndpointUri\" must be an http(s):// URL");
  }
  if (const std::string text = get("oauthExtensions"); !text.empty()) {
    std::optional<Extensions> extensions = ParseExtensions(text);
    if (!extensions) {
      return InvalidArgumentError(
          "auth setting \"oauthExtensions\" must be key=value pairs separated by commas, keys of "
          "letters only");
    }
    oauth.extensions = std::move(*extensions);
  }
  if (!oauth.ca_pem.empty() && !oauth.ca_file.empty()) {
    return InvalidArgumentError(
        "auth settings \"oauthCa\" and \"oauthCaFile\" contradict: give one");
  }
  return oauth;
}

MskIamSettings MskIamFrom(const Get& get) {
  MskIamSettings msk;
  msk.region = get("awsRegion");
  msk.access_key_id = get("awsAccessKeyId");
  msk.secret_access_key = get("awsSecretAccessKey");
  msk.session_token = get("awsSessionToken");
  msk.role_arn = get("awsRoleArn");
  msk.role_session_name = get("awsRoleSessionName");
  return msk;
}

Status CheckKnownAndNonEmpty(const AuthSettings& settings) {
  for (const auto& [key, value] : settings) {
    bool known = false;
    for (std::string_view k : kAuthKeys) known = known || k == key;
    if (!known) return InvalidArgumentError("unknown auth setting " + Quote(key));
    if (value.empty()) return InvalidArgumentError("auth setting " + Quote(key) + " is empty");
  }
  return Status::Ok();
}

// The mechanism and whether the connection is TLS.
struct Modes {
  std::string sasl;  // none, plain, scram_sha256, scram_sha512, oauthbearer, aws_msk_iam
  bool tls = false;
  bool user_password = false;  // plain or SCRAM
};

StatusOr<Modes> ModesOf(const Has& has, const Get& get) {
  Modes modes{.sasl = has("sasl") ? get("sasl") : "none"};
  const bool msk_iam = modes.sasl == "aws_msk_iam";
  modes.user_password =
      modes.sasl == "plain" || modes.sasl == "scram_sha256" || modes.sasl == "scram_sha512";
  if (modes.sasl != "none" && !modes.user_password && modes.sasl != "oauthbearer" && !msk_iam) {
    return InvalidArgumentError(
        "auth setting \"sasl\" must be one of none, plain, scram_sha256, scram_sha512, "
        "oauthbearer, aws_msk_iam");
  }
  // MSK's IAM listener (port 9098) speaks TLS only.
  const std::string tls = has("tls") ? get("tls") : msk_iam ? "enable" : "disable";
  if (tls != "enable" && tls != "disable") {
    return InvalidArgumentError("auth setting \"tls\" must be enable or disable");
  }
  if (msk_iam && tls != "enable") {
    return InvalidArgumentError(
        "auth setting \"tls\" must be enable with sasl aws_msk_iam (MSK's IAM listener is TLS)");
  }
  modes.tls = tls == "enable";
  return modes;
}

// username and password: with plain and SCRAM, and only then.
Status CheckUserPasswordKeys(const Has& has, const Modes& modes) {
  for (std::string_view key : {"username", "password"}) {
    if (modes.user_password && !has(key)) {
      return InvalidArgumentError("auth setting " + Quote(key) + " is required with sasl " +
                                  modes.sasl);
    }
    if (!modes.user_password && has(key)) {
      return InvalidArgumentError("auth setting " + Quote(key) + " given but sasl is " +
                                  modes.sasl);
    }
  }
  return Status::Ok();
}

// The oauth* keys: only with oauthbearer, which requires the first three.
Status CheckOAuthKeys(const Has& has, const Modes& modes) {
  const bool oauth = modes.sasl == "oauthbearer";
  for (std::string_view key : {"oauthTokenEndpointUri", "oauthClientId", "oauthClientSecret"}) {
    if (oauth && !has(key)) {
      return InvalidArgumentError("auth setting " + Quote(key) + " is required with sasl " +
                                  modes.sasl);
    }
  }
  for (std::string_view key : {"oauthTokenEndpointUri", "oauthClientId", "oauthClientSecret",
                               "oauthScope", "oauthExtensions", "oauthCa", "oauthCaFile"}) {
    if (!oauth && has(key)) {
      return InvalidArgumentError("auth setting " + Quote(key) + " given but sasl is " +
                                  modes.sasl);
    }
  }
  return Status::Ok();
}

// The certificate keys: only with TLS, text or file but not both, a client
// certificate with its key.
Status CheckTlsKeys(const Has& has, bool tls) {
  for (std::string_view key :
       {"ca", "caFile", "cert", "certFile", "key", "keyFile", "keyPassword"}) {
    if (!tls && has(key)) {
      return InvalidArgumentError("auth setting " + Quote(key) + " given but tls is not enable");
    }
  }
  for (auto [text, file] :
       {std::pair{"ca", "caFile"}, std::pair{"cert", "certFile"}, std::pair{"key", "keyFile"}}) {
    if (has(text) && has(file)) {
      return InvalidArgumentError("auth settings " + Quote(text) + " and " + Quote(file) +
                                  " contradict: give one");
    }
  }
  const bool has_cert = has("cert") || has("certFile");
  const bool has_key = has("key") || has("keyFile");
  if (has_cert && !has_key) {
    return InvalidArgumentError(
        "auth setting \"key\" or \"keyFile\" is required with a client certificate");
  }
  if (has_key && !has_cert) {
    return InvalidArgumentError(
        "auth setting \"cert\" or \"certFile\" is required with a client key");
  }
  if (has("keyPassword") && !has_key) {
    return InvalidArgumentError(
        "auth setting \"keyPassword\" given without \"key\" or \"keyFile\"");
  }
  return Status::Ok();
}

using Properties = std::vector<std::pair<std::string, std::string>>;

// security.protocol and the SASL mechanism with its credentials. OAUTHBEARER
// tokens come from our refresh callback (oauth_token_refresh.h).
Properties SaslProperties(const Get& get, const Modes& modes) {
  const bool sasl = modes.sasl != "none";
  Properties out = {{"security.protocol", sasl ? (modes.tls ? "sasl_ssl" : "sasl_plaintext")
                                               : (modes.tls ? "ssl" : "plaintext")}};
  if (modes.user_password) {
    out.emplace_back("sasl.mechanism", modes.sasl == "plain"          ? "PLAIN"
                                       : modes.sasl == "scram_sha256" ? "SCRAM-SHA-256"
                                                                      : "SCRAM-SHA-512");
    out.emplace_back("sasl.username", get("username"));
    out.emplace_back("sasl.password", get("password"));
  } else if (sasl) {
    out.emplace_back("sasl.mechanism", "OAUTHBEARER");
  }
  return out;
}

// The TLS properties: hostname verification, and the certificates given.
Properties TlsProperties(const Has& has, const Get& get) {
  // librdkafka 2.x defaults to https already; set it so that no default
  // change can turn hostname verification off behind our back.
  Properties out = {{"ssl.endpoint.identification.algorithm", "https"}};
  for (auto [key, property] :
       {std::pair{"ca", "ssl.ca.pem"}, std::pair{"caFile", "ssl.ca.location"},
        std::pair{"cert", "ssl.certificate.pem"}, std::pair{"certFile", "ssl.certificate.location"},
        std::pair{"key", "ssl.key.pem"}, std::pair{"keyFile", "ssl.key.location"},
        std::pair{"keyPassword", "ssl.key.password"}}) {
    if (has(key)) out.emplace_back(property, get(key));
  }
  return out;
}

}  // namespace

StatusOr<AuthConfig> BuildAuthConfig(const AuthSettings& settings) {
  if (Status known = CheckKnownAndNonEmpty(settings); !known.ok()) return known;
  const Has has = [&](std::string_view key) { return settings.count(std::string(key)) > 0; };
  const Get get = [&](std::string_view key) -> std::string {
    auto it = settings.find(std::string(key));
    return it == settings.end() ? std::string() : it->second;
  };
  StatusOr<Modes> modes = ModesOf(has, get);
  if (!modes.ok()) return modes.status();
  for (Status s : {CheckAwsKeys(has, modes->sasl), CheckUserPasswordKeys(has, *modes),
                   CheckOAuthKeys(has, *modes), CheckTlsKeys(has, modes->tls)}) {
    if (!s.ok()) return s;
  }

  AuthConfig config;
  if (modes->sasl == "oauthbearer") {
    StatusOr<OAuthClientCredentials> oauth = OAuthFrom(get);
    if (!oauth.ok()) return oauth.status();
    config.oauth = std::move(oauth).value();
  }
  if (modes->sasl == "aws_msk_iam") config.msk_iam = MskIamFrom(get);
  config.properties = SaslProperties(get, *modes);
  if (modes->tls) {
    for (auto& property : TlsProperties(has, get)) config.properties.push_back(std::move(property));
  }
  for (std::string_view key : kSecretKeys) {
    if (has(key)) config.secrets.push_back(get(key));
  }
  return config;
}

StatusOr<AuthSettings> ParseAuthText(std::string_view text, std::string_view source) {
  AuthSettings settings;
  int number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++number;
    const std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const auto eq = trimmed.find('=');
    const std::string where = std::string(source) + ":" + std::to_string(number);
    if (eq == std::string_view::npos) {
      return InvalidArgumentError(where + ": expected key=value");
    }
    std::string key(Trim(trimmed.substr(0, eq)));
    if (key.empty()) return InvalidArgumentError(where + ": empty key");
    if (settings.count(key)) return InvalidArgumentError(where + ": duplicate key " + Quote(key));
    settings[key] = std::string(Trim(trimmed.substr(eq + 1)));
  }
  return settings;
}

StatusOr<AuthSettings> ReadAuthFile(const std::string& path) {
  // Security settings are a few lines; anything larger is not an auth file.
  StatusOr<std::string> content = ReadFileBounded(path, 1 << 20);
  if (!content.ok()) return InvalidArgumentError("auth file " + content.status().message());
  return ParseAuthText(*content, path);
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  static constexpr std::string_view kMask = "[redacted]";
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + kMask.size())) {
      text.replace(pos, secret.size(), kMask);
    }
  }
  return text;
}

}  // namespace groupscaler::kafka
