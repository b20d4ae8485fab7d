#include "spec/autoscaler_spec.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "common/files.h"
#include "policy/policy.h"

namespace groupscaler::spec {
namespace {

// Each step below returns a Status; this keeps the happy path readable.
#define GS_RETURN_IF_ERROR(expr)                                      \
  do {                                                                \
    if (Status gs_status = (expr); !gs_status.ok()) return gs_status; \
  } while (false)

// Kubernetes objects are stored in etcd with a 1.5 MiB limit; anything much
// larger is not a CR, and reading it whole would only waste memory.
constexpr size_t kMaxFileBytes = 2 * 1024 * 1024;

constexpr int32_t kMaxPollIntervalSeconds = 24 * 60 * 60;

// What every step of one parse shares.
struct Context {
  std::string source;
  // Field path in the CR's spelling ("spec.behavior.scaleUp.policies[0].value")
  // -> 1-based line, so that policy::ValidateSpec's messages, which name
  // fields but know no lines, can be reported at the right line.
  std::map<std::string, int> lines;
};

int LineOf(const YAML::Mark& mark) { return mark.is_null() ? 1 : mark.line + 1; }

Status ErrorAtLine(const Context& ctx, int line, std::string_view what) {
  return InvalidArgumentError(ctx.source + ":" + std::to_string(line) + ": " + std::string(what));
}

Status ErrorAt(const Context& ctx, const YAML::Mark& mark, std::string_view what) {
  return ErrorAtLine(ctx, LineOf(mark), what);
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// "a mapping", "a list", ... for messages about a value of the wrong shape.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      // The tag "!" marks a quoted scalar: a string, whatever it looks like.
      return node.Tag() == "!" ? "the string " + Quote(node.Scalar()) : Quote(node.Scalar());
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// Levenshtein distance, for "did you mean" on unknown fields.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// The fields of one mapping, checked against the names the CRD allows there.
class Fields {
 public:
  // `path` is the mapping's own path ("spec.kafka"; "" for the object).
  // With `ignore_unknown`, fields outside `allowed` are skipped, not errors.
  static StatusOr<Fields> Read(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                               std::string path, std::initializer_list<std::string_view> allowed,
                               bool ignore_unknown = false) {
    if (!node.IsMap()) {
      return ErrorAt(ctx, where,
                     (path.empty() ? std::string("the object") : path) +
                         " must be a mapping, got " + Describe(node));
    }
    Fields fields(std::move(path), node.Mark());
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy: `it->first` lives in a proxy that dies with this statement.
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        return ErrorAt(ctx, key.Mark(),
                       fields.Where() + "field names must be strings, got " + Describe(key));
      }
      const std::string& name = key.Scalar();
      bool known = std::find(allowed.begin(), allowed.end(), name) != allowed.end();
      if (!known) {
        if (ignore_unknown) continue;
        std::string what = fields.Where() + "unknown field " + Quote(name);
        std::string_view best;
        size_t best_distance = 3;  // suggest only near misses
        for (std::string_view candidate : allowed) {
          size_t distance = EditDistance(name, candidate);
          if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
          }
        }
        if (!best.empty()) {
          what += " (did you mean " + Quote(best) + "?)";
        } else {
          what += " (allowed: " + Join(allowed) + ")";
        }
        return ErrorAt(ctx, key.Mark(), what);
      }
      // yaml-cpp keeps both of two equal keys; YAML says they are an error,
      // and silently taking one would hide a mistake.
      if (fields.entries_.contains(name)) {
        return ErrorAt(ctx, key.Mark(), fields.Where() + "duplicate field " + Quote(name));
      }
      fields.entries_.emplace(name, Entry{key.Mark(), it->second});
      ctx.lines[fields.Path(name)] = LineOf(key.Mark());
    }
    return fields;
  }

