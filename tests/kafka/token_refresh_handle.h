#pragma once

// What SetToken (kafka/oauth_token_refresh.h) returned on a real librdkafka
// handle's first OAUTHBEARER token refresh, for the tests of token sources.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/mock_cluster.h"
#include "kafka/oauth_token_refresh.h"
#include "support/subprocess.h"

namespace groupscaler::testing {

// A handle's opaque that keeps what SetToken returned.
struct RecordingContext {
  std::shared_ptr<kafka::OAuthTokenSource> token_source;
  std::mutex mu;
  std::vector<Status> results;  // guarded by mu
};

// A producer on a port nobody listens on (the token comes before any
// connection) whose refresh callback asks `source`; the SetToken result of
// its first refresh, or DEADLINE_EXCEEDED when none came within 5 s. No
// rd_kafka_poll: the SASL queue is served on librdkafka's background thread.
inline Status FirstTokenRefresh(std::shared_ptr<kafka::OAuthTokenSource> source) {
  RecordingContext ctx;
  ctx.token_source = std::move(source);
  auto rk = kafka::NewClient(RD_KAFKA_PRODUCER,
                             {{"bootstrap.servers", "127.0.0.1:" + std::to_string(FreePort())},
                              {"security.protocol", "sasl_plaintext"},
                              {"sasl.mechanism", "OAUTHBEARER"},
                              {"log_level", "0"}},
                             [&](rd_kafka_conf_t* conf) {
                               rd_kafka_conf_set_opaque(conf, &ctx);
                               kafka::InstallTokenRefresh(
                                   conf, [](rd_kafka_t* rk, const char*, void* opaque) {
                                     auto* c = static_cast<RecordingContext*>(opaque);
                                     Status s = kafka::SetToken(rk, c->token_source.get());
                                     std::lock_guard lock(c->mu);
                                     c->results.push_back(std::move(s));
                                   });
                             });
  if (!rk.ok()) return rk.status();
  if (Status s = kafka::StartTokenRefresh(rk->get()); !s.ok()) return s;
  const bool asked = WaitFor(
      [&] {
        std::lock_guard lock(ctx.mu);
        return !ctx.results.empty();
      },
      std::chrono::seconds(5));
  if (!asked) return DeadlineExceededError("no token refresh within 5 s");
  std::lock_guard lock(ctx.mu);
  return ctx.results.front();
}

}  // namespace groupscaler::testing
