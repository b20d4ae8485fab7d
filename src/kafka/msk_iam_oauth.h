#pragma once

// sasl=aws_msk_iam on a librdkafka handle: the OAUTHBEARER token refresh
// callback that hands librdkafka an MSK IAM token (msk_iam_token.h) made from
// the AWS credentials found (aws_credentials.h). Every handle the reader and
// KafkaAdmin make for such a cluster goes through InstallMskIamTokenRefresh
// and StartMskIamTokenRefresh.
//
// Contract:
// * librdkafka asks for a token when the handle is made and again at 80% of
//   the lifetime it was given (the token's expiry: 900 s, or the
//   credentials' expiration if sooner). The callback runs on librdkafka's
//   background thread (the SASL queue), so no rd_kafka_poll is needed.
// * A failure goes to rd_kafka_oauthbearer_set_token_failure with a reason
//   naming its source (STS, the Pod Identity agent, ...), redacted; librdkafka
//   reports it through the error callback as an authentication error and
//   asks again later.
// * The principal given to librdkafka is the credentials' access key id (not
//   a secret; MSK takes the identity from the signature).

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kafka/auth.h"
#include "kafka/aws_credentials.h"
#include "kafka/msk_iam_token.h"

namespace groupscaler::kafka {

class MskIamTokenSource {
 public:
  // Production: MskIamCredentials over cpprestsdk for `msk`. `clock` (not
  // owned) null: the system clock.
  MskIamTokenSource(const MskIamSettings& msk, std::vector<std::string> secrets,
                    const Clock* clock = nullptr, Getenv getenv = ProcessEnvironment());
  // Tests: `credentials` as given.
  MskIamTokenSource(std::string region, std::unique_ptr<AwsCredentialsProvider> credentials,
                    const Clock* clock, std::vector<std::string> secrets);

  // A token signed now; errors are redacted.
  StatusOr<MskIamToken> Token();

  // Outcomes of the refresh callback (SetMskIamToken), for tests.
  int tokens_set() const { return tokens_set_; }
  int failures() const { return failures_; }
  void Record(bool ok) { ++(ok ? tokens_set_ : failures_); }
  Timestamp Now() const { return clock_->Now(); }

 private:
  const std::string region_;
  const std::vector<std::string> secrets_;
  RealClock real_clock_;
  const Clock* const clock_;
  std::unique_ptr<HttpClient> http_;  // of the production providers
  std::unique_ptr<AwsCredentialsProvider> credentials_;
  std::atomic<int> tokens_set_{0};
  std::atomic<int> failures_{0};
};

// Asks `source` for a token and hands it (or the failure) to `rk`.
void SetMskIamToken(rd_kafka_t* rk, MskIamTokenSource* source);

// Sets `callback` as the token refresh callback of `conf`, served on the
// SASL queue (see StartMskIamTokenRefresh).
void InstallMskIamTokenRefresh(rd_kafka_conf_t* conf,
                               void (*callback)(rd_kafka_t*, const char*, void*));

// The same for a handle whose opaque (rd_kafka_conf_set_opaque) is a
// `Context*` holding `std::shared_ptr<MskIamTokenSource> msk_iam`.
template <typename Context>
void InstallMskIamTokenRefresh(rd_kafka_conf_t* conf) {
  InstallMskIamTokenRefresh(conf, [](rd_kafka_t* rk, const char*, void* opaque) {
    SetMskIamToken(rk, static_cast<Context*>(opaque)->msk_iam.get());
  });
}

// After rd_kafka_new: serves the SASL queue, so the token refresh, on
// librdkafka's background thread. Errors are INTERNAL.
Status StartMskIamTokenRefresh(rd_kafka_t* rk);

// What a handle with no context of its own takes as its opaque.
struct MskIamHandleContext {
  std::shared_ptr<MskIamTokenSource> msk_iam;
};

}  // namespace groupscaler::kafka