  // The value of `name`; nullopt when absent or null (null means unset).
  std::optional<YAML::Node> Get(std::string_view name) const {
    auto it = entries_.find(std::string(name));
    if (it == entries_.end() || it->second.value.IsNull()) return std::nullopt;
    return it->second.value;
  }

  // Where `name`'s key is, for errors about its value; the mapping's own
  // position when absent.
  YAML::Mark KeyMark(std::string_view name) const {
    auto it = entries_.find(std::string(name));
    return it == entries_.end() ? mark_ : it->second.key_mark;
  }

  std::string Path(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }

  Status Missing(const Context& ctx, std::string_view name) const {
    return ErrorAt(ctx, mark_, Where() + "missing required field " + Quote(name));
  }

 private:
  struct Entry {
    YAML::Mark key_mark;
    YAML::Node value;
  };

  Fields(std::string path, YAML::Mark mark) : path_(std::move(path)), mark_(mark) {}

  // "spec.kafka: " (nothing for the object itself), to start a message.
  std::string Where() const { return path_.empty() ? std::string() : path_ + ": "; }

  std::string path_;
  YAML::Mark mark_;
  std::map<std::string, Entry> entries_;
};

// The mark to report a value's error at: the value's own, unless the value
// has none worth showing.
YAML::Mark MarkOf(const YAML::Node& value, const YAML::Mark& key_mark) {
  return value.Mark().is_null() ? key_mark : value.Mark();
}

Status ParseInt(const Context& ctx, const YAML::Node& node, const YAML::Mark& key_mark,
                const std::string& path, int64_t min, int64_t max, int64_t* out) {
  // Plain scalars only (tag "?"): a quoted "10" is a string in YAML and JSON,
  // and the API server would reject it for an integer field.
  bool plain = node.IsScalar() && node.Tag() == "?";
  const std::string text = node.IsScalar() ? node.Scalar() : std::string();
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (plain && begin != end && *begin == '+') ++begin;  // YAML allows +5
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (!plain || begin == end || ec == std::errc::invalid_argument || ptr != end) {
    return ErrorAt(ctx, MarkOf(node, key_mark),
                   path + ": must be an integer, got " + Describe(node));
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return ErrorAt(ctx, MarkOf(node, key_mark),
                   path + ": " + text + " is out of range [" + std::to_string(min) + ", " +
                       std::to_string(max) + "]");
  }
  *out = value;
  return Status::Ok();
}

// Reads an optional integer field of the type of *out; leaves *out alone when
// the field is absent.
template <typename Int>
Status OptionalInt(const Context& ctx, const Fields& fields, std::string_view name, Int* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return Status::Ok();
  int64_t value = 0;
  GS_RETURN_IF_ERROR(ParseInt(ctx, *node, fields.KeyMark(name), fields.Path(name),
                              std::numeric_limits<Int>::min(), std::numeric_limits<Int>::max(),
                              &value));
  *out = static_cast<Int>(value);
  return Status::Ok();
}

template <typename Int>
Status RequiredInt(const Context& ctx, const Fields& fields, std::string_view name, Int* out) {
  if (!fields.Get(name)) return fields.Missing(ctx, name);
  return OptionalInt(ctx, fields, name, out);
}

// A number field (JSON's number: an integer or a decimal, finite). Range
// rules are policy::ValidateSpec's.
Status OptionalNumber(const Context& ctx, const Fields& fields, std::string_view name,
                      std::optional<double>* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return Status::Ok();
  const bool plain = node->IsScalar() && node->Tag() == "?";
  const std::string text = node->IsScalar() ? node->Scalar() : std::string();
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (plain && begin != end && *begin == '+') ++begin;
  double value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (!plain || begin == end || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return ErrorAt(ctx, MarkOf(*node, fields.KeyMark(name)),
                   fields.Path(name) + ": must be a number, got " + Describe(*node));
  }
  *out = value;
  return Status::Ok();
}

