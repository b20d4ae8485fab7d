#pragma once

// Reads that many reconciles make alike, answered from memory for a while:
// ExpiringAnswers keeps the answers of one kind of read per key for `ttl`,
// so that the reconciles asking the same thing within it cost one request,
// and only one of them asks again when it expires.
// A refusal (403) or a NotFound (404) is kept like an answer (asking again
// at once would get the same); other errors are not kept.
//
// * HpaCache: HorizontalPodAutoscalers per namespace, every 30 s. Every
//   reconcile asks whether an HPA also scales its target; an HPA created
//   meanwhile is noticed within the ttl, which is soon enough for a warning.
// * SecretCache: the auth Secrets, each read at most once a minute for all
//   the autoscalers naming it; a rotated credential, or a Secret created
//   after its autoscaler, is noticed within the minute.
//
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "controller/keys.h"
#include "kube/client.h"
#include "kube/rest_client.h"

namespace groupscaler::controller {

template <typename T>
class ExpiringAnswers {
 public:
  // `clock` must outlive this.
  ExpiringAnswers(const Clock* clock, std::chrono::milliseconds ttl) : clock_(clock), ttl_(ttl) {}

  // The answer kept for `key` if younger than the ttl, else what `ask` says.
  // One caller at a time asks for a key: the others meanwhile get the
  // previous answer, or, when there is none, wait for this one.
  StatusOr<T> Get(const std::string& key, const std::function<StatusOr<T>()>& ask) {
    std::unique_lock lock(mu_);
    Entry& entry = answers_[key];
    while (true) {
      const Timestamp now = clock_->Now();
      if (entry.answer && now - entry.at < ttl_) return *entry.answer;
      if (!entry.asking) break;
      if (entry.answer) return *entry.answer;  // being refreshed
      asked_.wait(lock);
    }
    entry.asking = true;
    const Timestamp at = clock_->Now();
    lock.unlock();
    StatusOr<T> answer = ask();
    lock.lock();
    entry.asking = false;
    if (answer.ok() || kube::IsForbidden(answer.status()) || kube::IsNotFound(answer.status())) {
      entry.at = at;
      entry.answer = answer;
    }
    asked_.notify_all();
    return answer;
  }

 private:
  struct Entry {
    Timestamp at;
    std::optional<StatusOr<T>> answer;  // unset: never answered (or only errors)
    bool asking = false;
  };
  const Clock* clock_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::condition_variable asked_;
  std::map<std::string, Entry> answers_;  // std::map: entries stay put while unlocked
};

class HpaCache final : public kube::HpaLister {
 public:
  // `api` and `clock` must outlive the cache.
  HpaCache(kube::HpaLister* api, const Clock* clock,
           std::chrono::milliseconds ttl = std::chrono::seconds(30))
      : api_(api), answers_(clock, ttl) {}

  StatusOr<std::vector<kube::HpaInfo>> ListHpas(const std::string& namespace_name) override {
    return answers_.Get(namespace_name, [&] { return api_->ListHpas(namespace_name); });
  }

 private:
  kube::HpaLister* api_;
  ExpiringAnswers<std::vector<kube::HpaInfo>> answers_;
};

class SecretCache final : public kube::SecretReader {
 public:
  // `api` and `clock` must outlive the cache.
  SecretCache(kube::SecretReader* api, const Clock* clock,
              std::chrono::milliseconds ttl = std::chrono::seconds(60))
      : api_(api), answers_(clock, ttl) {}

  StatusOr<std::map<std::string, std::string>> GetSecretData(const std::string& namespace_name,
                                                             const std::string& name) override {
    return answers_.Get(MakeKey(namespace_name, name),
                        [&] { return api_->GetSecretData(namespace_name, name); });
  }

 private:
  kube::SecretReader* api_;
  ExpiringAnswers<std::map<std::string, std::string>> answers_;
};

}  // namespace groupscaler::controller
