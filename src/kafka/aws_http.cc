// The only file of the Kafka adapter that drives cpprestsdk's http_client;
// its exceptions become a Status here.

#include "kafka/aws_http.h"

#include <cpprest/http_client.h>

#include <system_error>

namespace groupscaler::kafka {
namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

http_request Build(const AwsHttpRequest& request) {
  http_request msg(request.method);
  for (const auto& [name, value] : request.headers) msg.headers().add(name, value);
  if (!request.body.empty() || request.method == "POST") {
    // As bytes: set_body(std::string) reinterprets a streambuf<char>.
    const std::string type = msg.headers().content_type();
    msg.set_body(std::vector<unsigned char>(request.body.begin(), request.body.end()));
    if (!type.empty()) msg.headers().set_content_type(type);
  }
  return msg;
}

class CpprestAwsHttpClient final : public AwsHttpClient {
 public:
  StatusOr<AwsHttpResponse> Send(const AwsHttpRequest& request,
                                 std::chrono::milliseconds timeout) override {
    const std::string what = request.method + " " + request.url;
    try {
      http_client_config config;
      config.set_timeout(timeout);
      config.set_validate_certificates(true);
      http_client client(web::uri(request.url), config);
      http_response response = client.request(Build(request)).get();
      return AwsHttpResponse{response.status_code(), response.extract_utf8string(true).get()};
    } catch (const web::http::http_exception& e) {
      if (e.error_code() == std::errc::timed_out) {
        return DeadlineExceededError(what + ": no answer within " +
                                     std::to_string(timeout.count()) + " ms");
      }
      return UnavailableError(what + ": " + e.what());
    } catch (const std::exception& e) {
      return UnavailableError(what + ": " + e.what());
    }
  }
};

}  // namespace

std::unique_ptr<AwsHttpClient> NewAwsHttpClient() {
  return std::make_unique<CpprestAwsHttpClient>();
}

std::string HostHeaderOf(const std::string& url) {
  try {
    const web::uri uri(url);
    if ((uri.scheme() != "https" && uri.scheme() != "http") || uri.host().empty()) return "";
    // As cpprestsdk writes it: the port whenever the URL names one.
    if (uri.is_port_default()) return uri.host();
    return uri.host() + ":" + std::to_string(uri.port());
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace groupscaler::kafka