Status OptionalBool(const Context& ctx, const Fields& fields, std::string_view name, bool* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return Status::Ok();
  // YAML 1.2's core schema; not 1.1's yes/no/on/off, which JSON and the API
  // server do not know.
  if (node->IsScalar() && node->Tag() == "?") {
    const std::string& s = node->Scalar();
    if (s == "true" || s == "True" || s == "TRUE") {
      *out = true;
      return Status::Ok();
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      *out = false;
      return Status::Ok();
    }
  }
  return ErrorAt(ctx, MarkOf(*node, fields.KeyMark(name)),
                 fields.Path(name) + ": must be true or false, got " + Describe(*node));
}

// A string field. Any scalar is taken as its text (`groupId: 42` is the group
// "42"); empty strings are rejected: every string in the CRD names something.
Status ParseString(const Context& ctx, const YAML::Node& node, const YAML::Mark& key_mark,
                   const std::string& path, std::string* out) {
  if (!node.IsScalar()) {
    return ErrorAt(ctx, MarkOf(node, key_mark), path + ": must be a string, got " + Describe(node));
  }
  if (node.Scalar().empty()) {
    return ErrorAt(ctx, MarkOf(node, key_mark), path + ": must not be empty");
  }
  *out = node.Scalar();
  return Status::Ok();
}

Status RequiredString(const Context& ctx, const Fields& fields, std::string_view name,
                      std::string* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return fields.Missing(ctx, name);
  return ParseString(ctx, *node, fields.KeyMark(name), fields.Path(name), out);
}

Status OptionalString(const Context& ctx, const Fields& fields, std::string_view name,
                      std::string* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return Status::Ok();
  return ParseString(ctx, *node, fields.KeyMark(name), fields.Path(name), out);
}

// A required, non-empty list of non-empty strings.
Status RequiredStringList(Context& ctx, const Fields& fields, std::string_view name,
                          std::vector<std::string>* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return fields.Missing(ctx, name);
  const std::string path = fields.Path(name);
  const YAML::Mark mark = MarkOf(*node, fields.KeyMark(name));
  if (!node->IsSequence()) {
    return ErrorAt(ctx, mark, path + ": must be a list of strings, got " + Describe(*node));
  }
  if (node->size() == 0) return ErrorAt(ctx, mark, path + ": must not be empty");
  out->clear();
  for (size_t i = 0; i < node->size(); ++i) {
    const YAML::Node item = (*node)[i];
    std::string item_path = path + "[" + std::to_string(i) + "]";
    ctx.lines[item_path] = LineOf(MarkOf(item, mark));
    std::string value;
    GS_RETURN_IF_ERROR(ParseString(ctx, item, mark, item_path, &value));
    out->push_back(std::move(value));
  }
  return Status::Ok();
}

template <typename Enum>
using EnumValues = std::initializer_list<std::pair<std::string_view, Enum>>;

template <typename Enum>
Status ParseEnum(const Context& ctx, const YAML::Node& node, const YAML::Mark& key_mark,
                 const std::string& path, EnumValues<Enum> values, Enum* out) {
  if (node.IsScalar()) {
    for (const auto& [name, value] : values) {
      if (node.Scalar() == name) {
        *out = value;
        return Status::Ok();
      }
    }
  }
  std::string allowed;
  for (const auto& [name, value] : values) {
    if (!allowed.empty()) allowed += ", ";
    allowed += name;
  }
  // Quoted or not, an enum value is a string: name it as written.
  const std::string got = node.IsScalar() ? Quote(node.Scalar()) : Describe(node);
  return ErrorAt(ctx, MarkOf(node, key_mark), path + ": " + got + " is not one of " + allowed);
}

template <typename Enum>
Status OptionalEnum(const Context& ctx, const Fields& fields, std::string_view name,
                    EnumValues<Enum> values, Enum* out) {
  std::optional<YAML::Node> node = fields.Get(name);
  if (!node) return Status::Ok();
  return ParseEnum(ctx, *node, fields.KeyMark(name), fields.Path(name), values, out);
}

