#include "kafka/msk_iam_oauth.h"

#include <spdlog/spdlog.h>

namespace groupscaler::kafka {
namespace {

#ifndef GROUPSCALER_VERSION
#define GROUPSCALER_VERSION "0"
#endif
constexpr char kUserAgent[] = "groupscaler/" GROUPSCALER_VERSION;

}  // namespace

MskIamTokenSource::MskIamTokenSource(const MskIamSettings& msk, std::vector<std::string> secrets,
                                     const Clock* clock, Getenv getenv)
    : region_(msk.region),
      secrets_(std::move(secrets)),
      clock_(clock != nullptr ? clock : &real_clock_),
      http_(NewHttpClient()) {
  credentials_ = MskIamCredentials(msk, AwsContext{http_.get(), clock_, std::move(getenv)});
}

MskIamTokenSource::MskIamTokenSource(std::string region,
                                     std::unique_ptr<AwsCredentialsProvider> credentials,
                                     const Clock* clock, std::vector<std::string> secrets)
    : region_(std::move(region)),
      secrets_(std::move(secrets)),
      clock_(clock),
      credentials_(std::move(credentials)) {}

StatusOr<MskIamToken> MskIamTokenSource::Token() {
  StatusOr<AwsCredentials> credentials = credentials_->Credentials();
  if (!credentials.ok()) {
    return Status(credentials.status().code(),
                  "MSK IAM token: " + Redact(credentials.status().message(), secrets_));
  }
  return MakeMskIamToken(*credentials, region_, clock_->Now(), kUserAgent);
}

void SetMskIamToken(rd_kafka_t* rk, MskIamTokenSource* source) {
  StatusOr<MskIamToken> token = source->Token();
  if (!token.ok()) {
    source->Record(false);
    rd_kafka_oauthbearer_set_token_failure(rk, token.status().message().c_str());
    return;
  }
  const int64_t expiry_ms = token->expiry.time_since_epoch().count();
  char err[512];
  const rd_kafka_resp_err_t result = rd_kafka_oauthbearer_set_token(
      rk, token->value.c_str(), expiry_ms, token->principal.c_str(), nullptr, 0, err, sizeof(err));
  source->Record(result == RD_KAFKA_RESP_ERR_NO_ERROR);
  if (result == RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::debug(
        "{}: MSK IAM token set for {}, valid {} s", rd_kafka_name(rk), token->principal,
        std::chrono::duration_cast<std::chrono::seconds>(token->expiry - source->Now()).count());
  } else {
    // librdkafka's reason names the property at fault, never the token.
    const std::string reason = std::string("MSK IAM token refused by librdkafka: ") + err;
    rd_kafka_oauthbearer_set_token_failure(rk, reason.c_str());
  }
}

void InstallMskIamTokenRefresh(rd_kafka_conf_t* conf,
                               void (*callback)(rd_kafka_t*, const char*, void*)) {
  rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, callback);
  rd_kafka_conf_enable_sasl_queue(conf, 1);
}

Status StartMskIamTokenRefresh(rd_kafka_t* rk) {
  rd_kafka_error_t* error = rd_kafka_sasl_background_callbacks_enable(rk);
  if (error == nullptr) return Status::Ok();
  const std::string message = rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  return InternalError("MSK IAM token refresh: " + message);
}

}  // namespace groupscaler::kafka
