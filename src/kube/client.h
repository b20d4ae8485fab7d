#pragma once

// What the controller asks of Kubernetes, as small pure-virtual interfaces
// (one real implementation, KubeClient in kube_client.h, and fakes in tests).
// Every call returns errors as values; see rest_client.h for how API errors
// map to Status codes and IsConflict / IsAlreadyExists / IsExpired.
//
// Objects the controller interprets itself (the ConsumerGroupAutoscaler) are
// handed over as their JSON text plus the metadata every caller needs, so
// that no JSON library leaks out of src/kube; spec::ParseAutoscaler reads the
// text.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace groupscaler::kube {

struct ObjectMeta {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

// --- ConsumerGroupAutoscaler (groupscaler.io/v1alpha1) ---

struct Autoscaler {
  ObjectMeta metadata;
  std::string json;  // the whole object as the API server sent it
};

// A list of objects, with the resourceVersion a watch starts from.
template <typename T>
struct ObjectList {
  std::vector<T> items;
  std::string resource_version;  // of the list: where a watch starts
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark };
std::string_view WatchEventTypeName(WatchEventType type);

template <typename T>
struct WatchEvent {
  WatchEventType type;
  // For kBookmark only metadata.resource_version is meaningful.
  T object;
};

// Callbacks of a list-and-watch, called on the watch's own thread, one at a
// time. on_list comes first and again after every relist (when the server
// said 410 Gone): it is the complete current set, so objects missing from it
// were deleted while the watch was away. on_list_error is told each list
// that failed (it is retried after a backoff).
template <typename T>
struct ListWatchHandlers {
  std::function<void(const ObjectList<T>&)> on_list;
  std::function<void(const WatchEvent<T>&)> on_event;
  std::function<void(const Status&)> on_list_error;
};

using AutoscalerList = ObjectList<Autoscaler>;
using AutoscalerEvent = WatchEvent<Autoscaler>;
using WatchHandlers = ListWatchHandlers<Autoscaler>;

// A running list-and-watch. Destroying it stops the watch and waits for its
// thread: the open stream is cancelled at once, and a handler that is
// running is waited for. Destroy it before the client that made it, and
// never from inside one of its own handlers.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

class AutoscalerClient {
 public:
  virtual ~AutoscalerClient() = default;
  // `namespace_name` empty: every namespace.
  virtual StatusOr<AutoscalerList> ListAutoscalers(const std::string& namespace_name) = 0;
  virtual StatusOr<Autoscaler> GetAutoscaler(const std::string& namespace_name,
                                             const std::string& name) = 0;
  // Merge-patches the status subresource with {"status": <status_json>}
  // (status_json: a JSON object; null members delete fields). A non-empty
  // `resource_version` is a precondition (Conflict when stale).
  virtual StatusOr<Autoscaler> PatchAutoscalerStatus(const std::string& namespace_name,
                                                     const std::string& name,
                                                     const std::string& status_json,
                                                     const std::string& resource_version = "") = 0;
  // Lists, then watches from the list's resourceVersion with bookmarks;
  // resumes from the last resourceVersion seen when a stream ends or
  // breaks, relists on 410 Gone, backs off (bounded) on errors.
  virtual std::unique_ptr<WatchHandle> WatchAutoscalers(const std::string& namespace_name,
                                                        WatchHandlers handlers) = 0;
};

// --- /scale of Deployments and StatefulSets ---

enum class WorkloadKind { kDeployment, kStatefulSet };
// "Deployment" / "StatefulSet" (the CR's scaleTargetRef.kind).
StatusOr<WorkloadKind> ParseWorkloadKind(std::string_view kind);
std::string_view WorkloadKindName(WorkloadKind kind);

struct WorkloadRef {
  WorkloadKind kind = WorkloadKind::kDeployment;
  std::string namespace_name;
  std::string name;
};

struct Scale {
  int32_t spec_replicas = 0;
  int32_t status_replicas = 0;
  std::string selector;  // "app=x,tier=y"; empty when the server gave none
  std::string resource_version;
};

class ScaleClient {
 public:
  virtual ~ScaleClient() = default;
  virtual StatusOr<Scale> GetScale(const WorkloadRef& ref) = 0;
  // PATCH .../scale with application/merge-patch+json {"spec":{"replicas":N}}
  // and fieldManager. Returns the Scale after the write.
  virtual StatusOr<Scale> PatchScale(const WorkloadRef& ref, int32_t replicas) = 0;
};

// --- Pod templates of Deployments and StatefulSets ---

// One environment variable of a container: a literal value, or a field of
// the pod (valueFrom.fieldRef); other sources (Secrets, ConfigMaps) leave
// both empty.
struct EnvVar {
  std::string name;
  std::string value;
  std::string field_path;  // valueFrom.fieldRef.fieldPath ("metadata.name")
};

struct ContainerSpec {
  std::string name;
  std::vector<std::string> command_and_args;  // command, then args
  std::vector<EnvVar> env;                    // in the template's order
};

// spec.template.spec.containers of a workload (init containers left out:
// they consume nothing).
struct PodTemplate {
  std::vector<ContainerSpec> containers;
};

class WorkloadReader {
 public:
  virtual ~WorkloadReader() = default;
  // GET the Deployment or StatefulSet `ref` and return its pod template.
  virtual StatusOr<PodTemplate> GetPodTemplate(const WorkloadRef& ref) = 0;
};

// --- Deployments and StatefulSets, listed and watched ---

// A Deployment or StatefulSet trimmed to what the controller reads of it:
// the rest of the object is dropped as it arrives, so that a cache of ten
// thousand costs little.
struct Workload {
  ObjectMeta metadata;
  Scale scale;  // what GET .../scale would answer now
  PodTemplate pod_template;
};

using WorkloadList = ObjectList<Workload>;
using WorkloadEvent = WatchEvent<Workload>;

class WorkloadWatcher {
 public:
  virtual ~WorkloadWatcher() = default;
  // Lists (in pages) and watches the Deployments or StatefulSets of
  // `namespace_name` (empty: every namespace), as WatchAutoscalers does.
  virtual std::unique_ptr<WatchHandle> WatchWorkloads(WorkloadKind kind,
                                                      const std::string& namespace_name,
                                                      ListWatchHandlers<Workload> handlers) = 0;
};

// --- core/v1 Events ---

struct ObjectReference {
  std::string api_version;  // "groupscaler.io/v1alpha1"
  std::string kind;         // "ConsumerGroupAutoscaler"
  std::string namespace_name;
  std::string name;
  std::string uid;
};

enum class EventType { kNormal, kWarning };

struct Event {
  ObjectReference involved;
  EventType type = EventType::kNormal;
  std::string reason;   // CamelCase: "ScaledUp"
  std::string message;  // one line for humans
};

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // Creates an Event in the involved object's namespace.
  virtual Status RecordEvent(const Event& event) = 0;
};

