#pragma once

// The HTTP that token sources need (STS, the EKS Pod Identity agent, an
// OAuth token endpoint), as an interface: one implementation over cpprestsdk
// (NewHttpClient, NewHttpClientTrusting), and local servers or scripts in
// tests. No retries, no knowledge of what is asked.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace groupscaler::kafka {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;   // "GET", "POST"
  std::string url;      // absolute: "https://sts.eu-west-1.amazonaws.com/"
  HttpHeaders headers;  // sent as given (cpprestsdk adds Host)
  std::string body;
};

struct HttpResponse {
  int status_code = 0;
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // One request; `timeout` bounds each wait (connecting, sending, each part
  // of the answer: the servers asked answer in one). Any HTTP status is a
  // response; a network or TLS failure is UNAVAILABLE, a wait running out
  // DEADLINE_EXCEEDED. Messages name the method and URL, never a header or
  // the body. Thread-safe.
  virtual StatusOr<HttpResponse> Send(const HttpRequest& request,
                                      std::chrono::milliseconds timeout) = 0;
};

// cpprestsdk's http_client; https verified (certificate chain and host name,
// RFC 2818) against the system's CA roots.
std::unique_ptr<HttpClient> NewHttpClient();

// The same, but https trusts exactly the certificates of `ca_pem` (PEM text,
// one or more), not the system's roots; host names are verified as above.
// INVALID_ARGUMENT when `ca_pem` holds no certificate.
StatusOr<std::unique_ptr<HttpClient>> NewHttpClientTrusting(const std::string& ca_pem);

// The StatusCode of a refusal with HTTP `status`: 401 and 403
// PERMISSION_DENIED, other 4xx FAILED_PRECONDITION, else UNAVAILABLE.
StatusCode StatusCodeOfHttp(int status);

// The Host header cpprestsdk sends for `url` ("host", or "host:port" for a
// port other than the scheme's): what SigV4 must sign. Empty when `url` is
// not an absolute http(s) URL.
std::string HostHeaderOf(const std::string& url);

}  // namespace groupscaler::kafka
