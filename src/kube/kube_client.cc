// Typed Kubernetes calls: builds paths and JSON bodies, reads answers with
// cpprestsdk's web::json. Every JSON access is checked or inside a
// try/catch, so a surprising answer becomes a Status, never an exception.

#include "kube/kube_client.h"

#include "common/base64.h"
#include "common/time_format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cpprest/base_uri.h>
#include <cpprest/json.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <limits>
#include <optional>
#include <set>
#include <thread>

namespace groupscaler::kube {
namespace {

using web::json::value;

constexpr char kMergePatch[] = "application/merge-patch+json";
constexpr char kJson[] = "application/json";
constexpr char kCgaPath[] = "/apis/groupscaler.io/v1alpha1";
constexpr char kCgaResource[] = "consumergroupautoscalers";

// Kubernetes names are DNS labels/subdomains; escape anyway so that a bad
// name can only produce a 404, never a different path.
std::string Escape(std::string_view s) { return web::uri::encode_data_string(std::string(s)); }

// "/api/v1" or "/apis/G/V", then namespaces/NS/RESOURCE (or RESOURCE alone
// for every namespace), then /NAME and /SUBRESOURCE when given.
std::string Path(std::string_view prefix, const std::string& ns, std::string_view resource,
                 const std::string& name = "", std::string_view subresource = "") {
  std::string p(prefix);
  if (!ns.empty()) p += "/namespaces/" + Escape(ns);
  p += "/";
  p += resource;
  if (!name.empty()) p += "/" + Escape(name);
  if (!subresource.empty()) {
    p += "/";
    p += subresource;
  }
  return p;
}

std::string Str(const value& v, const char* key) {
  if (!v.is_object() || !v.has_field(key) || !v.at(key).is_string()) return "";
  return v.at(key).as_string();
}

// An integer field; `fallback` when absent or not a whole number within
// [min, max]. Not number::to_int64 alone: on a double out of range (1e300)
// it is undefined behaviour, and on a large unsigned it wraps.
int64_t Int(const value& v, const char* key, int64_t fallback = 0,
            int64_t min = std::numeric_limits<int64_t>::min(),
            int64_t max = std::numeric_limits<int64_t>::max()) {
  if (!v.is_object() || !v.has_field(key) || !v.at(key).is_number()) return fallback;
  const web::json::number& n = v.at(key).as_number();
  int64_t out = 0;
  if (n.is_integral()) {
    if (!n.is_int64()) return fallback;
    out = n.to_int64();
  } else {
    // 2^63 is exact as a double; every double below it converts.
    const double d = n.to_double();
    if (!(d >= -0x1p63 && d < 0x1p63) || d != std::trunc(d)) return fallback;
    out = static_cast<int64_t>(d);
  }
  return out < min || out > max ? fallback : out;
}

// The same for an int32 field (replicas, seconds, counts).
int32_t Int32(const value& v, const char* key) {
  return static_cast<int32_t>(
      Int(v, key, 0, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
}

const value& Obj(const value& v, const char* key) {
  static const value kNull = value::null();
  if (!v.is_object() || !v.has_field(key)) return kNull;
  return v.at(key);
}

ObjectMeta MetaOf(const value& obj) {
  const value& m = Obj(obj, "metadata");
  return {Str(m, "namespace"), Str(m, "name"), Str(m, "uid"), Str(m, "resourceVersion"),
          Int(m, "generation")};
}

StatusOr<value> Parse(const std::string& text, std::string_view what) {
  try {
    value v = value::parse(text);
    if (!v.is_object()) return InternalError(std::string(what) + ": answer is not a JSON object");
    return v;
  } catch (const std::exception& e) {
    return InternalError(std::string(what) + ": answer is not JSON: " + e.what());
  }
}

Autoscaler AutoscalerOf(const value& obj) { return {MetaOf(obj), obj.serialize()}; }

std::string WithFieldManager(const std::string& path, const ClientOptions& options) {
  return path + "?fieldManager=" + Escape(options.field_manager);
}

value LeaseToJson(const Lease& lease) {
  value v = value::object();
  v["apiVersion"] = value::string("coordination.k8s.io/v1");
  v["kind"] = value::string("Lease");
  v["metadata"] = value::object();
  v["metadata"]["name"] = value::string(lease.metadata.name);
  v["metadata"]["namespace"] = value::string(lease.metadata.namespace_name);
  if (!lease.metadata.resource_version.empty()) {
    v["metadata"]["resourceVersion"] = value::string(lease.metadata.resource_version);
  }
  value spec = value::object();
  spec["holderIdentity"] = value::string(lease.holder_identity);
  spec["leaseDurationSeconds"] = value::number(lease.lease_duration_seconds);
  if (lease.acquire_time) spec["acquireTime"] = value::string(FormatMicroTime(*lease.acquire_time));
  if (lease.renew_time) spec["renewTime"] = value::string(FormatMicroTime(*lease.renew_time));
  spec["leaseTransitions"] = value::number(lease.lease_transitions);
  v["spec"] = spec;
  return v;
}

StatusOr<Lease> LeaseFromJson(const value& v) {
  Lease lease;
  lease.metadata = MetaOf(v);
  const value& spec = Obj(v, "spec");
  lease.holder_identity = Str(spec, "holderIdentity");
  lease.lease_duration_seconds = Int32(spec, "leaseDurationSeconds");
  lease.lease_transitions = Int32(spec, "leaseTransitions");
  for (auto [key, field] :
       {std::pair{"acquireTime", &lease.acquire_time}, std::pair{"renewTime", &lease.renew_time}}) {
    std::string text = Str(spec, key);
    if (text.empty()) continue;
    auto t = ParseTime(text);
    if (!t.ok()) return InternalError("lease " + lease.metadata.name + ": " + t.status().message());
    *field = *t;
  }
  return lease;
}

StatusOr<Scale> ScaleFromJson(const std::string& body) {
  auto v = Parse(body, "scale");
  if (!v.ok()) return v.status();
  Scale s;
  s.spec_replicas = Int32(Obj(*v, "spec"), "replicas");
  s.status_replicas = Int32(Obj(*v, "status"), "replicas");
  s.selector = Str(Obj(*v, "status"), "selector");
  s.resource_version = MetaOf(*v).resource_version;
  return s;
}

// The strings of the array `v[key]`, appended to `out`; non-strings skipped.
void AppendStrings(const value& v, const char* key, std::vector<std::string>* out) {
  const value& list = Obj(v, key);
  if (!list.is_array()) return;
  for (const auto& item : list.as_array()) {
    if (item.is_string()) out->push_back(item.as_string());
  }
}

// spec.template.spec.containers of a Deployment or StatefulSet.
PodTemplate PodTemplateOf(const value& workload) {
  PodTemplate out;
  const value& containers = Obj(Obj(Obj(Obj(workload, "spec"), "template"), "spec"), "containers");
  if (!containers.is_array()) return out;
  for (const auto& c : containers.as_array()) {
    ContainerSpec& container = out.containers.emplace_back();
    container.name = Str(c, "name");
    AppendStrings(c, "command", &container.command_and_args);
    AppendStrings(c, "args", &container.command_and_args);
    const value& env = Obj(c, "env");
    if (!env.is_array()) continue;
    for (const auto& e : env.as_array()) {
      container.env.push_back(
          {.name = Str(e, "name"),
           .value = Str(e, "value"),
           .field_path = Str(Obj(Obj(e, "valueFrom"), "fieldRef"), "fieldPath")});
    }
  }
  return out;
}

// One requirement of a label selector as labels.Selector.String() writes
// it: "k=v", "k in (a,b)", "k notin (a,b)", "k", "!k"; values sorted.
std::string RequirementOf(const value& expression) {
  const std::string key = Str(expression, "key");
  const std::string op = Str(expression, "operator");
  if (op == "Exists") return key;
  if (op == "DoesNotExist") return "!" + key;
  std::vector<std::string> values;
  AppendStrings(expression, "values", &values);
  std::sort(values.begin(), values.end());
  return fmt::format("{} {} ({})", key, op == "NotIn" ? "notin" : "in", fmt::join(values, ","));
}

// spec.selector as the /scale subresource's status.selector: matchLabels
// and matchExpressions as requirements, sorted by key.
std::string SelectorOf(const value& workload) {
  const value& selector = Obj(Obj(workload, "spec"), "selector");
  std::vector<std::pair<std::string, std::string>> requirements;  // key, text
  const value& labels = Obj(selector, "matchLabels");
  if (labels.is_object()) {
    for (const auto& [key, label] : labels.as_object()) {
      if (label.is_string()) requirements.emplace_back(key, key + "=" + label.as_string());
    }
  }
  const value& expressions = Obj(selector, "matchExpressions");
  if (expressions.is_array()) {
    for (const auto& e : expressions.as_array()) {
      requirements.emplace_back(Str(e, "key"), RequirementOf(e));
    }
  }
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> texts;
  for (auto& requirement : requirements) texts.push_back(std::move(requirement.second));
  return fmt::format("{}", fmt::join(texts, ","));
}

Workload WorkloadOf(const value& obj) {
  Workload w{.metadata = MetaOf(obj), .pod_template = PodTemplateOf(obj)};
  w.scale = {.spec_replicas = Int32(Obj(obj, "spec"), "replicas"),
             .status_replicas = Int32(Obj(obj, "status"), "replicas"),
             .selector = SelectorOf(obj),
             .resource_version = w.metadata.resource_version};
  return w;
}

constexpr char kAppsPath[] = "/apis/apps/v1";

std::string_view WorkloadResource(WorkloadKind kind) {
  return kind == WorkloadKind::kDeployment ? "deployments" : "statefulsets";
}

std::string WorkloadPath(const WorkloadRef& ref, std::string_view subresource = "") {
  return Path(kAppsPath, ref.namespace_name, WorkloadResource(ref.kind), ref.name, subresource);
}

std::string ScalePath(const WorkloadRef& ref) { return WorkloadPath(ref, "scale"); }

// The core/v1 Event `name` for `event`, first and last seen `now`.
value EventToJson(const Event& event, const std::string& name, Timestamp now) {
  const auto& ref = event.involved;
  value v = value::object();
  v["apiVersion"] = value::string("v1");
  v["kind"] = value::string("Event");
  v["metadata"] = value::object();
  v["metadata"]["name"] = value::string(name);
  v["metadata"]["namespace"] = value::string(ref.namespace_name);
  value involved = value::object();
  involved["apiVersion"] = value::string(ref.api_version);
  involved["kind"] = value::string(ref.kind);
  involved["namespace"] = value::string(ref.namespace_name);
  involved["name"] = value::string(ref.name);
  if (!ref.uid.empty()) involved["uid"] = value::string(ref.uid);
  v["involvedObject"] = involved;
  v["reason"] = value::string(event.reason);
  v["message"] = value::string(event.message);
  v["type"] = value::string(event.type == EventType::kWarning ? "Warning" : "Normal");
  v["source"] = value::object();
  v["source"]["component"] = value::string("groupscaler");
  v["firstTimestamp"] = value::string(FormatRfc3339(now));
  v["lastTimestamp"] = value::string(FormatRfc3339(now));
  v["count"] = value::number(1);
  v["reportingComponent"] = value::string("groupscaler");
  return v;
}

// What makes two Events the same occurrence, repeated.
std::string EventKey(const Event& event) {
  const auto& ref = event.involved;
  const char* type = event.type == EventType::kWarning ? "Warning" : "Normal";
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", ref.namespace_name, ref.kind,
                     ref.name, ref.uid, type, event.reason, event.message);
}

// The HPA versions that carry spec.scaleTargetRef, newest first.
constexpr std::array<std::string_view, 4> kHpaVersions = {"v2", "v2beta2", "v2beta1", "v1"};

// The WatchEventType named `name` (ADDED, MODIFIED, DELETED, BOOKMARK); nullopt for any other.
std::optional<WatchEventType> ParseWatchEventType(std::string_view name) {
  for (WatchEventType type : {WatchEventType::kAdded, WatchEventType::kModified,
                              WatchEventType::kDeleted, WatchEventType::kBookmark}) {
    if (WatchEventTypeName(type) == name) return type;
  }
  return std::nullopt;
}

// How one watch stream ended.
struct WatchEnd {
  Status stream;         // what the stream itself returned
  Status event_error;    // an unreadable event, or an ERROR event other than 410
  bool expired = false;  // an ERROR event with code 410
  int events = 0;        // events handed to on_event
};

// What the watch loop does after a stream ended.
enum class AfterWatch { kRelist, kBackOff, kResume };

// Logs how a stream that was not stopped ended, and says what the loop does next.
AfterWatch WhatNext(const WatchEnd& end, std::string_view resource, const std::string& rv) {
  if (end.expired || IsExpired(end.stream)) {
    // Events were lost: only a fresh list tells what exists now.
    spdlog::info("kube: watch of {} expired at resourceVersion {}; relisting", resource, rv);
    return AfterWatch::kRelist;
  }
  if (!end.stream.ok() || !end.event_error.ok()) {
    spdlog::warn("kube: watch of {} failed: {}; resuming from resourceVersion {}", resource,
                 (!end.stream.ok() ? end.stream : end.event_error).message(), rv);
    return AfterWatch::kBackOff;
  }
  // A stream that ends at once, again and again, must not spin.
  return end.events == 0 ? AfterWatch::kBackOff : AfterWatch::kResume;
}

// What a ListWatch lists and watches: a collection and how to read its items.
template <typename T>
struct WatchSource {
  std::string resource;  // "deployments", for logs
  std::string path;      // the collection, without a query
  std::function<StatusOr<ObjectList<T>>()> list;
  std::function<T(const value&)> decode;
};

// The list-then-watch loop of WatchAutoscalers and WatchWorkloads, on its
// own thread.
template <typename T>
class ListWatch final : public WatchHandle {
 public:
  ListWatch(RestClient* rest, WatchSource<T> source, ListWatchHandlers<T> handlers)
      : rest_(rest),
        source_(std::move(source)),
        handlers_(std::move(handlers)),
        thread_([this](std::stop_token stop) { Run(stop); }) {}

  ~ListWatch() override {
    thread_.request_stop();
    thread_.join();
  }

 private:
  // Lists, then watches from where the last stream ended, until `stop`.
  void Run(std::stop_token stop) {
    std::string rv;    // where the next watch starts; empty: list first
    int failures = 0;  // in a row, for the backoff
    while (!stop.stop_requested()) {
      if (rv.empty() && !List(&rv)) {
        Backoff(++failures, stop);
        continue;
      }
      WatchEnd end = Watch(&rv, stop);
      if (stop.stop_requested()) break;
      if (end.events > 0) failures = 0;
      switch (WhatNext(end, source_.resource, rv)) {
        case AfterWatch::kRelist:
          rv.clear();
          failures = 0;
          break;
        case AfterWatch::kBackOff:
          Backoff(++failures, stop);
          break;
        case AfterWatch::kResume:
          break;
      }
    }
  }

  // Hands the list to on_list and sets `*rv` to its resourceVersion; false (logged) if it failed.
  bool List(std::string* rv) {
    auto list = source_.list();
    if (!list.ok()) {
      spdlog::warn("kube: listing {} failed: {}", source_.resource, list.status().message());
      if (handlers_.on_list_error) handlers_.on_list_error(list.status());
      return false;
    }
    *rv = list->resource_version;
    if (handlers_.on_list) handlers_.on_list(*list);
    return true;
  }

  // Sleeps (until `stop` at most) before the next try after `failures` failures in a row.
  void Backoff(int failures, std::stop_token stop) {
    const ClientOptions& options = rest_->options();
    auto wait =
        std::min(options.backoff_max, options.backoff_base * (1 << std::min(failures - 1, 20)));
    rest_->clock().SleepFor(wait, stop);
  }

  // One watch stream from `*rv`, each line to OnLine, until it ends or `stop`.
  WatchEnd Watch(std::string* rv, std::stop_token stop) {
    std::string path = source_.path +
                       "?watch=1&allowWatchBookmarks=true&resourceVersion=" + Escape(*rv) +
                       "&timeoutSeconds=" + std::to_string(rest_->options().watch_timeout.count());
    WatchEnd end;
    end.stream = rest_->Stream(
        path,
        [&](std::string_view line) { return OnLine(line, rv, &end) && !stop.stop_requested(); },
        stop);
    return end;
  }

  // Hands one event to on_event and moves `*rv` past it; false (why in `end`) ends the stream.
  bool OnLine(std::string_view line, std::string* rv, WatchEnd* end) {
    value ev;
    try {
      ev = value::parse(std::string(line));
    } catch (const std::exception& e) {
      end->event_error = InternalError(std::string("watch event is not JSON: ") + e.what());
      return false;
    }
    std::string type = Str(ev, "type");
    const value& obj = Obj(ev, "object");
    if (type == "ERROR") {
      if (Int(obj, "code") == 410) {
        end->expired = true;
      } else {
        end->event_error = UnavailableError("watch ERROR event: " + Str(obj, "reason") + ": " +
                                            Str(obj, "message"));
      }
      return false;
    }
    std::optional<WatchEventType> event_type = ParseWatchEventType(type);
    if (!event_type) {
      end->event_error = InternalError("watch event of unknown type \"" + type + "\"");
      return false;
    }
    WatchEvent<T> event{*event_type, source_.decode(obj)};
    if (!event.object.metadata.resource_version.empty()) {
      *rv = event.object.metadata.resource_version;
    }
    ++end->events;
    if (handlers_.on_event) handlers_.on_event(event);
    return true;
  }

  RestClient* rest_;
  const WatchSource<T> source_;
  const ListWatchHandlers<T> handlers_;
  std::jthread thread_;  // last: starts after the members it reads
};

// Lists `path` in pages of ClientOptions::list_page items (limit and
// continue), as client-go's pager does; the list's resourceVersion is the
// first page's (every page is of that snapshot). A continue token that
// expired between pages fails the list.

template <typename T>
StatusOr<ObjectList<T>> ListPages(RestClient& rest, const std::string& path, std::string_view what,
                                  T (*decode)(const value&)) {
  ObjectList<T> list;
  std::string token;
  do {
    std::string query = path + "?limit=" + std::to_string(rest.options().list_page);
    if (!token.empty()) query += "&continue=" + Escape(token);
    auto body = rest.Call("GET", query);
    if (!body.ok()) return body.status();
    auto v = Parse(*body, what);
    if (!v.ok()) return v.status();
    const value& meta = Obj(*v, "metadata");
    if (list.resource_version.empty()) list.resource_version = Str(meta, "resourceVersion");
    token = Str(meta, "continue");
    const value& items = Obj(*v, "items");
    if (!items.is_array()) continue;
    for (const auto& item : items.as_array()) list.items.push_back(decode(item));
  } while (!token.empty());
  return list;
}

}  // namespace

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

std::string_view WorkloadKindName(WorkloadKind kind) {
  return kind == WorkloadKind::kDeployment ? "Deployment" : "StatefulSet";
}

StatusOr<WorkloadKind> ParseWorkloadKind(std::string_view kind) {
  for (WorkloadKind k : {WorkloadKind::kDeployment, WorkloadKind::kStatefulSet}) {
    if (WorkloadKindName(k) == kind) return k;
  }
  return InvalidArgumentError("scaleTargetRef.kind \"" + std::string(kind) +
                              "\" is not supported (Deployment or StatefulSet)");
}

std::vector<HpaInfo> HpasTargeting(const std::vector<HpaInfo>& hpas, const WorkloadRef& ref) {
  const std::string_view kind = WorkloadKindName(ref.kind);
  std::vector<HpaInfo> out;
  for (const auto& h : hpas) {
    bool apps = h.target_api_version.empty() || h.target_api_version.rfind("apps/", 0) == 0;
    if (apps && h.namespace_name == ref.namespace_name && h.target_kind == kind &&
        h.target_name == ref.name) {
      out.push_back(h);
    }
  }
  return out;
}

StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(const RestConfig& config,
                                                         ClientOptions options,
                                                         const Clock* clock) {
  auto transport = NewHttpTransport(config);
  if (!transport.ok()) return transport.status();
  return std::make_unique<KubeClient>(std::move(*transport), config.token, std::move(options),
                                      clock);
}

KubeClient::KubeClient(std::unique_ptr<Transport> transport, std::shared_ptr<TokenSource> token,
                       ClientOptions options, const Clock* clock)
    : owned_clock_(clock == nullptr ? std::make_unique<RealClock>() : nullptr),
      rest_(std::move(transport), std::move(token), std::move(options),
            clock == nullptr ? owned_clock_.get() : clock) {}

StatusOr<AutoscalerList> KubeClient::ListAutoscalers(const std::string& namespace_name) {
  return ListPages(rest_, Path(kCgaPath, namespace_name, kCgaResource),
                   "list consumergroupautoscalers", &AutoscalerOf);
}

StatusOr<Autoscaler> KubeClient::GetAutoscaler(const std::string& namespace_name,
                                               const std::string& name) {
  auto body = rest_.Call("GET", Path(kCgaPath, namespace_name, kCgaResource, name));
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "get consumergroupautoscaler");
  if (!v.ok()) return v.status();
  return AutoscalerOf(*v);
}

StatusOr<Autoscaler> KubeClient::PatchAutoscalerStatus(const std::string& namespace_name,
                                                       const std::string& name,
                                                       const std::string& status_json,
                                                       const std::string& resource_version) {
  value patch = value::object();
  try {
    patch["status"] = value::parse(status_json);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("status patch is not JSON: ") + e.what());
  }
  if (!patch["status"].is_object()) {
    return InvalidArgumentError("status patch must be a JSON object");
  }
  if (!resource_version.empty()) {
    patch["metadata"] = value::object();
    patch["metadata"]["resourceVersion"] = value::string(resource_version);
  }
  auto body =
      rest_.Call("PATCH",
                 WithFieldManager(Path(kCgaPath, namespace_name, kCgaResource, name, "status"),
                                  rest_.options()),
                 kMergePatch, patch.serialize());
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "patch consumergroupautoscaler status");
  if (!v.ok()) return v.status();
  return AutoscalerOf(*v);
}

