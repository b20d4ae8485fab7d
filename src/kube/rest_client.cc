#include "kube/rest_client.h"

#include <spdlog/spdlog.h>

#include <cpprest/json.h>
#include <cpprest/uri.h>
#include <algorithm>
#include <map>
#include <vector>

namespace groupscaler::kube {
namespace {

std::string DefaultReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "Unknown";
  }
}

StatusCode CodeFor(int http_code, const std::string& reason) {
  switch (http_code) {
    case 400:
    case 415:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
    case 410:
      return StatusCode::kOutOfRange;
    default:
      return http_code >= 500 || http_code == 429 ? StatusCode::kUnavailable
                                                  : StatusCode::kInternal;
  }
}

// Turns a non-2xx answer into a Status, reading the Kubernetes Status body
// when there is one.
Status ErrorFor(const std::string& method, const std::string& path, const HttpResponse& resp) {
  std::string reason = DefaultReason(resp.status_code);
  std::string message;
  try {
    auto v = web::json::value::parse(resp.body);
    if (v.is_object() && v.has_field("kind") && v.at("kind").is_string() &&
        v.at("kind").as_string() == "Status") {
      if (v.has_field("reason") && v.at("reason").is_string() &&
          !v.at("reason").as_string().empty()) {
        reason = v.at("reason").as_string();
      }
      if (v.has_field("message") && v.at("message").is_string()) {
        message = v.at("message").as_string();
      }
    }
  } catch (const std::exception&) {
    // Not JSON (a proxy's HTML page, say): keep a bounded piece of it.
    message = resp.body.substr(0, 200);
  }
  // The path without its query keeps messages short and free of tokens.
  std::string bare = path.substr(0, path.find('?'));
  return Status(CodeFor(resp.status_code, reason), reason + ": " + method + " " + bare + ": " +
                                                       message + " (HTTP " +
                                                       std::to_string(resp.status_code) + ")");
}

bool Retryable(int http_code) { return http_code == 429 || http_code >= 500; }

// True when `query` ("a=b&c=d") sets `name` to true or 1.
bool QueryFlag(std::string_view query, const std::string& name) {
  const std::map<std::string, std::string> params = web::uri::split_query(std::string(query));
  const auto it = params.find(name);
  return it != params.end() && (it->second == "true" || it->second == "1");
}

}  // namespace

std::string_view RequestVerb(std::string_view method, std::string_view path_and_query) {
  if (method != "GET") return method;
  const size_t question = path_and_query.find('?');
  const std::string_view path = path_and_query.substr(0, question);
  if (question != std::string_view::npos &&
      QueryFlag(path_and_query.substr(question + 1), "watch")) {
    return "WATCH";
  }
  const std::vector<std::string> segments = web::uri::split_path(std::string(path));
  // /api/v1/... or /apis/GROUP/VERSION/..., then namespaces/NS/ for a
  // namespaced resource, then RESOURCE[/NAME[/SUBRESOURCE]].
  size_t first = segments.empty()        ? 0
                 : segments[0] == "api"  ? 2
                 : segments[0] == "apis" ? 3
                                         : segments.size();
  if (segments.size() >= first + 3 && segments[first] == "namespaces") first += 2;
  return segments.size() == first + 1 ? "LIST" : "GET";
}

std::string_view ApiReason(const Status& status) {
  if (status.ok()) return "";
  const std::string& m = status.message();
  auto colon = m.find(':');
  if (colon == std::string::npos) return "";
  std::string_view reason(m.data(), colon);
  if (reason.empty() || reason.find(' ') != std::string_view::npos) return "";
  if (m.find(" (HTTP ") == std::string::npos) return "";
  return reason;
}

bool IsNotFound(const Status& status) { return status.code() == StatusCode::kNotFound; }
bool IsForbidden(const Status& status) { return status.code() == StatusCode::kPermissionDenied; }
bool IsConflict(const Status& status) { return status.code() == StatusCode::kAborted; }
bool IsAlreadyExists(const Status& status) { return status.code() == StatusCode::kAlreadyExists; }
bool IsExpired(const Status& status) { return status.code() == StatusCode::kOutOfRange; }

Status RetryOnConflict(int max_attempts, const std::function<Status()>& attempt) {
  Status s;
  for (int i = 0; i < std::max(1, max_attempts); ++i) {
    s = attempt();
    if (!IsConflict(s)) return s;
  }
  return s;
}

