#include "controller/hpa_cache.h"

#include "kube/rest_client.h"

namespace groupscaler::controller {

StatusOr<std::vector<kube::HpaInfo>> HpaCache::ListHpas(const std::string& namespace_name) {
  const Timestamp now = clock_->Now();
  {
    std::lock_guard lock(mu_);
    auto it = by_namespace_.find(namespace_name);
    if (it != by_namespace_.end() && now - it->second.listed < ttl_) return it->second.hpas;
  }
  // Listed outside the lock: two workers may both list once at expiry,
  // which is cheaper than serialising every namespace behind one call.
  StatusOr<std::vector<kube::HpaInfo>> listed = api_->ListHpas(namespace_name);
  if (!listed.ok() && !kube::IsForbidden(listed.status()) && !kube::IsNotFound(listed.status())) {
    return listed;
  }
  std::lock_guard lock(mu_);
  by_namespace_.insert_or_assign(namespace_name, Entry{now, listed});
  return listed;
}

}  // namespace groupscaler::controller
