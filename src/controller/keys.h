#pragma once

// "namespace/name": how the controller keys an object (the work queue, the
// caches, per-autoscaler state), as client-go's MetaNamespaceKeyFunc does.

#include <optional>
#include <string>
#include <utility>

namespace groupscaler::controller {

inline std::string MakeKey(const std::string& namespace_name, const std::string& name) {
  return namespace_name + "/" + name;
}

// The key's parts; nullopt without a '/' or with an empty part.
inline std::optional<std::pair<std::string, std::string>> SplitKey(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == key.size()) return std::nullopt;
  return std::make_pair(key.substr(0, slash), key.substr(slash + 1));
}

}  // namespace groupscaler::controller