Status ParseScalingPolicy(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                          const std::string& path, policy::ScalingPolicy* out) {
  StatusOr<Fields> fields =
      Fields::Read(ctx, node, where, path, {"type", "value", "periodSeconds"});
  if (!fields.ok()) return fields.status();
  std::optional<YAML::Node> type = fields->Get("type");
  if (!type) return fields->Missing(ctx, "type");
  GS_RETURN_IF_ERROR(ParseEnum(
      ctx, *type, fields->KeyMark("type"), fields->Path("type"),
      EnumValues<policy::ScalingPolicyType>{{"Pods", policy::ScalingPolicyType::kPods},
                                            {"Percent", policy::ScalingPolicyType::kPercent}},
      &out->type));
  GS_RETURN_IF_ERROR(RequiredInt(ctx, *fields, "value", &out->value));
  GS_RETURN_IF_ERROR(RequiredInt(ctx, *fields, "periodSeconds", &out->period_seconds));
  return Status::Ok();
}

Status ParseScalingRules(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                         const std::string& path, policy::ScalingRules* out) {
  StatusOr<Fields> fields = Fields::Read(
      ctx, node, where, path, {"stabilizationWindowSeconds", "selectPolicy", "policies"});
  if (!fields.ok()) return fields.status();
  if (fields->Get("stabilizationWindowSeconds")) {
    int32_t window = 0;
    GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "stabilizationWindowSeconds", &window));
    out->stabilization_window_seconds = window;
  }
  if (fields->Get("selectPolicy")) {
    policy::SelectPolicy select = policy::SelectPolicy::kMax;
    GS_RETURN_IF_ERROR(OptionalEnum(
        ctx, *fields, "selectPolicy",
        EnumValues<policy::SelectPolicy>{{"Max", policy::SelectPolicy::kMax},
                                         {"Min", policy::SelectPolicy::kMin},
                                         {"Disabled", policy::SelectPolicy::kDisabled}},
        &select));
    out->select_policy = select;
  }
  if (std::optional<YAML::Node> list = fields->Get("policies")) {
    const std::string list_path = fields->Path("policies");
    const YAML::Mark mark = MarkOf(*list, fields->KeyMark("policies"));
    if (!list->IsSequence()) {
      return ErrorAt(ctx, mark, list_path + ": must be a list, got " + Describe(*list));
    }
    std::vector<policy::ScalingPolicy> policies;
    for (size_t i = 0; i < list->size(); ++i) {
      const YAML::Node item = (*list)[i];
      std::string item_path = list_path + "[" + std::to_string(i) + "]";
      ctx.lines[item_path] = LineOf(MarkOf(item, mark));
      policy::ScalingPolicy scaling_policy;
      GS_RETURN_IF_ERROR(
          ParseScalingPolicy(ctx, item, MarkOf(item, mark), item_path, &scaling_policy));
      policies.push_back(scaling_policy);
    }
    out->policies = std::move(policies);
  }
  return Status::Ok();
}

Status ParseBehavior(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                     const std::string& path, policy::Behavior* out) {
  StatusOr<Fields> fields = Fields::Read(ctx, node, where, path, {"scaleUp", "scaleDown"});
  if (!fields.ok()) return fields.status();
  if (std::optional<YAML::Node> up = fields->Get("scaleUp")) {
    GS_RETURN_IF_ERROR(ParseScalingRules(ctx, *up, fields->KeyMark("scaleUp"),
                                         fields->Path("scaleUp"), &out->scale_up));
  }
  if (std::optional<YAML::Node> down = fields->Get("scaleDown")) {
    GS_RETURN_IF_ERROR(ParseScalingRules(ctx, *down, fields->KeyMark("scaleDown"),
                                         fields->Path("scaleDown"), &out->scale_down));
  }
  return Status::Ok();
}

