#pragma once

// The objects of one list-and-watch, by namespace/name: what an informer's
// store holds. A list replaces them all (objects missing from it were
// deleted while the watch was away); each event adds, replaces or removes
// one. Not thread-safe: the cache that owns it locks.
//
// resourceVersions are opaque to clients, but every API server in use
// writes integers; where both are, an older one never replaces a newer one
// (a watch event overtaken by the answer to our own write). An event at the
// stored resourceVersion is the same object (the event of our own write,
// stored from its answer already) and is not stored again.

#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>

#include "controller/keys.h"
#include "kube/client.h"

namespace groupscaler::controller {

// True when both are integers and `candidate` is below `stored`.
inline bool OlderResourceVersion(const std::string& candidate, const std::string& stored) {
  auto number = [](const std::string& rv) -> std::optional<uint64_t> {
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), n);
    if (ec != std::errc() || end != rv.data() + rv.size()) return std::nullopt;
    return n;
  };
  const std::optional<uint64_t> a = number(candidate);
  const std::optional<uint64_t> b = number(stored);
  return a && b && *a < *b;
}

// Objects of type T, each stored as a `Stored` (with a `metadata` of its
// own): what `keep` makes of it, when given (a trimmed or packed copy);
// required when Stored is not T.
template <typename T, typename Stored = T>
class ObjectStore {
 public:
  explicit ObjectStore(std::function<Stored(const T&)> keep = nullptr) : keep_(std::move(keep)) {}

  void Replace(const kube::ObjectList<T>& list) {
    objects_.clear();
    for (const T& item : list.items) objects_[KeyOf(item)] = Kept(item);
  }

  void Apply(const kube::WatchEvent<T>& event) {
    switch (event.type) {
      case kube::WatchEventType::kAdded:
      case kube::WatchEventType::kModified:
        Store(event.object);
        break;
      case kube::WatchEventType::kDeleted:
        objects_.erase(KeyOf(event.object));
        break;
      case kube::WatchEventType::kBookmark:
        break;
    }
  }

  // Null when absent.
  const Stored* Find(const std::string& namespace_name, const std::string& name) const {
    auto it = objects_.find(MakeKey(namespace_name, name));
    return it == objects_.end() ? nullptr : &it->second;
  }

  // The object to refresh from a write's answer at `resource_version`: null
  // when absent (a write racing a delete must not revive it) or newer.
  Stored* FindToRefresh(const std::string& namespace_name, const std::string& name,
                        const std::string& resource_version) {
    auto it = objects_.find(MakeKey(namespace_name, name));
    if (it == objects_.end() ||
        OlderResourceVersion(resource_version, it->second.metadata.resource_version)) {
      return nullptr;
    }
    return &it->second;
  }

  size_t size() const { return objects_.size(); }

  void ForEach(const std::function<void(const Stored&)>& visit) const {
    for (const auto& [key, object] : objects_) visit(object);
  }

 private:
  static std::string KeyOf(const T& object) {
    return MakeKey(object.metadata.namespace_name, object.metadata.name);
  }

  Stored Kept(const T& object) const {
    if constexpr (std::is_same_v<T, Stored>) {
      if (!keep_) return object;
    }
    return keep_(object);
  }

  // Whether an object at `incoming` replaces the one stored at `stored`:
  // not when older, nor when the same (the event of our own write, whose
  // answer is stored already).
  static bool Newer(const std::string& incoming, const std::string& stored) {
    return incoming.empty() || (incoming != stored && !OlderResourceVersion(incoming, stored));
  }

  void Store(const T& object) {
    auto it = objects_.find(KeyOf(object));
    if (it == objects_.end()) {
      objects_.emplace(KeyOf(object), Kept(object));
    } else if (Newer(object.metadata.resource_version, it->second.metadata.resource_version)) {
      it->second = Kept(object);
    }
  }

  std::function<Stored(const T&)> keep_;
  std::map<std::string, Stored> objects_;
};

}  // namespace groupscaler::controller
