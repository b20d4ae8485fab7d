// The only file that drives cpprestsdk's http_client. Every exception it can
// throw (http_exception, task_canceled, uri_exception, boost system_error from
// TLS set-up) is caught here and becomes a Status.

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include <future>
#include <mutex>
#include <vector>

#include "common/asio_tls.h"
#include "kube/transport.h"

namespace groupscaler::kube {
namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

// Between-chunk timeout of cpprestsdk for ordinary calls. The real bound is
// Send's total deadline; this only has to be longer than any of those.
constexpr std::chrono::seconds kIdleTimeout(120);

class HttpTransport final : public Transport {
 public:
  HttpTransport(web::uri base, http_client_config config)
      : base_(std::move(base)), config_(std::move(config)) {
    http_client_config c = config_;
    c.set_timeout(kIdleTimeout);
    client_ = std::make_unique<http_client>(base_, c);
  }

  StatusOr<HttpResponse> Send(const HttpRequest& request,
                              std::chrono::milliseconds timeout) override {
    using Result = StatusOr<HttpResponse>;
    auto promise = std::make_shared<std::promise<Result>>();
    std::future<Result> future = promise->get_future();
    pplx::cancellation_token_source cts;
    const std::string what = request.method + " " + request.path_and_query;
    try {
      http_request msg = Build(request);
      client_->request(msg, cts.get_token())
          .then([](http_response resp) {
            HttpResponse out;
            out.status_code = resp.status_code();
            out.retry_after_seconds = RetryAfter(resp);
            return resp.extract_utf8string(true).then([out](std::string body) mutable {
              out.body = std::move(body);
              return out;
            });
          })
          .then([promise, what](pplx::task<HttpResponse> t) {
            try {
              promise->set_value(t.get());
            } catch (const pplx::task_canceled&) {
              promise->set_value(DeadlineExceededError(what + ": canceled after the deadline"));
            } catch (const std::exception& e) {
              promise->set_value(UnavailableError(what + ": " + e.what()));
            }
          });
    } catch (const std::exception& e) {
      return UnavailableError(what + ": " + e.what());
    }
    if (future.wait_for(timeout) != std::future_status::ready) {
      // cpprestsdk's own timeout restarts with every chunk; this is the total.
      cts.cancel();
      return DeadlineExceededError(what + ": no complete answer within " +
                                   std::to_string(timeout.count()) + " ms");
    }
    return future.get();
  }

  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_line,
                                std::stop_token stop,
                                std::chrono::milliseconds idle_timeout) override {
    const std::string what = request.method + " " + request.path_and_query;
    pplx::cancellation_token_source cts;
    std::stop_callback cancel(stop, [&cts] { cts.cancel(); });
    HttpResponse out;
    try {
      // A client per stream: the idle timeout is per client, and a watch is
      // opened rarely enough for the set-up not to matter.
      http_client_config c = config_;
      c.set_timeout(idle_timeout);
      http_client client(base_, c);
      http_response resp = client.request(Build(request), cts.get_token()).get();
      out.status_code = resp.status_code();
      out.retry_after_seconds = RetryAfter(resp);
      if (out.status_code < 200 || out.status_code > 299) {
        out.body = resp.extract_utf8string(true).get();
        return out;
      }
      concurrency::streams::istream body = resp.body();
      // read_line rather than read(n): read(n) may wait for n bytes, and a
      // watch must hand over each event as soon as its line is complete.
      while (!stop.stop_requested()) {
        // A buffer of bytes, as the stream is: a container_buffer<std::string>
        // would be a streambuf<char> that cpprestsdk reinterprets as a
        // streambuf<unsigned char> (undefined behaviour UBSan reports).
        concurrency::streams::container_buffer<std::vector<uint8_t>> buf;
        body.read_line(buf).get();
        const std::vector<uint8_t>& bytes = buf.collection();
        std::string_view line(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
          if (body.is_eof()) break;
          continue;
        }
        if (!on_line(line)) {
          cts.cancel();
          return out;
        }
      }
      return out;
    } catch (const std::exception& e) {
      if (stop.stop_requested()) {
        if (out.status_code == 0) out.status_code = 200;
        return out;
      }
      return UnavailableError(what + (out.status_code == 0 ? ": " : ": stream broken: ") +
                              e.what());
    }
  }

 private:
  static std::optional<int> RetryAfter(const http_response& resp) {
    auto it = resp.headers().find("Retry-After");
    if (it == resp.headers().end()) return std::nullopt;
    try {
      size_t used = 0;
      int v = std::stoi(it->second, &used);
      if (used != it->second.size() || v < 0) return std::nullopt;
      return v;
    } catch (...) {
      return std::nullopt;  // an HTTP date: treated as absent
    }
  }

  static http_request Build(const HttpRequest& request) {
    http_request msg(request.method);
    msg.set_request_uri(web::uri(request.path_and_query));
    msg.headers().add("Accept", "application/json");
    msg.headers().add("User-Agent", "groupscaler/0.1");
    if (!request.authorization.empty()) msg.headers().add("Authorization", request.authorization);
    if (!request.content_type.empty()) {
      // The body as bytes: set_body(std::string) goes through a
      // streambuf<char> reinterpreted as bytes (undefined behaviour).
      msg.headers().set_content_type(request.content_type);
      msg.set_body(std::vector<unsigned char>(request.body.begin(), request.body.end()));
    }
    return msg;
  }

  const web::uri base_;
  const http_client_config config_;
  std::unique_ptr<http_client> client_;
};

}  // namespace

StatusOr<std::unique_ptr<Transport>> NewHttpTransport(const RestConfig& config) {
  try {
    web::uri base(config.server);
    if (base.scheme() != "https" && base.scheme() != "http") {
      return InvalidArgumentError("server \"" + config.server + "\" is not an http(s) URL");
    }
    http_client_config c;
    c.set_validate_certificates(true);
    if (base.scheme() == "https") {
      std::string ca = config.ca_pem;
      std::string cert = config.client_cert_pem;
      std::string key = config.client_key_pem;
      c.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
        if (ca.empty()) {
          ctx.set_default_verify_paths();
        } else if (boost::system::error_code ec = TrustOnly(ctx, ca)) {
          throw boost::system::system_error(ec, "certificate-authority");
        }
        if (!cert.empty()) {
          ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
          ctx.use_private_key(boost::asio::buffer(key.data(), key.size()),
                              boost::asio::ssl::context::pem);
        }
      });
    }
    return std::unique_ptr<Transport>(new HttpTransport(base, c));
  } catch (const std::exception& e) {
    return InvalidArgumentError("server \"" + config.server + "\": " + e.what());
  }
}

}  // namespace groupscaler::kube