Status ParseFallback(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                     const std::string& path, policy::Fallback* out) {
  StatusOr<Fields> fields = Fields::Read(ctx, node, where, path, {"failureThreshold", "replicas"});
  if (!fields.ok()) return fields.status();
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "failureThreshold", &out->failure_threshold));
  if (fields->Get("replicas")) {
    int32_t replicas = 0;
    GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "replicas", &replicas));
    out->replicas = replicas;
  }
  return Status::Ok();
}

// spec.policy: what the replica count is computed from, and how the
// decision treats rebalances and stalls.
Status ParsePolicySection(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                          const std::string& path, policy::Spec* out) {
  StatusOr<Fields> fields =
      Fields::Read(ctx, node, where, path,
                   {"type", "targetDrainSeconds", "perReplicaRateHint", "rateWindowSeconds",
                    "rebalanceSettleSeconds", "emergencyLagFactor", "stallSeconds"});
  if (!fields.ok()) return fields.status();
  GS_RETURN_IF_ERROR(
      OptionalEnum(ctx, *fields, "type",
                   EnumValues<policy::PolicyType>{{"lag", policy::PolicyType::kLag},
                                                  {"throughput", policy::PolicyType::kThroughput}},
                   &out->policy_type));
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "targetDrainSeconds", &out->target_drain_seconds));
  GS_RETURN_IF_ERROR(
      OptionalNumber(ctx, *fields, "perReplicaRateHint", &out->per_replica_rate_hint));
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "rateWindowSeconds", &out->rate_window_seconds));
  GS_RETURN_IF_ERROR(
      OptionalInt(ctx, *fields, "rebalanceSettleSeconds", &out->rebalance_settle_seconds));
  std::optional<double> factor;
  GS_RETURN_IF_ERROR(OptionalNumber(ctx, *fields, "emergencyLagFactor", &factor));
  if (factor) out->emergency_lag_factor = *factor;
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "stallSeconds", &out->stall_seconds));
  return Status::Ok();
}

Status ParseTargetRef(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                      const std::string& path, TargetRef* out) {
  StatusOr<Fields> fields = Fields::Read(ctx, node, where, path, {"apiVersion", "kind", "name"});
  if (!fields.ok()) return fields.status();
  GS_RETURN_IF_ERROR(OptionalString(ctx, *fields, "apiVersion", &out->api_version));
  std::optional<YAML::Node> kind = fields->Get("kind");
  if (!kind) return fields->Missing(ctx, "kind");
  // Both have the scale subresource and a stable pod identity per replica;
  // other kinds may be added when someone needs them.
  enum class Kind { kDeployment, kStatefulSet };
  Kind parsed = Kind::kDeployment;
  GS_RETURN_IF_ERROR(ParseEnum(
      ctx, *kind, fields->KeyMark("kind"), fields->Path("kind"),
      EnumValues<Kind>{{"Deployment", Kind::kDeployment}, {"StatefulSet", Kind::kStatefulSet}},
      &parsed));
  out->kind = kind->Scalar();
  GS_RETURN_IF_ERROR(RequiredString(ctx, *fields, "name", &out->name));
  return Status::Ok();
}