// --- Secrets ---

class SecretReader {
 public:
  virtual ~SecretReader() = default;
  // The Secret's data, base64-decoded. Values are secret: never log them.
  virtual StatusOr<std::map<std::string, std::string>> GetSecretData(
      const std::string& namespace_name, const std::string& name) = 0;
};

// --- coordination.k8s.io/v1 Leases ---

struct Lease {
  ObjectMeta metadata;  // namespace_name and name identify it
  std::string holder_identity;
  int32_t lease_duration_seconds = 0;
  std::optional<Timestamp> acquire_time;
  std::optional<Timestamp> renew_time;
  int32_t lease_transitions = 0;
};

class LeaseClient {
 public:
  virtual ~LeaseClient() = default;
  virtual StatusOr<Lease> GetLease(const std::string& namespace_name, const std::string& name) = 0;
  // AlreadyExists when another holder created it first.
  virtual StatusOr<Lease> CreateLease(const Lease& lease) = 0;
  // PUT with lease.metadata.resource_version as the precondition: Conflict
  // when someone else wrote since it was read.
  virtual StatusOr<Lease> UpdateLease(const Lease& lease) = 0;
};

// --- autoscaling/v2 HorizontalPodAutoscalers ---

struct HpaInfo {
  std::string namespace_name;
  std::string name;
  std::string target_api_version;
  std::string target_kind;
  std::string target_name;
};

class HpaLister {
 public:
  virtual ~HpaLister() = default;
  virtual StatusOr<std::vector<HpaInfo>> ListHpas(const std::string& namespace_name) = 0;
};

// The HPAs of `hpas` whose scaleTargetRef is `ref` (a conflict with
// groupscaler: two autoscalers on one workload).
std::vector<HpaInfo> HpasTargeting(const std::vector<HpaInfo>& hpas, const WorkloadRef& ref);

}  // namespace groupscaler::kube
