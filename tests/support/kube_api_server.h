#pragma once

// A Kubernetes API server for tests: the real REST protocol over HTTP/1.1 on
// 127.0.0.1 (port 0), backed by an in-memory store. It is not a fake of the
// client: it follows the API conventions the controller meets in production,
// so the client is always exercised over real sockets.
//
// What it serves (namespaced resources only, JSON only):
// * /api/v1: events, secrets, configmaps, pods;
//   /apis/apps/v1: deployments, statefulsets (with /scale and /status);
//   /apis/coordination.k8s.io/v1: leases;
//   /apis/autoscaling/VERSION: horizontalpodautoscalers (with /status) for
//   each version of Options::hpa_versions, each stored on its own (no
//   conversion), and /apis/autoscaling, the group's discovery document;
//   /apis/groupscaler.io/v1alpha1: consumergroupautoscalers (with /status).
//   Anything else is 404 NotFound.
// * GET (object or list; lists carry metadata.resourceVersion), POST create
//   (409 AlreadyExists), PUT update (409 Conflict when metadata.resourceVersion
//   is stale; unconditional when absent), PATCH with
//   application/merge-patch+json (RFC 7386; a resourceVersion in the patch is
//   a precondition; other patch types get 415), DELETE (returns the object).
//   Lists and watches also exist across all namespaces
//   (/apis/G/V/RESOURCE).
// * Every write bumps one global resourceVersion counter. metadata.generation
//   starts at 1 and grows when `spec` changes. For resources with a status
//   subresource, writes to the main resource keep the stored status and
//   writes to /status change only status.
// * /scale of deployments and statefulsets: GET returns an autoscaling/v1
//   Scale built from spec.replicas, status.replicas and
//   spec.selector.matchLabels; PATCH (merge patch) and PUT change only
//   spec.replicas of the workload.
// * Watch (`?watch=1|true`): a chunked stream of newline-terminated
//   {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}. Without
//   resourceVersion (or with "0") it first sends ADDED for every current
//   object. With resourceVersion=N it replays every retained event after N;
//   when N is older than the retained window the answer is 410 Gone with a
//   Status body (reason Expired), or, with Options::expired_as_error_event,
//   200 and one ERROR event carrying that Status, as a real API server's
//   watch cache does. BOOKMARKs are sent on SendBookmarks() to watches that
//   asked for them (allowWatchBookmarks=true). timeoutSeconds ends the stream
//   cleanly.
// * ConsumerGroupAutoscalers are checked against the CRD's structural schema
//   (charts/groupscaler/crds) on every write, as a real server does: a wrong
//   type, a value outside an enum or a missing required field is 422
//   Invalid. CEL rules are not applied (a 1.20 server does not either).
// * Errors are Kubernetes Status bodies (kind Status, apiVersion v1, status
//   Failure, message, reason, details, code).
// * HTTPS when Options carries a certificate (see MakeTestPki), optionally
//   requiring a client certificate.
// * Lists honour limit and continue: a page of `limit` items in
//   namespace/name order, metadata.continue naming the last one when more
//   follow; the next page starts after it in the store as it is then (not a
//   snapshot of the first page's resourceVersion, as a real server keeps).
// * Not served: labelSelector, fieldSelector, dryRun, deletion preconditions and finalizers,
// watches of one
//   object by name, server-side apply; fieldManager is accepted and recorded.
//
// Thread-safe. Destroying the server closes every connection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace groupscaler::testing {

// One request as the server received it.
struct RecordedRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;  // raw, without '?'
  std::string content_type;
  std::string authorization;
  // Over HTTPS with a client certificate: its subject's CN.
  std::string client_common_name;
  std::string body;
  int response_code = 0;                           // a watch's is set when its stream starts
  std::chrono::system_clock::time_point received;  // when its head was read
};