Status ParseKafka(Context& ctx, const YAML::Node& node, const YAML::Mark& where,
                  const std::string& path, KafkaSpec* out, policy::Spec* policy_spec) {
  StatusOr<Fields> fields =
      Fields::Read(ctx, node, where, path,
                   {"bootstrapServers", "groupId", "topics", "offsetResetPolicy", "authSecretRef"});
  if (!fields.ok()) return fields.status();
  GS_RETURN_IF_ERROR(RequiredStringList(ctx, *fields, "bootstrapServers", &out->bootstrap_servers));
  GS_RETURN_IF_ERROR(RequiredString(ctx, *fields, "groupId", &out->group_id));
  GS_RETURN_IF_ERROR(RequiredStringList(ctx, *fields, "topics", &out->topics));
  GS_RETURN_IF_ERROR(OptionalEnum(
      ctx, *fields, "offsetResetPolicy",
      EnumValues<policy::OffsetResetPolicy>{{"earliest", policy::OffsetResetPolicy::kEarliest},
                                            {"latest", policy::OffsetResetPolicy::kLatest}},
      &policy_spec->offset_reset_policy));
  if (std::optional<YAML::Node> secret = fields->Get("authSecretRef")) {
    StatusOr<Fields> secret_fields = Fields::Read(ctx, *secret, fields->KeyMark("authSecretRef"),
                                                  fields->Path("authSecretRef"), {"name"});
    if (!secret_fields.ok()) return secret_fields.status();
    GS_RETURN_IF_ERROR(RequiredString(ctx, *secret_fields, "name", &out->auth_secret_ref));
  }
  return Status::Ok();
}

Status ParseSpec(Context& ctx, const YAML::Node& node, const YAML::Mark& where, Use use,
                 AutoscalerSpec* out) {
  StatusOr<Fields> fields =
      Fields::Read(ctx, node, where, "spec",
                   {"scaleTargetRef", "kafka", "minReplicas", "maxReplicas", "consumersPerReplica",
                    "pollIntervalSeconds", "lagThreshold", "activationLagThreshold", "alignment",
                    "allowIdleConsumers", "limitToPartitionsWithLag", "cooldownSeconds", "behavior",
                    "fallback", "paused", "policy", "lagSecondsThreshold"});
  if (!fields.ok()) return fields.status();
  policy::Spec& p = out->policy;

  if (std::optional<YAML::Node> target = fields->Get("scaleTargetRef")) {
    GS_RETURN_IF_ERROR(ParseTargetRef(ctx, *target, fields->KeyMark("scaleTargetRef"),
                                      fields->Path("scaleTargetRef"), &out->scale_target_ref));
    out->has_scale_target_ref = true;
  } else if (use == Use::kController) {
    return fields->Missing(ctx, "scaleTargetRef");
  }
  if (std::optional<YAML::Node> kafka = fields->Get("kafka")) {
    GS_RETURN_IF_ERROR(
        ParseKafka(ctx, *kafka, fields->KeyMark("kafka"), fields->Path("kafka"), &out->kafka, &p));
    out->has_kafka = true;
  } else if (use == Use::kController) {
    return fields->Missing(ctx, "kafka");
  }

  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "minReplicas", &p.min_replicas));
  GS_RETURN_IF_ERROR(RequiredInt(ctx, *fields, "maxReplicas", &p.max_replicas));
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "consumersPerReplica", &p.consumers_per_replica));
  if (std::optional<YAML::Node> poll = fields->Get("pollIntervalSeconds")) {
    // Not part of policy::Spec, so checked here rather than by ValidateSpec.
    int64_t seconds = 0;
    GS_RETURN_IF_ERROR(ParseInt(ctx, *poll, fields->KeyMark("pollIntervalSeconds"),
                                fields->Path("pollIntervalSeconds"), 1, kMaxPollIntervalSeconds,
                                &seconds));
    out->poll_interval_seconds = static_cast<int32_t>(seconds);
  }
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "lagThreshold", &p.lag_threshold));
  GS_RETURN_IF_ERROR(
      OptionalInt(ctx, *fields, "activationLagThreshold", &p.activation_lag_threshold));
  GS_RETURN_IF_ERROR(
      OptionalEnum(ctx, *fields, "alignment",
                   EnumValues<policy::Alignment>{{"none", policy::Alignment::kNone},
                                                 {"balanced", policy::Alignment::kBalanced},
                                                 {"divisor", policy::Alignment::kDivisor}},
                   &p.alignment));
  GS_RETURN_IF_ERROR(OptionalBool(ctx, *fields, "allowIdleConsumers", &p.allow_idle_consumers));
  GS_RETURN_IF_ERROR(
      OptionalBool(ctx, *fields, "limitToPartitionsWithLag", &p.limit_to_partitions_with_lag));
  GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "cooldownSeconds", &p.cooldown_seconds));
  if (std::optional<YAML::Node> behavior = fields->Get("behavior")) {
    GS_RETURN_IF_ERROR(ParseBehavior(ctx, *behavior, fields->KeyMark("behavior"),
                                     fields->Path("behavior"), &p.behavior));
  }
  if (std::optional<YAML::Node> fallback = fields->Get("fallback")) {
    GS_RETURN_IF_ERROR(ParseFallback(ctx, *fallback, fields->KeyMark("fallback"),
                                     fields->Path("fallback"), &p.fallback));
  }
  GS_RETURN_IF_ERROR(OptionalBool(ctx, *fields, "paused", &p.paused));
  if (fields->Get("lagSecondsThreshold")) {
    int64_t seconds = 0;
    GS_RETURN_IF_ERROR(OptionalInt(ctx, *fields, "lagSecondsThreshold", &seconds));
    p.lag_seconds_threshold = seconds;
  }
  if (std::optional<YAML::Node> section = fields->Get("policy")) {
    GS_RETURN_IF_ERROR(
        ParsePolicySection(ctx, *section, fields->KeyMark("policy"), fields->Path("policy"), &p));
  }
  return Status::Ok();
}

