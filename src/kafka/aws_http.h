#pragma once

// The HTTP that AWS credentials need (STS, the EKS Pod Identity agent), as
// an interface: one implementation over cpprestsdk (NewAwsHttpClient), and
// local servers in tests. No retries, no AWS knowledge.

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "kafka/aws_sigv4.h"

namespace groupscaler::kafka {

struct AwsHttpRequest {
  std::string method;  // "GET", "POST"
  std::string url;     // absolute: "https://sts.eu-west-1.amazonaws.com/"
  AwsParams headers;   // sent as given (cpprestsdk adds Host)
  std::string body;
};

struct AwsHttpResponse {
  int status_code = 0;
  std::string body;
};

class AwsHttpClient {
 public:
  virtual ~AwsHttpClient() = default;
  // One request; `timeout` bounds each wait (connecting, sending, each part
  // of the answer: STS and the agent answer in one). Any HTTP status is a
  // response; a network failure is UNAVAILABLE, a wait running out
  // DEADLINE_EXCEEDED. Messages name the method and URL, never a header or
  // the body.
  virtual StatusOr<AwsHttpResponse> Send(const AwsHttpRequest& request,
                                         std::chrono::milliseconds timeout) = 0;
};

// cpprestsdk's http_client; https verified against the system's CA roots.
std::unique_ptr<AwsHttpClient> NewAwsHttpClient();

// The Host header cpprestsdk sends for `url` ("host", or "host:port" for a
// port other than the scheme's): what SigV4 must sign. Empty when `url` is
// not an absolute http(s) URL.
std::string HostHeaderOf(const std::string& url);

}  // namespace groupscaler::kafka
