#include "kafka/oauth_token_refresh.h"

#include <spdlog/fmt/chrono.h>
#include <spdlog/spdlog.h>

#include "kafka/msk_iam_token_source.h"
#include "kafka/oauth_client_credentials.h"

namespace groupscaler::kafka {

CachedTokenSource::CachedTokenSource(std::unique_ptr<OAuthTokenSource> inner, const Clock* clock)
    : inner_(std::move(inner)), clock_(clock) {}

StatusOr<BearerToken> CachedTokenSource::Token() {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_->Now();
  if (token_ && now < refresh_at_) return *token_;
  if (!failure_.ok() && now < retry_at_) return Cached(now);
  StatusOr<BearerToken> fresh = inner_->Token();
  if (!fresh.ok()) {
    BackOff(fresh.status(), now);
    return Cached(now);
  }
  Keep(*fresh, now);
  return fresh;
}

StatusOr<BearerToken> CachedTokenSource::Cached(Timestamp now) const {
  if (token_ && now < token_->expiry) return *token_;
  return failure_;
}

void CachedTokenSource::Keep(const BearerToken& token, Timestamp now) {
  token_ = token;
  refresh_at_ = now + (token.expiry - now) * 4 / 5;
  failure_ = Status::Ok();
  backoff_ = std::chrono::milliseconds(0);
}

void CachedTokenSource::BackOff(Status failure, Timestamp now) {
  failure_ = std::move(failure);
  backoff_ = backoff_.count() == 0
                 ? std::chrono::milliseconds(kFirstTokenBackoff)
                 : std::min<std::chrono::milliseconds>(backoff_ * 2, kMaxTokenBackoff);
  retry_at_ = now + backoff_;
}

StatusOr<std::shared_ptr<OAuthTokenSource>> NewTokenSource(const AuthConfig& auth,
                                                           const Clock* clock) {
  static const RealClock kRealClock{};
  if (clock == nullptr) clock = &kRealClock;
  std::unique_ptr<OAuthTokenSource> source;
  if (auth.msk_iam) {
    source = std::make_unique<MskIamTokenSource>(*auth.msk_iam, auth.secrets, clock);
  } else if (auth.oauth) {
    StatusOr<std::unique_ptr<OAuthTokenSource>> grant =
        NewClientCredentialsTokenSource(*auth.oauth, auth.secrets, clock);
    if (!grant.ok()) return grant.status();
    source = std::move(grant).value();
  } else {
    return std::shared_ptr<OAuthTokenSource>();
  }
  return std::shared_ptr<OAuthTokenSource>(
      std::make_shared<CachedTokenSource>(std::move(source), clock));
}

Status SetToken(rd_kafka_t* rk, OAuthTokenSource* source) {
  StatusOr<BearerToken> token = source->Token();
  if (!token.ok()) {
    rd_kafka_oauthbearer_set_token_failure(rk, token.status().message().c_str());
    return token.status();
  }
  // librdkafka takes the extensions as key, value, key, value, ...
  std::vector<const char*> extensions;
  for (const auto& [key, value] : token->extensions) {
    extensions.push_back(key.c_str());
    extensions.push_back(value.c_str());
  }
  char err[512];
  const rd_kafka_resp_err_t result = rd_kafka_oauthbearer_set_token(
      rk, token->value.c_str(), token->expiry.time_since_epoch().count(), token->principal.c_str(),
      extensions.data(), extensions.size(), err, sizeof(err));
  if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // librdkafka's reason names what is at fault, never the token.
    const std::string reason =
        "OAUTHBEARER token for " + token->principal + " refused by librdkafka: " + err;
    rd_kafka_oauthbearer_set_token_failure(rk, reason.c_str());
    return FailedPreconditionError(reason);
  }
  spdlog::debug("{}: OAUTHBEARER token set for {}, valid until {:%FT%TZ}", rd_kafka_name(rk),
                token->principal, std::chrono::floor<std::chrono::seconds>(token->expiry));
  return Status::Ok();
}

void InstallTokenRefresh(rd_kafka_conf_t* conf, void (*callback)(rd_kafka_t*, const char*, void*)) {
  rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, callback);
  rd_kafka_conf_enable_sasl_queue(conf, 1);
}

Status StartTokenRefresh(rd_kafka_t* rk) {
  rd_kafka_error_t* error = rd_kafka_sasl_background_callbacks_enable(rk);
  if (error == nullptr) return Status::Ok();
  const std::string message = rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  return InternalError("OAUTHBEARER token refresh: " + message);
}

}  // namespace groupscaler::kafka