// The line of the first field that `message` names ("spec.minReplicas (5)
// must be <= spec.maxReplicas (3)" -> minReplicas's line); `fallback` when
// it names none that was parsed.
int LineOfNamedField(const Context& ctx, std::string_view message, int fallback) {
  auto is_path_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '[' || c == ']';
  };
  for (size_t at = message.find("spec"); at != std::string_view::npos;
       at = message.find("spec", at + 1)) {
    if (at > 0 && is_path_char(message[at - 1])) continue;
    size_t end = at;
    while (end < message.size() && is_path_char(message[end])) ++end;
    std::string path(message.substr(at, end - at));
    while (!path.empty() && path.back() == '.') path.pop_back();
    // spec.behavior.scaleUp.policies[0].value may have been reported as a
    // whole (spec.behavior.scaleUp.policies); walk up to what was parsed.
    while (!path.empty()) {
      if (auto it = ctx.lines.find(path); it != ctx.lines.end()) return it->second;
      size_t cut = path.find_last_of(".[");
      if (cut == std::string::npos) break;
      path.resize(cut);
    }
  }
  return fallback;
}

StatusOr<AutoscalerSpec> ParseDocument(Context& ctx, const YAML::Node& root, Use use) {
  if (root.IsNull()) {
    return ErrorAt(ctx, root.Mark(), "empty document: expected a ConsumerGroupAutoscaler");
  }
  StatusOr<Fields> fields = Fields::Read(ctx, root, root.Mark(), "",
                                         {"apiVersion", "kind", "metadata", "spec", "status"});
  if (!fields.ok()) return fields.status();

  std::string api_version;
  GS_RETURN_IF_ERROR(RequiredString(ctx, *fields, "apiVersion", &api_version));
  if (api_version != kApiVersion) {
    return ErrorAt(ctx, fields->KeyMark("apiVersion"),
                   "apiVersion: " + Quote(api_version) + " is not " + std::string(kApiVersion));
  }
  std::string kind;
  GS_RETURN_IF_ERROR(RequiredString(ctx, *fields, "kind", &kind));
  if (kind != kKind) {
    return ErrorAt(ctx, fields->KeyMark("kind"),
                   "kind: " + Quote(kind) + " is not " + std::string(kKind));
  }

  AutoscalerSpec out;
  if (std::optional<YAML::Node> metadata = fields->Get("metadata")) {
    StatusOr<Fields> meta = Fields::Read(ctx, *metadata, fields->KeyMark("metadata"), "metadata",
                                         {"name", "namespace"}, /*ignore_unknown=*/true);
    if (!meta.ok()) return meta.status();
    GS_RETURN_IF_ERROR(OptionalString(ctx, *meta, "name", &out.name));
    GS_RETURN_IF_ERROR(OptionalString(ctx, *meta, "namespace", &out.namespace_name));
  }

  std::optional<YAML::Node> spec = fields->Get("spec");
  if (!spec) return fields->Missing(ctx, "spec");
  GS_RETURN_IF_ERROR(ParseSpec(ctx, *spec, fields->KeyMark("spec"), use, &out));

  if (Status valid = policy::ValidateSpec(out.policy); !valid.ok()) {
    int line = LineOfNamedField(ctx, valid.message(), LineOf(fields->KeyMark("spec")));
    return ErrorAtLine(ctx, line, valid.message());
  }
  return out;
}