std::unique_ptr<WatchHandle> KubeClient::WatchAutoscalers(const std::string& namespace_name,
                                                          WatchHandlers handlers) {
  WatchSource<Autoscaler> source{
      .resource = kCgaResource,
      .path = Path(kCgaPath, namespace_name, kCgaResource),
      .list = [this, namespace_name] { return ListAutoscalers(namespace_name); },
      .decode = &AutoscalerOf};
  return std::make_unique<ListWatch<Autoscaler>>(&rest_, std::move(source), std::move(handlers));
}

std::unique_ptr<WatchHandle> KubeClient::WatchWorkloads(WorkloadKind kind,
                                                        const std::string& namespace_name,
                                                        ListWatchHandlers<Workload> handlers) {
  const std::string resource(WorkloadResource(kind));
  const std::string path = Path(kAppsPath, namespace_name, resource);
  WatchSource<Workload> source{
      .resource = resource,
      .path = path,
      .list = [this, path,
               resource] { return ListPages(rest_, path, "list " + resource, &WorkloadOf); },
      .decode = &WorkloadOf};
  return std::make_unique<ListWatch<Workload>>(&rest_, std::move(source), std::move(handlers));
}

StatusOr<Scale> KubeClient::GetScale(const WorkloadRef& ref) {
  auto body = rest_.Call("GET", ScalePath(ref));
  if (!body.ok()) return body.status();
  return ScaleFromJson(*body);
}

