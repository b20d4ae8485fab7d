#include "support/test_http_listener.h"

#include <utility>
#include <vector>

#include "support/subprocess.h"

namespace groupscaler::testing {

using web::http::experimental::listener::http_listener;

namespace {

// A free port taken by another process before we listen: try another.
constexpr int kFreePortAttempts = 5;

}  // namespace

StatusOr<std::unique_ptr<TestHttpListener>> TestHttpListener::Start(Options options,
                                                                    Handler handler) {
  std::string last_error;
  for (int attempt = 0; attempt < kFreePortAttempts; ++attempt) {
    const int port = options.port != 0 ? options.port : FreePort();
    const std::string url =
        options.scheme + "://" + options.host + ":" + std::to_string(port) + "/";
    try {
      auto listener = std::make_unique<http_listener>(web::uri(url), options.config);
      listener->support(handler);
      listener->open().wait();
      return std::unique_ptr<TestHttpListener>(
          new TestHttpListener(std::move(listener), port, url));
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    if (options.port != 0) break;
  }
  return UnavailableError("cannot listen on " + options.host + ": " + last_error);
}

TestHttpListener::TestHttpListener(std::unique_ptr<http_listener> listener, int port,
                                   std::string url)
    : listener_(std::move(listener)), port_(port), url_(std::move(url)) {}

TestHttpListener::~TestHttpListener() {
  try {
    listener_->close().wait();
  } catch (const std::exception&) {
    // Closing at the end of a test: nothing to report it to.
  }
}

void ReplyBytes(const web::http::http_request& request, web::http::status_code code,
                const std::string& body, const std::string& content_type) {
  web::http::http_response response(code);
  response.set_body(std::vector<unsigned char>(body.begin(), body.end()));
  response.headers().set_content_type(content_type);
  request.reply(response).wait();
}

}  // namespace groupscaler::testing