// Makes the next `count` requests whose method matches (empty: any) and whose
// path contains `path_contains` (a substring, not a pattern) misbehave. Faults
// are checked in the order injected; a matching latency fault is applied and
// the next matching fault checked too. Faults apply before authentication.
struct Fault {
  enum class Kind {
    kStatus,      // answer `status_code` with a Status body
    kLatency,     // wait `latency`, then serve normally
    kDisconnect,  // close the connection without answering
  };
  Kind kind = Kind::kStatus;
  std::string method;
  std::string path_contains;
  int count = 1;
  int status_code = 500;
  // For 429 (and any status): sent as the Retry-After header when >= 0.
  int retry_after_seconds = -1;
  std::chrono::milliseconds latency{0};
};

class KubeApiServer {
 public:
  struct Options {
    // How many past write events watches can resume from.
    size_t history_limit = 1000;
    // See the header comment on watch expiry.
    bool expired_as_error_event = false;
    // The autoscaling versions served (v1, v2beta1, v2beta2, v2), as a
    // current server; {"v1", "v2beta1", "v2beta2"} is v1.20. Empty: the
    // autoscaling group is not served at all.
    std::vector<std::string> hpa_versions = {"v1", "v2"};
    // When non-empty, requests must carry "Authorization: Bearer <token>";
    // others get 401 Unauthorized.
    std::string required_token;
    // HTTPS when both are set (PEM); url() is then https://127.0.0.1:PORT.
    std::string tls_cert_pem;
    std::string tls_key_pem;
    // With HTTPS: when set, a client certificate signed by this CA is
    // required (the TLS handshake fails without one).
    std::string client_ca_pem;
  };

  static StatusOr<std::unique_ptr<KubeApiServer>> Start(Options options);
  static StatusOr<std::unique_ptr<KubeApiServer>> Start() { return Start(Options{}); }
  ~KubeApiServer();
  KubeApiServer(const KubeApiServer&) = delete;
  KubeApiServer& operator=(const KubeApiServer&) = delete;

  int port() const;
  // "http://127.0.0.1:PORT" (https:// with TLS)
  std::string url() const;

  // Direct store access for test set-up and assertions, bypassing the REST
  // rules (status is stored as given). `object_json` must carry apiVersion,
  // kind and metadata.{name,namespace}; `resource` is the plural path name
  // ("deployments"). Upsert bumps the resourceVersion and emits ADDED or
  // MODIFIED to watches; returns the stored object.
  StatusOr<std::string> Upsert(const std::string& resource, const std::string& object_json);
  // The stored object as JSON; NotFound when absent. `api_version` is
  // "v1", "apps/v1", ...
  StatusOr<std::string> Get(const std::string& api_version, const std::string& resource,
                            const std::string& namespace_name, const std::string& name) const;
  Status Delete(const std::string& api_version, const std::string& resource,
                const std::string& namespace_name, const std::string& name);
  // The current global resourceVersion.
  int64_t resource_version() const;

  // Forgets every retained event, so that a watch from any resourceVersion
  // older than the current one gets 410 Gone.
  void CompactHistory();
  // Sends a BOOKMARK at the current resourceVersion to every open watch that
  // allowed bookmarks.
  void SendBookmarks();
  // Cuts every open watch mid-stream: the connection is closed without the
  // terminating chunk, as when an API server or a load balancer dies.
  void BreakWatches();
  // Open watch streams right now.
  int open_watches() const;
  // Blocks until at least `n` watches are open or `timeout` passes.
  bool WaitForWatches(int n, std::chrono::milliseconds timeout) const;

  void InjectFault(Fault fault);
  void ClearFaults();
  void SetRequiredToken(std::string token);

  std::vector<RecordedRequest> Requests() const;
  void ClearRequests();
  // Requests with this method (empty: any) whose path contains `path_contains`.
  int CountRequests(const std::string& method, const std::string& path_contains) const;

  struct Impl;

 private:
  explicit KubeApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A throw-away PKI for HTTPS tests, made with OpenSSL at run time: a CA, a
// server certificate for 127.0.0.1 and localhost, and a client certificate
// (CN `client_common_name`), all EC P-256, valid for a day. PEM strings.
struct TestPki {
  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};
StatusOr<TestPki> MakeTestPki(const std::string& client_common_name = "groupscaler-test");

}  // namespace groupscaler::testing
