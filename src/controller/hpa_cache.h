#pragma once

// HorizontalPodAutoscalers per namespace, listed at most once per `ttl`.
// Every reconcile asks whether an HPA also scales its target; without this
// each poll of each autoscaler would list its namespace's HPAs. An HPA
// created meanwhile is noticed within `ttl`, which is soon enough for a
// warning. A refusal (403) or an API the server does not serve (404) is
// cached like a list; other errors are not. Thread-safe.

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "kube/client.h"

namespace groupscaler::controller {

class HpaCache final : public kube::HpaLister {
 public:
  // `api` and `clock` must outlive the cache.
  HpaCache(kube::HpaLister* api, const Clock* clock,
           std::chrono::milliseconds ttl = std::chrono::seconds(30))
      : api_(api), clock_(clock), ttl_(ttl) {}

  StatusOr<std::vector<kube::HpaInfo>> ListHpas(const std::string& namespace_name) override;

 private:
  struct Entry {
    Timestamp listed;
    StatusOr<std::vector<kube::HpaInfo>> hpas;
  };
  kube::HpaLister* api_;
  const Clock* clock_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> by_namespace_;
};

}  // namespace groupscaler::controller
