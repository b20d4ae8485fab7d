#include "controller/anti_pattern.h"

#include <fmt/ranges.h>

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

bool IsSeparator(char c) { return c == '-' || c == '_' || c == '.'; }

bool AllOf(std::string_view text, bool (*pred)(char)) {
  return !text.empty() && std::all_of(text.begin(), text.end(), pred);
}
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
// The alphabet of the names Kubernetes generates (pod-template-hash and the
// pod's random tail).
bool IsKubeGenerated(char c) {
  return std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string_view::npos;
}

bool IsOrdinal(std::string_view s) { return s.size() <= 3 && AllOf(s, IsDigit); }

bool IsInstanceWord(std::string_view s) {
  for (std::string_view word : {"host", "hostname", "pod", "instance", "replica"}) {
    if (s.size() == word.size() && ContainsIgnoringCase(s, word)) return true;
  }
  return false;
}

// Whether the segments of a suffix end in an instance id (see
// GroupsNamedPerInstance).
bool EndsInInstanceId(const std::vector<std::string_view>& segments) {
  const size_t n = segments.size();
  if (IsOrdinal(segments[n - 1])) return true;
  if (n >= 2 && segments[n - 2].size() >= 5 && segments[n - 2].size() <= 10 &&
      AllOf(segments[n - 2], IsKubeGenerated) && segments[n - 1].size() == 5 &&
      AllOf(segments[n - 1], IsKubeGenerated)) {
    return true;
  }
  if (n >= 5) {
    static constexpr size_t kUuidLengths[] = {8, 4, 4, 4, 12};
    bool uuid = true;
    for (size_t i = 0; i < 5; ++i) {
      const std::string_view part = segments[n - 5 + i];
      uuid = uuid && part.size() == kUuidLengths[i] && AllOf(part, IsHex);
    }
    if (uuid) return true;
  }
  return std::any_of(segments.begin(), segments.end() - 1, IsInstanceWord);
}

bool IsNamedPerInstance(std::string_view group_id, std::string_view name) {
  if (name.size() < group_id.size() + 2 || !name.starts_with(group_id) ||
      !IsSeparator(name[group_id.size()])) {
    return false;
  }
  std::vector<std::string_view> segments;
  std::string_view rest = name.substr(group_id.size() + 1);
  while (true) {
    const auto end = std::find_if(rest.begin(), rest.end(), IsSeparator);
    const std::string_view segment = rest.substr(0, end - rest.begin());
    if (segment.empty()) return false;
    segments.push_back(segment);
    if (end == rest.end()) break;
    rest.remove_prefix(segment.size() + 1);
  }
  return EndsInInstanceId(segments);
}

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

kube::PodTemplate GroupIdSettings(kube::PodTemplate pod_template) {
  for (kube::ContainerSpec& container : pod_template.containers) {
    std::erase_if(container.env, [](const kube::EnvVar& e) {
      return !ContainsIgnoringCase(e.name, "GROUP") && e.field_path.empty();
    });
    std::erase_if(container.command_and_args,
                  [](const std::string& arg) { return !ContainsIgnoringCase(arg, "group"); });
    container.env.shrink_to_fit();  // kept by the cache: no spare capacity
    container.command_and_args.shrink_to_fit();
  }
  return pod_template;
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

std::vector<std::string> GroupsNamedPerInstance(const std::string& group_id,
                                                const std::vector<std::string>& listed) {
  std::set<std::string> found;
  for (const std::string& name : listed) {
    if (IsNamedPerInstance(group_id, name)) found.insert(name);
  }
  return {found.begin(), found.end()};
}

StatusOr<GroupsPerInstance> CheckGroupsPerInstance(const GroupListing& listing,
                                                   const kafka::GroupQuery& query,
                                                   kafka::LagReader& reader,
                                                   std::chrono::milliseconds timeout) {
  GroupsPerInstance check{.listed_at = listing.listed_at, .query = query};
  const std::vector<std::string> candidates =
      GroupsNamedPerInstance(query.group_id, listing.groups);
  if (candidates.size() < kMinGroupsPerInstance) return check;
  std::vector<kafka::GroupQuery> queries;
  for (const std::string& group : candidates) {
    queries.push_back({.group_id = group, .topics = query.topics});
  }
  StatusOr<std::vector<kafka::GroupObservation>> observed = reader.Observe(queries, timeout);
  if (!observed.ok()) return observed.status();
  for (const kafka::GroupObservation& g : *observed) {
    const std::vector<policy::PartitionObservation>& partitions = g.observation.partitions;
    if (std::any_of(
            partitions.begin(), partitions.end(),
            [](const policy::PartitionObservation& p) { return p.committed_offset.has_value(); })) {
      check.groups.push_back(g.group_id);
    }
  }
  std::sort(check.groups.begin(), check.groups.end());
  if (check.groups.size() < kMinGroupsPerInstance) check.groups.clear();
  return check;
}

std::string DescribeGroupsPerInstance(const GroupsPerInstance& check) {
  constexpr size_t kNamed = 5;
  const std::string n = std::to_string(check.groups.size());
  const size_t named = std::min(check.groups.size(), kNamed);
  std::string names =
      fmt::format("{}", fmt::join(check.groups.begin(), check.groups.begin() + named, ", "));
  if (check.groups.size() > named) {
    names += " and " + std::to_string(check.groups.size() - named) + " more";
  }
  const std::string topics = fmt::format("{}", fmt::join(check.query.topics, ", "));
  return n + " consumer groups named like " + check.query.group_id +
         " plus an instance suffix commit offsets on " + topics + " (" + names +
         "): each instance uses a group of its own and reads every partition, so every message "
         "is processed " +
         n + " times (x" + n + "); give every instance the same group id (" + check.query.group_id +
         ")";
}

StatusOr<std::shared_ptr<const GroupListing>> GroupListCache::Get(
    const std::shared_ptr<kafka::LagReader>& reader, std::chrono::milliseconds timeout) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    // A reader gone (its cluster no longer used) takes its listing along,
    // before a new reader can reuse its address.
    std::erase_if(entries_, [](const auto& e) { return e.second->reader.expired(); });
    std::shared_ptr<Entry>& slot = entries_[reader.get()];
    if (!slot) {
      slot = std::make_shared<Entry>();
      slot->reader = reader;
    }
    entry = slot;
  }
  std::lock_guard lock(entry->mu);
  const Timestamp now = clock_->Now();
  if (entry->result && now - entry->asked_at < interval_) return *entry->result;
  StatusOr<std::vector<std::string>> listed = reader->ListGroups(timeout);
  entry->asked_at = now;
  if (listed.ok()) {
    entry->result = std::make_shared<const GroupListing>(
        GroupListing{.listed_at = now, .groups = std::move(listed).value()});
  } else {
    entry->result = listed.status();
  }
  return *entry->result;
}

}  // namespace groupscaler::controller
