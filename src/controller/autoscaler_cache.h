#pragma once

// A read cache of ConsumerGroupAutoscalers in front of the API, filled by
// the controller's own list-and-watch (as client-go's informer cache), so
// that a reconcile reads its CR from memory instead of a GET per poll: with
// a thousand autoscalers those GETs would be most of the API traffic.
//
// Contract:
// * WatchAutoscalers goes to the API; every list and event it delivers is
//   applied to the cache before the caller's handler sees it. A list
//   replaces the cache (objects missing from it were deleted).
// * GetAutoscaler answers from the cache once the first list arrived
//   (NotFound when absent: deleted); before that it asks the API.
// * PatchAutoscalerStatus goes to the API, and the object it returns
//   replaces the cached one, so that the next reconcile compares against
//   the status it just wrote and does not write it again.
// * ListAutoscalers goes to the API.
// A cached object may lag the API by the watch's delay; reconciles are
// level-based and the next event or poll corrects it.
// * What is cached of each object is what a reconcile reads of it (its JSON
//   trimmed by TrimForReconcile), deflated (common/deflate.h) and inflated
//   by GetAutoscaler: at 10,000 autoscalers the whole objects would be most
//   of the controller's memory, and the trimmed ones 20 MB.
//
// Thread-safe.

#include <memory>
#include <mutex>
#include <string>

#include "common/deflate.h"
#include "controller/object_store.h"
#include "kube/client.h"

namespace groupscaler::controller {

// `object` without what no reconcile reads: of metadata only name,
// namespace, uid, resourceVersion and generation (no managedFields, whose
// status entries double the object's size on a real API server; no
// annotations, which may hold a last-applied copy of it), and the messages
// of the status and its conditions, which the status write rule
// (status_patch.h) never compares. A text that is not a JSON object is kept
// as it is.
kube::Autoscaler TrimForReconcile(const kube::Autoscaler& object);

class AutoscalerCache final : public kube::AutoscalerClient {
 public:
  // `api` must outlive the cache.
  explicit AutoscalerCache(kube::AutoscalerClient* api) : api_(api) {}

  StatusOr<kube::AutoscalerList> ListAutoscalers(const std::string& namespace_name) override;
  StatusOr<kube::Autoscaler> GetAutoscaler(const std::string& namespace_name,
                                           const std::string& name) override;
  StatusOr<kube::Autoscaler> PatchAutoscalerStatus(
      const std::string& namespace_name, const std::string& name, const std::string& status_json,
      const std::string& resource_version = "") override;
  std::unique_ptr<kube::WatchHandle> WatchAutoscalers(const std::string& namespace_name,
                                                      kube::WatchHandlers handlers) override;

  bool synced() const;
  size_t size() const;
  // Bytes of JSON the cache holds, deflated and as inflated.
  size_t deflated_bytes() const;
  size_t inflated_bytes() const;

 private:
  struct Packed {
    kube::ObjectMeta metadata;
    Deflated json;
  };
  static Packed Pack(const kube::Autoscaler& object);

  kube::AutoscalerClient* api_;
  mutable std::mutex mu_;
  bool synced_ = false;
  ObjectStore<kube::Autoscaler, Packed> objects_{&Pack};
};

}  // namespace groupscaler::controller
