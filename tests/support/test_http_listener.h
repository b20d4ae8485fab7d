#pragma once

// cpprestsdk's http_listener as the test servers use it (the STS and Pod
// Identity stand-ins of tests/kafka, the OAuth token endpoint): opened on a
// given port or a free one, every request handed to one handler on
// cpprestsdk's threads, closed when destroyed. Includes cpprestsdk: only the
// servers' own .cc files include this.

#include <cpprest/http_listener.h>

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace groupscaler::testing {

class TestHttpListener {
 public:
  using Handler = std::function<void(web::http::http_request)>;
  struct Options {
    std::string scheme = "http";  // "https" needs a TLS `config`
    std::string host = "127.0.0.1";
    // 0: a free port (FreePort), another one if a process takes it first.
    int port = 0;
    web::http::experimental::listener::http_listener_config config;
  };

  // UNAVAILABLE, saying why, when nothing could be listened on.
  static StatusOr<std::unique_ptr<TestHttpListener>> Start(Options options, Handler handler);
  // Closes the listener; returns once no handler runs.
  ~TestHttpListener();
  TestHttpListener(const TestHttpListener&) = delete;
  TestHttpListener& operator=(const TestHttpListener&) = delete;

  int port() const { return port_; }
  // "scheme://host:port/"
  const std::string& url() const { return url_; }

 private:
  TestHttpListener(std::unique_ptr<web::http::experimental::listener::http_listener> listener,
                   int port, std::string url);

  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  int port_;
  std::string url_;
};

// Replies `code` to `request` with `body` of `content_type`. The body goes
// as bytes: a std::string body passes through a streambuf<char> that
// cpprestsdk reinterprets (UBSan's vptr check flags it).
void ReplyBytes(const web::http::http_request& request, web::http::status_code code,
                const std::string& body, const std::string& content_type);

}  // namespace groupscaler::testing