StatusOr<Scale> KubeClient::PatchScale(const WorkloadRef& ref, int32_t replicas) {
  if (replicas < 0) return InvalidArgumentError("replicas must be >= 0");
  value patch = value::object();
  patch["spec"] = value::object();
  patch["spec"]["replicas"] = value::number(replicas);
  auto body = rest_.Call("PATCH", WithFieldManager(ScalePath(ref), rest_.options()), kMergePatch,
                         patch.serialize());
  if (!body.ok()) return body.status();
  return ScaleFromJson(*body);
}

Status KubeClient::RecordEvent(const Event& event) {
  const Timestamp now = rest_.clock().Now();
  const std::string key = EventKey(event);
  std::optional<EventSeries> series;
  {
    std::lock_guard lock(mu_);
    auto it = events_.find(key);
    if (it != events_.end() && now - it->second.last < kEventSeriesTtl) series = it->second;
  }
  if (series) return RaiseEventCount(event, now, *series, key);
  return CreateEvent(event, now, key);
}

Status KubeClient::CreateEvent(const Event& event, Timestamp now, const std::string& key) {
  const auto& ref = event.involved;
  // Unique per client and moment, as client-go's "<name>.<unix nanos hex>".
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%llx",
                static_cast<unsigned long long>(now.time_since_epoch().count()) * 1000000ULL +
                    (event_sequence_.fetch_add(1) % 1000000ULL));
  const std::string name = ref.name + suffix;
  auto body = rest_.Call(
      "POST", WithFieldManager(Path("/api/v1", ref.namespace_name, "events"), rest_.options()),
      kJson, EventToJson(event, name, now).serialize());
  if (!body.ok()) return body.status();
  std::lock_guard lock(mu_);
  if (events_.size() >= kMaxEventSeries) {
    auto oldest = std::min_element(
        events_.begin(), events_.end(),
        [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    events_.erase(oldest);
  }
  events_[key] = {.name = name, .count = 1, .last = now};
  return Status::Ok();
}

Status KubeClient::RaiseEventCount(const Event& event, Timestamp now, EventSeries series,
                                   const std::string& key) {
  value patch = value::object();
  patch["count"] = value::number(series.count + 1);
  patch["lastTimestamp"] = value::string(FormatRfc3339(now));
  auto body = rest_.Call(
      "PATCH",
      WithFieldManager(Path("/api/v1", event.involved.namespace_name, "events", series.name),
                       rest_.options()),
      kMergePatch, patch.serialize());
  if (!body.ok() && IsNotFound(body.status())) {
    // Expired (or deleted) on the server: start a new one.
    return CreateEvent(event, now, key);
  }
  if (!body.ok()) return body.status();
  std::lock_guard lock(mu_);
  events_[key] = {.name = series.name, .count = series.count + 1, .last = now};
  return Status::Ok();
}

StatusOr<std::map<std::string, std::string>> KubeClient::GetSecretData(
    const std::string& namespace_name, const std::string& name) {
  auto body = rest_.Call("GET", Path("/api/v1", namespace_name, "secrets", name));
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "get secret");
  if (!v.ok()) return v.status();
  std::map<std::string, std::string> out;
  const value& data = Obj(*v, "data");
  if (data.is_object()) {
    for (const auto& [key, encoded] : data.as_object()) {
      if (!encoded.is_string()) continue;
      auto decoded = Base64Decode(encoded.as_string());
      // The value itself must not reach a log line: name the key only.
      if (!decoded.ok()) {
        return InternalError("secret " + namespace_name + "/" + name + ": key \"" + key +
                             "\" is not valid base64");
      }
      out[key] = std::move(*decoded);
    }
  }
  return out;
}

