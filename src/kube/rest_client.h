#pragma once

// Kubernetes REST semantics over a Transport: the bearer token (re-read
// after a 401), the client-side rate limit, the total deadline per call,
// retries (429 honouring Retry-After; 5xx and network errors with bounded
// exponential backoff), and the mapping of error answers (Kubernetes Status
// bodies) to Status values.
//
// Error mapping. The message is "<Reason>: <METHOD> <path>: <server message>
// (HTTP <code>)", Reason being the Status body's reason (or the HTTP code's
// usual one), and the code tells the cases apart:
//   400, 415, 422            -> kInvalidArgument
//   401, 403                 -> kPermissionDenied
//   404                      -> kNotFound
//   409 Conflict            -> kAborted
//   409 AlreadyExists       -> kAlreadyExists
//   410 (Expired/Gone)       -> kOutOfRange
//   429, 5xx, network        -> kUnavailable (after the retries)
//   deadline                 -> kDeadlineExceeded

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "kube/config.h"
#include "kube/rate_limiter.h"
#include "kube/transport.h"

namespace groupscaler::kube {

// Told of every HTTP request sent, each retry and each watch included: the
// verb as Kubernetes names it (see RequestVerb) and the HTTP status code
// ("200"), or "error" when no response came. Called on the sending thread;
// must be thread-safe and quick.
using RequestObserver = std::function<void(std::string_view verb, std::string_view code)>;

// GET, LIST (a GET of a collection), WATCH (a GET with watch=true or
// watch=1), or the method as given, from a request's method and path.
std::string_view RequestVerb(std::string_view method, std::string_view path_and_query);

struct ClientOptions {
  // Client-side rate limit (--kube-api-qps, --kube-api-burst); qps <= 0: none.
  double qps = 20;
  int burst = 30;
  // Total time for one non-watch call, retries and their waits included.
  std::chrono::milliseconds timeout{10000};
  // Retries after the first attempt, for 429, 5xx and network errors.
  int max_retries = 4;
  // Backoff for 5xx and network errors: base * 2^attempt, capped.
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_max{2000};
  // A Retry-After longer than this, or longer than the time left before the
  // deadline, is not waited for: the 429 is returned instead.
  std::chrono::seconds max_retry_after{30};
  // Lists are read in pages of this many items (limit and continue), so
  // that no answer holds a whole large collection.
  int list_page = 500;
  // Sent as ?fieldManager= on every write.
  std::string field_manager = "groupscaler";
  // Watches: the server is asked to end each stream after this long
  // (timeoutSeconds), and the client gives up on a silent stream after this
  // plus a margin.
  std::chrono::seconds watch_timeout{300};
  // Null: requests are not reported.
  RequestObserver on_request;
};

// "Conflict", "AlreadyExists", "NotFound", "Expired", ... for errors made
// by RestClient; empty for others.
std::string_view ApiReason(const Status& status);
// 404 NotFound: no such object (or resource).
bool IsNotFound(const Status& status);
// 403 Forbidden: RBAC does not allow the request.
bool IsForbidden(const Status& status);
// 409 with reason Conflict: a stale resourceVersion. Re-read and retry.
bool IsConflict(const Status& status);
// 409 with reason AlreadyExists: a create of an existing name.
bool IsAlreadyExists(const Status& status);
// 410 Gone / Expired: a resourceVersion too old to watch from. Relist.
bool IsExpired(const Status& status);

// Calls `attempt` until it returns something other than a Conflict, at most
// `max_attempts` times. `attempt` must re-read the object it updates, so
// that each try writes on top of the latest resourceVersion.
Status RetryOnConflict(int max_attempts, const std::function<Status()>& attempt);

class RestClient {
 public:
  // `token` may be null. `clock` (read and slept on) must outlive the
  // client.
  RestClient(std::unique_ptr<Transport> transport, std::shared_ptr<TokenSource> token,
             ClientOptions options, const Clock* clock);

  // One call. 2xx: the body. Otherwise an error as in the header comment.
  // `content_type` non-empty sends `body`. Every method is retried the same
  // way: PATCH of /scale and PUT with a resourceVersion are idempotent, and a
  // POST whose answer was lost comes back as AlreadyExists on the retry.
  StatusOr<std::string> Call(const std::string& method, const std::string& path_and_query,
                             const std::string& content_type = "", const std::string& body = "");

  // A watch stream (see Transport::Stream). Returns OK when the stream ended
  // cleanly or `stop` was requested, an error (e.g. IsExpired) when the
  // server refused it, Unavailable when it broke. Not retried here: the
  // watcher decides. Rate-limited like any call.
  Status Stream(const std::string& path_and_query,
                const std::function<bool(std::string_view)>& on_line, std::stop_token stop);

  const ClientOptions& options() const { return options_; }
  const Clock& clock() const { return *clock_; }

 private:
  StatusOr<std::string> Authorization(bool refresh);
  // Reports one request to options_.on_request.
  void Observe(const std::string& method, const std::string& path_and_query,
               const StatusOr<HttpResponse>& response);

  std::unique_ptr<Transport> transport_;
  std::shared_ptr<TokenSource> token_;
  const ClientOptions options_;
  const Clock* clock_;
  RateLimiter limiter_;
};

}  // namespace groupscaler::kube
