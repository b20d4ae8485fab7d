#include "support/http_get.h"

#include <cpprest/base_uri.h>

#include "kube/transport.h"

namespace groupscaler::testing {
namespace {

// Through the controller's own HTTP transport, so the tests' requests take
// the same (sanitizer-checked) path through cpprestsdk as the product's.
HttpAnswer Request(const std::string& method, int port, const std::string& path_and_query,
                   const std::string& json_body, std::chrono::milliseconds timeout) {
  kube::RestConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(port);
  auto transport = kube::NewHttpTransport(config);
  if (!transport.ok()) return {};
  kube::HttpRequest request{.method = method, .path_and_query = path_and_query};
  if (!json_body.empty()) {
    request.content_type = "application/json";
    request.body = json_body;
  }
  StatusOr<kube::HttpResponse> response = (*transport)->Send(request, timeout);
  if (!response.ok()) return {};
  return HttpAnswer{.code = response->status_code, .body = std::move(response->body)};
}

}  // namespace

HttpAnswer HttpGet(int port, const std::string& path_and_query, std::chrono::milliseconds timeout) {
  return Request("GET", port, path_and_query, "", timeout);
}

HttpAnswer HttpPost(int port, const std::string& path, const std::string& json_body,
                    std::chrono::milliseconds timeout) {
  return Request("POST", port, path, json_body, timeout);
}

std::string UrlEncode(const std::string& s) { return web::uri::encode_data_string(s); }

}  // namespace groupscaler::testing
