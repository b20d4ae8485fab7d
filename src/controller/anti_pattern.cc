#include "controller/anti_pattern.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <vector>

namespace groupscaler::controller {
namespace {

// Pod fields unique to each replica.
bool IsIdentityField(std::string_view field_path) {
  return field_path == "metadata.name" || field_path == "metadata.uid" ||
         field_path == "status.podIP";
}

bool ContainsIgnoringCase(std::string_view text, std::string_view word) {
  return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
           return std::toupper(static_cast<unsigned char>(a)) ==
                  std::toupper(static_cast<unsigned char>(b));
         }) != text.end();
}

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The first reference in `text` to one of `names`, as written ("$(POD_NAME)",
// "${HOSTNAME}", "$HOSTNAME"); empty when there is none.
std::string FindReference(std::string_view text, const std::set<std::string>& names) {
  for (size_t at = text.find('$'); at != std::string_view::npos; at = text.find('$', at + 1)) {
    const std::string_view rest = text.substr(at + 1);
    std::string_view name;
    size_t length = 0;
    if (!rest.empty() && (rest[0] == '(' || rest[0] == '{')) {
      const char close = rest[0] == '(' ? ')' : '}';
      const size_t end = rest.find(close);
      if (end == std::string_view::npos) continue;
      name = rest.substr(1, end - 1);
      // ${HOSTNAME:-x} and the like: the name ends at the first non-name char.
      name = name.substr(0, std::find_if_not(name.begin(), name.end(), IsNameChar) - name.begin());
      length = end + 2;
    } else {
      const auto end = std::find_if_not(rest.begin(), rest.end(), IsNameChar);
      name = rest.substr(0, end - rest.begin());
      length = name.size() + 1;
    }
    if (names.contains(std::string(name))) return std::string(text.substr(at, length));
  }
  return "";
}

std::optional<PerInstanceGroupId> FindInContainer(const kube::ContainerSpec& container) {
  // HOSTNAME is the pod's name in every container; POD_NAME is the usual
  // name for it. Any env var from an identity field counts as well.
  std::set<std::string> identity_vars = {"HOSTNAME", "POD_NAME"};
  for (const kube::EnvVar& e : container.env) {
    if (IsIdentityField(e.field_path)) identity_vars.insert(e.name);
  }
  for (const kube::EnvVar& e : container.env) {
    if (!ContainsIgnoringCase(e.name, "GROUP")) continue;
    if (IsIdentityField(e.field_path)) {
      return PerInstanceGroupId{.container = container.name,
                                .setting = "env " + e.name,
                                .source = "fieldRef " + e.field_path};
    }
    if (std::string ref = FindReference(e.value, identity_vars); !ref.empty()) {
      return PerInstanceGroupId{
          .container = container.name, .setting = "env " + e.name, .source = ref};
    }
  }
  for (const std::string& arg : container.command_and_args) {
    if (!ContainsIgnoringCase(arg, "group")) continue;
    if (std::string ref = FindReference(arg, identity_vars); !ref.empty()) {
      return PerInstanceGroupId{
          .container = container.name, .setting = "argument \"" + arg + "\"", .source = ref};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<PerInstanceGroupId> FindPerInstanceGroupId(const kube::PodTemplate& pod_template) {
  for (const kube::ContainerSpec& container : pod_template.containers) {
    if (auto found = FindInContainer(container)) return found;
  }
  return std::nullopt;
}

std::string DescribePerInstanceGroupId(const PerInstanceGroupId& finding, int32_t replicas,
                                       const std::string& group_id) {
  return "container " + finding.container + ": " + finding.setting +
         " derives the consumer group id from the pod's identity (" + finding.source +
         "): each of the " + std::to_string(replicas) +
         " replicas joins a group of its own and reads every partition, so every message is "
         "processed " +
         std::to_string(replicas) + " times (x" + std::to_string(replicas) +
         "); give every replica the same group id (" + group_id + ")";
}

}  // namespace groupscaler::controller