StatusOr<Lease> KubeClient::GetLease(const std::string& namespace_name, const std::string& name) {
  auto body =
      rest_.Call("GET", Path("/apis/coordination.k8s.io/v1", namespace_name, "leases", name));
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "get lease");
  if (!v.ok()) return v.status();
  return LeaseFromJson(*v);
}

StatusOr<Lease> KubeClient::CreateLease(const Lease& lease) {
  Lease fresh = lease;
  fresh.metadata.resource_version.clear();
  auto body = rest_.Call("POST",
                         WithFieldManager(Path("/apis/coordination.k8s.io/v1",
                                               lease.metadata.namespace_name, "leases"),
                                          rest_.options()),
                         kJson, LeaseToJson(fresh).serialize());
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "create lease");
  if (!v.ok()) return v.status();
  return LeaseFromJson(*v);
}

StatusOr<Lease> KubeClient::UpdateLease(const Lease& lease) {
  if (lease.metadata.resource_version.empty()) {
    // Without it the update would be unconditional, and two candidates could
    // both believe they hold the lease.
    return InvalidArgumentError("UpdateLease needs the resourceVersion it read");
  }
  auto body = rest_.Call(
      "PUT",
      WithFieldManager(Path("/apis/coordination.k8s.io/v1", lease.metadata.namespace_name, "leases",
                            lease.metadata.name),
                       rest_.options()),
      kJson, LeaseToJson(lease).serialize());
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "update lease");
  if (!v.ok()) return v.status();
  return LeaseFromJson(*v);
}

