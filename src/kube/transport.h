#pragma once

// The HTTP layer under RestClient, as an interface: one implementation over
// cpprestsdk (NewHttpTransport) and whatever a test needs. It knows nothing of
// Kubernetes: no retries, no rate limits, no error bodies.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kube/config.h"

namespace groupscaler::kube {

struct HttpRequest {
  std::string method;          // "GET", "PATCH", ...
  std::string path_and_query;  // "/apis/apps/v1/...?..."
  std::string content_type;    // empty when there is no body
  std::string body;
  std::string authorization;  // the Authorization header's value; empty for none
};

struct HttpResponse {
  int status_code = 0;
  std::string body;
  // The Retry-After header in seconds, when present and numeric.
  std::optional<int> retry_after_seconds;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // One request with a total deadline of `timeout` (not merely between
  // chunks). Any HTTP status is a response; network failure is Unavailable,
  // running out of time DeadlineExceeded.
  virtual StatusOr<HttpResponse> Send(const HttpRequest& request,
                                      std::chrono::milliseconds timeout) = 0;

  // A streaming request (watch). On a 2xx answer, calls `on_line` with each
  // newline-terminated line of the body as it arrives (without the newline)
  // until the body ends, `on_line` returns false, or `stop` is requested;
  // then returns the response with an empty body. A non-2xx answer is
  // returned whole, without calling `on_line`. A connection that fails or
  // goes silent for `idle_timeout`, before or during the body, is
  // Unavailable.
  virtual StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                        const std::function<bool(std::string_view)>& on_line,
                                        std::stop_token stop,
                                        std::chrono::milliseconds idle_timeout) = 0;
};

// cpprestsdk's http_client against config.server, verifying TLS with
// config.ca_pem (or the system roots) and presenting the client certificate
// when there is one. Fails on a malformed server URL.
StatusOr<std::unique_ptr<Transport>> NewHttpTransport(const RestConfig& config);

}  // namespace groupscaler::kube
