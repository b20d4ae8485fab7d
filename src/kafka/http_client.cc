// The only file of the Kafka adapter that drives cpprestsdk's http_client;
// its exceptions become a Status here.

#include "kafka/http_client.h"

#include <cpprest/http_client.h>
#include <boost/asio/ssl.hpp>

#include <optional>
#include <system_error>

#include "common/asio_tls.h"

namespace groupscaler::kafka {
namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

http_request Build(const HttpRequest& request) {
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

class CpprestHttpClient final : public HttpClient {
 public:
  // No `ca_pem`: the system's roots.
  explicit CpprestHttpClient(std::optional<std::string> ca_pem) : ca_pem_(std::move(ca_pem)) {}

  StatusOr<HttpResponse> Send(const HttpRequest& request,
                              std::chrono::milliseconds timeout) override {
    const std::string what = request.method + " " + request.url;
    try {
      http_client client(web::uri(request.url), Config(timeout));
      http_response response = client.request(Build(request)).get();
      return HttpResponse{response.status_code(), response.extract_utf8string(true).get()};
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

 private:
  http_client_config Config(std::chrono::milliseconds timeout) const {
    http_client_config config;
    config.set_timeout(timeout);
    config.set_validate_certificates(true);
    if (ca_pem_) {
      // Checked by NewHttpClientTrusting: this cannot fail.
      config.set_ssl_context_callback(
          [this](boost::asio::ssl::context& context) { TrustOnly(context, *ca_pem_); });
    }
    return config;
  }

  const std::optional<std::string> ca_pem_;
};

}  // namespace

std::unique_ptr<HttpClient> NewHttpClient() {
  return std::make_unique<CpprestHttpClient>(std::nullopt);
}

StatusOr<std::unique_ptr<HttpClient>> NewHttpClientTrusting(const std::string& ca_pem) {
  boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
  if (TrustOnly(probe, ca_pem)) {
    return InvalidArgumentError("the CA holds no PEM certificate");
  }
  return std::unique_ptr<HttpClient>(std::make_unique<CpprestHttpClient>(ca_pem));
}

StatusCode StatusCodeOfHttp(int status) {
  if (status == 401 || status == 403) return StatusCode::kPermissionDenied;
  if (status >= 400 && status < 500) return StatusCode::kFailedPrecondition;
  return StatusCode::kUnavailable;
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