StatusOr<std::string> KubeClient::HpaApiPath() {
  {
    std::lock_guard lock(mu_);
    if (!hpa_api_path_.empty()) return hpa_api_path_;
  }
  auto body = rest_.Call("GET", "/apis/autoscaling");
  if (!body.ok()) {
    if (IsNotFound(body.status())) {
      return NotFoundError("the API server serves no autoscaling API group");
    }
    return body.status();
  }
  auto group = Parse(*body, "discovery of autoscaling");
  if (!group.ok()) return group.status();
  std::set<std::string> served;
  const value& versions = Obj(*group, "versions");
  if (versions.is_array()) {
    for (const auto& v : versions.as_array()) served.insert(Str(v, "version"));
  }
  for (std::string_view version : kHpaVersions) {
    if (!served.contains(std::string(version))) continue;
    std::lock_guard lock(mu_);
    hpa_api_path_ = "/apis/autoscaling/" + std::string(version);
    return hpa_api_path_;
  }
  return NotFoundError("the API server serves no HorizontalPodAutoscaler version (" +
                       fmt::format("{}", fmt::join(kHpaVersions, ", ")) + ")");
}

StatusOr<std::vector<HpaInfo>> KubeClient::ListHpas(const std::string& namespace_name) {
  StatusOr<std::string> api = HpaApiPath();
  if (!api.ok()) return api.status();
  auto body = rest_.Call("GET", Path(*api, namespace_name, "horizontalpodautoscalers"));
  if (!body.ok()) {
    if (IsNotFound(body.status())) {
      // The version went away (the server was upgraded): discover again.
      std::lock_guard lock(mu_);
      hpa_api_path_.clear();
    }
    return body.status();
  }
  auto v = Parse(*body, "list horizontalpodautoscalers");
  if (!v.ok()) return v.status();
  std::vector<HpaInfo> out;
  const value& items = Obj(*v, "items");
  if (items.is_array()) {
    for (const auto& item : items.as_array()) {
      ObjectMeta meta = MetaOf(item);
      const value& target = Obj(Obj(item, "spec"), "scaleTargetRef");
      out.push_back({meta.namespace_name, meta.name, Str(target, "apiVersion"), Str(target, "kind"),
                     Str(target, "name")});
    }
  }
  return out;
}

StatusOr<PodTemplate> KubeClient::GetPodTemplate(const WorkloadRef& ref) {
  auto body = rest_.Call("GET", WorkloadPath(ref));
  if (!body.ok()) return body.status();
  auto v = Parse(*body, "get workload");
  if (!v.ok()) return v.status();
  return PodTemplateOf(*v);
}

}  // namespace groupscaler::kube
