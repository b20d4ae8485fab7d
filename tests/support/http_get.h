#pragma once

// A plain HTTP GET (or POST) to a server on loopback, for tests of the endpoints
// groupscaler and its test peers serve (/metrics, /healthz, Prometheus' API).

#include <chrono>
#include <string>

namespace groupscaler::testing {

struct HttpAnswer {
  int code = 0;  // 0: no answer (refused, timed out)
  std::string body;
};

// GET `path_and_query` (already URL-encoded) from 127.0.0.1:`port`.
HttpAnswer HttpGet(int port, const std::string& path_and_query,
                   std::chrono::milliseconds timeout = std::chrono::seconds(2));

// POST `json_body` (application/json) to 127.0.0.1:`port``path`.
HttpAnswer HttpPost(int port, const std::string& path, const std::string& json_body,
                    std::chrono::milliseconds timeout = std::chrono::seconds(2));

// `s` percent-encoded for a query parameter's value.
std::string UrlEncode(const std::string& s);

}  // namespace groupscaler::testing
