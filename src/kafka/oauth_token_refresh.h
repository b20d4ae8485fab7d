#pragma once

// SASL/OAUTHBEARER with a token made by groupscaler, on a librdkafka handle:
// the one token refresh seam of sasl=aws_msk_iam (msk_iam_token_source.h)
// and sasl=oauthbearer (oauth_client_credentials.h). Every handle the
// reader and KafkaAdmin make for such a cluster goes through
// InstallTokenRefresh and StartTokenRefresh; the handles of one client share
// one OAuthTokenSource.
//
// Contract:
// * librdkafka asks for a token when the handle is made and again at 80% of
//   the lifetime it was given. The callback runs on librdkafka's background
//   thread (the SASL queue), so no rd_kafka_poll is needed.
// * SetToken hands librdkafka the token, its expiry, principal and SASL
//   extensions, or the source's failure (rd_kafka_oauthbearer_set_token_
//   failure), which librdkafka reports through the error callback as an
//   authentication error and asks again about 10 s later.
// * CachedTokenSource: one token serves every handle until 80% of its
//   lifetime; after a failure, calls within a backoff (1 s, doubling per
//   failure in a row up to 60 s, reset by a success) get the failure again
//   (or the previous token while it is valid) without asking the inner
//   source. Time is the injected Clock's.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kafka/auth.h"

namespace groupscaler::kafka {

struct BearerToken {
  std::string value;
  Timestamp expiry;       // when it stops working
  std::string principal;  // not a secret: a key id, a client id, a JWT's sub
  // SASL extensions sent with it (key, value).
  std::vector<std::pair<std::string, std::string>> extensions;
};

class OAuthTokenSource {
 public:
  virtual ~OAuthTokenSource() = default;
  // A token valid now. Errors are one line naming where the token comes
  // from, never a secret or a token. Thread-safe: every handle's background
  // thread asks.
  virtual StatusOr<BearerToken> Token() = 0;
};

inline constexpr std::chrono::seconds kFirstTokenBackoff{1};
inline constexpr std::chrono::seconds kMaxTokenBackoff{60};

class CachedTokenSource final : public OAuthTokenSource {
 public:
  // `clock` is not owned and must outlive this.
  CachedTokenSource(std::unique_ptr<OAuthTokenSource> inner, const Clock* clock);
  StatusOr<BearerToken> Token() override;

 private:
  // The cached token while it is valid, else the last failure.
  StatusOr<BearerToken> Cached(Timestamp now) const;
  void Keep(const BearerToken& token, Timestamp now);
  void BackOff(Status failure, Timestamp now);

  const std::unique_ptr<OAuthTokenSource> inner_;
  const Clock* const clock_;
  // One request at a time: concurrent callers wait for it and share it.
  std::mutex mu_;
  std::optional<BearerToken> token_;      // guarded by mu_
  Timestamp refresh_at_;                  // guarded by mu_
  Status failure_;                        // the last failure, Ok after a success; guarded by mu_
  std::chrono::milliseconds backoff_{0};  // guarded by mu_
  Timestamp retry_at_;                    // guarded by mu_
};

// The cached source that `auth` needs (sasl=aws_msk_iam or oauthbearer), or
// null when it needs none. Errors (an unreadable oauthCaFile, a CA that is
// no PEM certificate) are INVALID_ARGUMENT naming the key. `clock` (not
// owned) null: the system clock.
StatusOr<std::shared_ptr<OAuthTokenSource>> NewTokenSource(const AuthConfig& auth,
                                                           const Clock* clock = nullptr);

// Asks `source` for a token and hands it, or the failure, to `rk`. Returns
// what librdkafka was handed: the source's failure, librdkafka's refusal of
// the token (its reason, e.g. an expiry in the past), or Ok.
Status SetToken(rd_kafka_t* rk, OAuthTokenSource* source);

// Sets `callback` as the token refresh callback of `conf`, served on the
// SASL queue (see StartTokenRefresh).
void InstallTokenRefresh(rd_kafka_conf_t* conf, void (*callback)(rd_kafka_t*, const char*, void*));

// The same for a handle whose opaque (rd_kafka_conf_set_opaque) is a
// `Context*` holding `std::shared_ptr<OAuthTokenSource> token_source`.
template <typename Context>
void InstallTokenRefresh(rd_kafka_conf_t* conf) {
  InstallTokenRefresh(conf, [](rd_kafka_t* rk, const char*, void* opaque) {
    (void)SetToken(rk, static_cast<Context*>(opaque)->token_source.get());
  });
}

// After rd_kafka_new: serves the SASL queue, so the token refresh, on
// librdkafka's background thread. Errors are INTERNAL.
Status StartTokenRefresh(rd_kafka_t* rk);

// What a handle with no context of its own takes as its opaque.
struct TokenRefreshContext {
  std::shared_ptr<OAuthTokenSource> token_source;
};

}  // namespace groupscaler::kafka
