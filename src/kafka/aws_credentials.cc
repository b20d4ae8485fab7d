#include "kafka/aws_credentials.h"

#include <cpprest/asyncrt_utils.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/files.h"

namespace groupscaler::kafka {
namespace {

constexpr char kStsVersion[] = "2011-06-15";
constexpr char kFormType[] = "application/x-www-form-urlencoded; charset=utf-8";
constexpr size_t kMaxTokenFile = 64 * 1024;

std::string XmlUnescape(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool replaced = false;
    for (const auto& [entity, c] : kEntities) {
      if (text.compare(i, entity.size(), entity) == 0) {
        out.push_back(c);
        i += entity.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(text[i++]);
  }
  return out;
}

// The text of the first <tag>...</tag> in `xml`, unescaped.
std::optional<std::string> XmlText(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const size_t begin = xml.find(open);
  if (begin == std::string_view::npos) return std::nullopt;
  const size_t start = begin + open.size();
  const size_t end = xml.find(close, start);
  if (end == std::string_view::npos) return std::nullopt;
  return XmlUnescape(xml.substr(start, end - start));
}

std::string StsErrorText(std::string_view xml) {
  const auto code = XmlText(xml, "Code");
  const auto message = XmlText(xml, "Message");
  if (!code && !message) return "no ErrorResponse";
  return code.value_or("") + (message ? ": " + *message : "");
}

std::string TrimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// POSTs an STS form and parses its credentials.
StatusOr<AwsCredentials> CallSts(const AwsContext& context, const std::string& sts_url,
                                 HttpRequest request, std::string_view action) {
  const std::string what = "STS " + std::string(action) + " at " + sts_url;
  request.method = "POST";
  request.url = sts_url;
  StatusOr<HttpResponse> response = context.http->Send(request, context.timeout);
  if (!response.ok()) return Status(response.status().code(), "STS " + response.status().message());
  return ParseStsResponse(response->body, response->status_code, what);
}

class StaticProvider final : public AwsCredentialsProvider {
 public:
  explicit StaticProvider(AwsCredentials credentials) : credentials_(std::move(credentials)) {}
  StatusOr<AwsCredentials> Credentials() override { return credentials_; }

 private:
  const AwsCredentials credentials_;
};

class FailingProvider final : public AwsCredentialsProvider {
 public:
  explicit FailingProvider(std::string message) : message_(std::move(message)) {}
  StatusOr<AwsCredentials> Credentials() override { return FailedPreconditionError(message_); }

 private:
  const std::string message_;
};

class WebIdentityProvider final : public AwsCredentialsProvider {
 public:
  WebIdentityProvider(const AwsContext& context, std::string sts_url, std::string role_arn,
                      std::string token_file, std::string session_name)
      : context_(context),
        sts_url_(std::move(sts_url)),
        role_arn_(std::move(role_arn)),
        token_file_(std::move(token_file)),
        session_name_(std::move(session_name)) {}

  StatusOr<AwsCredentials> Credentials() override {
    // Read afresh each time: the kubelet rotates the projected token.
    StatusOr<std::string> token = ReadFileBounded(token_file_, kMaxTokenFile);
    if (!token.ok())
      return FailedPreconditionError("web identity token " + token.status().message());
    HttpRequest request;
    request.headers = {{"Content-Type", kFormType}};
    request.body = CanonicalQueryString({{"Action", "AssumeRoleWithWebIdentity"},
                                         {"RoleArn", role_arn_},
                                         {"RoleSessionName", session_name_},
                                         {"Version", kStsVersion},
                                         {"WebIdentityToken", TrimRight(*token)}});
    return CallSts(context_, sts_url_, std::move(request), "AssumeRoleWithWebIdentity");
  }

 private:
  const AwsContext context_;
  const std::string sts_url_, role_arn_, token_file_, session_name_;
};

class PodIdentityProvider final : public AwsCredentialsProvider {
 public:
  PodIdentityProvider(const AwsContext& context, std::string full_uri, std::string token_file,
                      std::string token)
      : context_(context),
        full_uri_(std::move(full_uri)),
        token_file_(std::move(token_file)),
        token_(std::move(token)) {}

  StatusOr<AwsCredentials> Credentials() override {
    const std::string what = "EKS Pod Identity agent at " + full_uri_;
    std::string token = token_;
    if (!token_file_.empty()) {
      StatusOr<std::string> read = ReadFileBounded(token_file_, kMaxTokenFile);
      if (!read.ok()) return FailedPreconditionError(what + ": token " + read.status().message());
      token = TrimRight(*read);
    }
    HttpRequest request{"GET", full_uri_, {{"Accept", "application/json"}}, ""};
    if (!token.empty()) request.headers.emplace_back("Authorization", token);
    StatusOr<HttpResponse> response = context_.http->Send(request, context_.timeout);
    if (!response.ok())
      return Status(response.status().code(),
                    "EKS Pod Identity agent: " + response.status().message());
    if (response->status_code != 200) {
      return Status(StatusCodeOfHttp(response->status_code),
                    what + ": HTTP " + std::to_string(response->status_code));
    }
    return ParsePodIdentityResponse(response->body, what);
  }

 private:
  const AwsContext context_;
  const std::string full_uri_, token_file_, token_;
};

class AssumeRoleProvider final : public AwsCredentialsProvider {
 public:
  AssumeRoleProvider(const AwsContext& context, std::unique_ptr<AwsCredentialsProvider> base,
                     std::string sts_url, std::string region, std::string role_arn,
                     std::string session_name)
      : context_(context),
        base_(std::move(base)),
        sts_url_(std::move(sts_url)),
        region_(std::move(region)),
        role_arn_(std::move(role_arn)),
        session_name_(std::move(session_name)) {}

  StatusOr<AwsCredentials> Credentials() override {
    StatusOr<AwsCredentials> base = base_->Credentials();
    if (!base.ok()) return base.status();
    HttpRequest request;
    request.body = CanonicalQueryString({{"Action", "AssumeRole"},
                                         {"RoleArn", role_arn_},
                                         {"RoleSessionName", session_name_},
                                         {"Version", kStsVersion}});
    request.headers = SignRequest(*base, request.body);
    return CallSts(context_, sts_url_, std::move(request), "AssumeRole");
  }

 private:
  // The request's headers with SigV4's Authorization (service sts).
  AwsParams SignRequest(const AwsCredentials& base, const std::string& body) const {
    const SigV4Scope scope{region_, "sts", context_.clock->Now()};
    SigV4Request signing{"POST", "/", {}, {}, body};
    signing.headers = {{"Content-Type", kFormType},
                       {"Host", HostHeaderOf(sts_url_)},
                       {"X-Amz-Date", AmzDate(scope.time)}};
    if (!base.session_token.empty()) {
      signing.headers.emplace_back("X-Amz-Security-Token", base.session_token);
    }
    AwsParams headers;  // all but Host, which cpprestsdk writes
    for (const auto& header : signing.headers) {
      if (header.first != "Host") headers.push_back(header);
    }
    headers.emplace_back("Authorization", AuthorizationHeader(signing, base, scope));
    return headers;
  }

  const AwsContext context_;
  const std::unique_ptr<AwsCredentialsProvider> base_;
  const std::string sts_url_, region_, role_arn_, session_name_;
};

class CachingProvider final : public AwsCredentialsProvider {
 public:
  CachingProvider(std::unique_ptr<AwsCredentialsProvider> inner, const Clock* clock,
                  std::chrono::milliseconds margin)
      : inner_(std::move(inner)), clock_(clock), margin_(margin) {}

  StatusOr<AwsCredentials> Credentials() override {
    std::lock_guard lock(mu_);
    const Timestamp now = clock_->Now();
    if (cached_ && (!cached_->expiration || now < *cached_->expiration - margin_)) return *cached_;
    StatusOr<AwsCredentials> fresh = inner_->Credentials();
    if (fresh.ok()) {
      cached_ = *fresh;
    } else if (cached_ && cached_->expiration && now < *cached_->expiration) {
      return *cached_;  // still valid: try again at the next call
    }
    return fresh;
  }

 private:
  const std::unique_ptr<AwsCredentialsProvider> inner_;
  const Clock* const clock_;
  const std::chrono::milliseconds margin_;
  std::mutex mu_;
  std::optional<AwsCredentials> cached_;  // guarded by mu_
};

// Step 1 to 3 of the chain (see the header), uncached.
std::unique_ptr<AwsCredentialsProvider> BaseCredentials(const MskIamSettings& settings,
                                                        const AwsContext& context) {
  const Getenv& env = context.getenv;
  if (!settings.access_key_id.empty()) {
    return StaticCredentials(
        {settings.access_key_id, settings.secret_access_key, settings.session_token, {}});
  }
  const auto role = env("AWS_ROLE_ARN");
  const auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  if (role && token_file) {
    return WebIdentityCredentials(context, StsUrl(settings.region, env), *role, *token_file,
                                  env("AWS_ROLE_SESSION_NAME").value_or("groupscaler"));
  }
  if (const auto uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    return PodIdentityCredentials(context, *uri,
                                  env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value_or(""),
                                  env("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or(""));
  }
  return std::make_unique<FailingProvider>(
      "no AWS credentials for MSK IAM: give awsAccessKeyId and awsSecretAccessKey, or run "
      "with IRSA (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) or EKS Pod Identity "
      "(AWS_CONTAINER_CREDENTIALS_FULL_URI)");
}

}  // namespace

Getenv ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

std::unique_ptr<AwsCredentialsProvider> MskIamCredentials(const MskIamSettings& settings,
                                                          const AwsContext& context) {
  std::unique_ptr<AwsCredentialsProvider> base = BaseCredentials(settings, context);
  if (!settings.role_arn.empty()) {
    base = AssumeRoleCredentials(
        context, CachedCredentials(std::move(base), context.clock),
        StsUrl(settings.region, context.getenv), settings.region, settings.role_arn,
        settings.role_session_name.empty() ? "groupscaler" : settings.role_session_name);
  }
  return CachedCredentials(std::move(base), context.clock);
}

std::unique_ptr<AwsCredentialsProvider> StaticCredentials(AwsCredentials credentials) {
  return std::make_unique<StaticProvider>(std::move(credentials));
}

std::unique_ptr<AwsCredentialsProvider> WebIdentityCredentials(const AwsContext& context,
                                                               std::string sts_url,
                                                               std::string role_arn,
                                                               std::string token_file,
                                                               std::string session_name) {
  return std::make_unique<WebIdentityProvider>(context, std::move(sts_url), std::move(role_arn),
                                               std::move(token_file), std::move(session_name));
}

std::unique_ptr<AwsCredentialsProvider> PodIdentityCredentials(const AwsContext& context,
                                                               std::string full_uri,
                                                               std::string token_file,
                                                               std::string token) {
  return std::make_unique<PodIdentityProvider>(context, std::move(full_uri), std::move(token_file),
                                               std::move(token));
}

std::unique_ptr<AwsCredentialsProvider> AssumeRoleCredentials(
    const AwsContext& context, std::unique_ptr<AwsCredentialsProvider> base, std::string sts_url,
    std::string region, std::string role_arn, std::string session_name) {
  return std::make_unique<AssumeRoleProvider>(context, std::move(base), std::move(sts_url),
                                              std::move(region), std::move(role_arn),
                                              std::move(session_name));
}

std::unique_ptr<AwsCredentialsProvider> CachedCredentials(
    std::unique_ptr<AwsCredentialsProvider> inner, const Clock* clock,
    std::chrono::milliseconds margin) {
  return std::make_unique<CachingProvider>(std::move(inner), clock, margin);
}

std::string StsUrl(std::string_view region, const Getenv& getenv) {
  if (auto url = getenv("AWS_ENDPOINT_URL_STS")) return *url;
  return "https://sts." + std::string(region) + ".amazonaws.com/";
}

StatusOr<AwsCredentials> ParseStsResponse(std::string_view xml, int http_status,
                                          std::string_view what) {
  if (http_status != 200) {
    return Status(
        StatusCodeOfHttp(http_status),
        std::string(what) + ": HTTP " + std::to_string(http_status) + " " + StsErrorText(xml));
  }
  const size_t at = xml.find("<Credentials>");
  const std::string_view block = at == std::string_view::npos ? "" : xml.substr(at);
  AwsCredentials credentials;
  const auto key = XmlText(block, "AccessKeyId");
  const auto secret = XmlText(block, "SecretAccessKey");
  const auto token = XmlText(block, "SessionToken");
  const auto expiration = XmlText(block, "Expiration");
  if (!key || !secret || !token || !expiration) {
    return UnavailableError(std::string(what) + ": the answer holds no complete Credentials");
  }
  StatusOr<Timestamp> expires = ParseAwsTime(*expiration);
  if (!expires.ok()) return UnavailableError(std::string(what) + ": " + expires.status().message());
  return AwsCredentials{*key, *secret, *token, *expires};
}

StatusOr<AwsCredentials> ParsePodIdentityResponse(std::string_view json, std::string_view what) {
  const auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto text = [&](const char* name) -> std::optional<std::string> {
    if (!doc.is_object() || !doc.contains(name) || !doc[name].is_string()) return std::nullopt;
    return doc[name].get<std::string>();
  };
  const auto key = text("AccessKeyId");
  const auto secret = text("SecretAccessKey");
  const auto expiration = text("Expiration");
  if (!key || !secret || !expiration) {
    return UnavailableError(std::string(what) +
                            ": the answer holds no AccessKeyId, SecretAccessKey and Expiration");
  }
  StatusOr<Timestamp> expires = ParseAwsTime(*expiration);
  if (!expires.ok()) return UnavailableError(std::string(what) + ": " + expires.status().message());
  return AwsCredentials{*key, *secret, text("Token").value_or(""), *expires};
}

StatusOr<Timestamp> ParseAwsTime(std::string_view text) {
  // 100 ns ticks from 1601-01-01 (cpprestsdk's datetime) to the Unix epoch.
  constexpr int64_t kEpochTicks = 116444736000000000;
  const utility::datetime t =
      utility::datetime::from_string(std::string(text), utility::datetime::ISO_8601);
  if (!t.is_initialized()) {
    return InvalidArgumentError("time \"" + std::string(text) + "\" is not ISO 8601");
  }
  const int64_t ticks = static_cast<int64_t>(t.to_interval()) - kEpochTicks;
  return Timestamp(std::chrono::milliseconds(ticks / 10'000));
}

}  // namespace groupscaler::kafka