// Where each document of a YAML stream starts (its root node's mark), from
// yaml-cpp's event parser. Not YAML::LoadAll: yaml-cpp 0.7's loops forever,
// allocating a document per turn, when its parser stops making progress (a
// stray ',' or ']' at the top, jbeder/yaml-cpp#1040, fixed upstream after
// 0.8 by #1319). Here a document that starts where the one before it did is
// that case, and an error at that place. Throws YAML::Exception as LoadAll.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    starts.push_back(mark);
    roots.push_back(mark);
    root_seen = false;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

  std::vector<YAML::Mark> starts;  // of each document
  std::vector<YAML::Mark> roots;   // of each document's root node

 private:
  void Node(const YAML::Mark& mark) {
    if (!root_seen && !roots.empty()) roots.back() = mark;
    root_seen = true;
  }
  bool root_seen = false;
};

StatusOr<std::vector<YAML::Mark>> DocumentMarks(const Context& ctx, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts documents;
  while (parser.HandleNextDocument(documents)) {
    const size_t n = documents.starts.size();
    if (n >= 2 && documents.starts[n - 1].pos == documents.starts[n - 2].pos) {
      const YAML::Mark& at = documents.starts[n - 1];
      const std::string what =
          at.pos >= 0 && static_cast<size_t>(at.pos) < text.size()
              ? "unexpected " + Quote(text.substr(static_cast<size_t>(at.pos), 1))
              : std::string("the parser stopped making progress");
      return ErrorAt(ctx, at, "invalid YAML: " + what);
    }
  }
  return documents.roots;
}

}  // namespace

StatusOr<AutoscalerSpec> ParseAutoscaler(std::string_view text, std::string_view source_name,
                                         Use use) {
  Context ctx{.source = std::string(source_name), .lines = {}};
  // yaml-cpp reports every problem by exception; none may leave this library.
  try {
    const std::string owned(text);
    StatusOr<std::vector<YAML::Mark>> documents = DocumentMarks(ctx, owned);
    if (!documents.ok()) return documents.status();
    if (documents->empty()) {
      return ErrorAtLine(ctx, 1, "empty document: expected a ConsumerGroupAutoscaler");
    }
    if (documents->size() > 1) {
      return ErrorAt(ctx, (*documents)[1],
                     "expected one document, found " + std::to_string(documents->size()));
    }
    return ParseDocument(ctx, YAML::Load(owned), use);
  } catch (const YAML::Exception& e) {
    return ErrorAt(ctx, e.mark, "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return ErrorAtLine(ctx, 1, std::string("cannot parse: ") + e.what());
  }
}

StatusOr<AutoscalerSpec> LoadAutoscalerFile(const std::string& path, Use use) {
  StatusOr<std::string> text = ReadFileBounded(path, kMaxFileBytes);
  if (!text.ok()) return text.status();
  return ParseAutoscaler(*text, path, use);
}

#undef GS_RETURN_IF_ERROR

}  // namespace groupscaler::spec