RestClient::RestClient(std::unique_ptr<Transport> transport, std::shared_ptr<TokenSource> token,
                       ClientOptions options, const Clock* clock)
    : transport_(std::move(transport)),
      token_(std::move(token)),
      options_(std::move(options)),
      clock_(clock),
      limiter_(options_.qps, options_.burst, clock) {}

void RestClient::Observe(const std::string& method, const std::string& path_and_query,
                         const StatusOr<HttpResponse>& response) {
  if (!options_.on_request) return;
  options_.on_request(RequestVerb(method, path_and_query),
                      response.ok() ? std::to_string(response->status_code) : "error");
}

StatusOr<std::string> RestClient::Authorization(bool refresh) {
  if (token_ == nullptr) return std::string();
  if (refresh) token_->Invalidate();
  auto token = token_->Token();
  if (!token.ok()) return token.status();
  return "Bearer " + *token;
}

StatusOr<std::string> RestClient::Call(const std::string& method, const std::string& path_and_query,
                                       const std::string& content_type, const std::string& body) {
  const Timestamp deadline = clock_->Now() + options_.timeout;
  auto remaining = [&] {
    return std::max(
        std::chrono::milliseconds(0),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_->Now()));
  };
  bool refreshed_token = false;
  Status last;
  for (int attempt = 0;; ++attempt) {
    auto auth = Authorization(false);
    if (!auth.ok()) return auth.status();
    if (auto wait = limiter_.Reserve(); wait.count() > 0) {
      if (wait >= remaining()) {
        return DeadlineExceededError(method + " " +
                                     path_and_query.substr(0, path_and_query.find('?')) +
                                     ": client-side rate limit leaves no time before the deadline");
      }
      clock_->SleepFor(wait);
    }
    auto left = remaining();
    if (left.count() == 0) {
      return last.ok() ? DeadlineExceededError(method + " " + path_and_query + ": deadline passed")
                       : last;
    }
    HttpRequest req{method, path_and_query, content_type, body, *auth};
    auto resp = transport_->Send(req, left);
    Observe(method, path_and_query, resp);
    std::chrono::milliseconds wait(0);
    if (!resp.ok()) {
      if (resp.status().code() == StatusCode::kDeadlineExceeded) return resp.status();
      last = resp.status();
    } else if (resp->status_code >= 200 && resp->status_code <= 299) {
      return std::move(resp->body);
    } else if (resp->status_code == 401 && token_ != nullptr && !refreshed_token) {
      // The token may have been rotated under us: re-read it once.
      refreshed_token = true;
      if (auto fresh = Authorization(true); !fresh.ok()) return fresh.status();
      --attempt;
      continue;
    } else if (!Retryable(resp->status_code)) {
      return ErrorFor(method, path_and_query, *resp);
    } else {
      last = ErrorFor(method, path_and_query, *resp);
      if (resp->retry_after_seconds) {
        wait = std::chrono::seconds(*resp->retry_after_seconds);
        if (wait > options_.max_retry_after) return last;
      }
    }
    if (attempt >= options_.max_retries) return last;
    if (wait.count() == 0) {
      wait = std::min(options_.backoff_max, options_.backoff_base * (1 << std::min(attempt, 20)));
    }
    if (wait >= remaining()) return last;
    spdlog::debug("kube: {} {} failed ({}); retry {} in {} ms", method,
                  path_and_query.substr(0, path_and_query.find('?')), last.message(), attempt + 1,
                  wait.count());
    clock_->SleepFor(wait);
  }
}

Status RestClient::Stream(const std::string& path_and_query,
                          const std::function<bool(std::string_view)>& on_line,
                          std::stop_token stop) {
  for (bool refreshed = false;; refreshed = true) {
    auto auth = Authorization(refreshed);
    if (!auth.ok()) return auth.status();
    if (auto wait = limiter_.Reserve(); wait.count() > 0) {
      if (!clock_->SleepFor(wait, stop)) return Status::Ok();
    }
    HttpRequest req{"GET", path_and_query, "", "", *auth};
    auto resp =
        transport_->Stream(req, on_line, stop, options_.watch_timeout + std::chrono::seconds(30));
    Observe("GET", path_and_query, resp);
    if (!resp.ok()) return resp.status();
    if (resp->status_code >= 200 && resp->status_code <= 299) return Status::Ok();
    if (resp->status_code == 401 && token_ != nullptr && !refreshed) continue;
    return ErrorFor("GET", path_and_query, *resp);
  }
}

}  // namespace groupscaler::kube
