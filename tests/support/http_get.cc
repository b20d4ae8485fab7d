#include "support/http_get.h"

#include <cpprest/http_client.h>

#include <exception>

namespace groupscaler::testing {
namespace {

HttpAnswer Request(const web::http::method& method, int port, const std::string& path_and_query,
                   const std::string& json_body, std::chrono::milliseconds timeout) {
  web::http::client::http_client_config config;
  config.set_timeout(timeout);
  HttpAnswer answer;
  try {
    web::http::client::http_client client("http://127.0.0.1:" + std::to_string(port), config);
    web::http::http_response response =
        json_body.empty()
            ? client.request(method, path_and_query).get()
            : client.request(method, path_and_query, json_body, "application/json").get();
    answer.code = response.status_code();
    answer.body = response.extract_utf8string(true).get();
  } catch (const std::exception&) {
    answer = {};
  }
  return answer;
}

}  // namespace

HttpAnswer HttpGet(int port, const std::string& path_and_query, std::chrono::milliseconds timeout) {
  return Request(web::http::methods::GET, port, path_and_query, "", timeout);
}

HttpAnswer HttpPost(int port, const std::string& path, const std::string& json_body,
                    std::chrono::milliseconds timeout) {
  return Request(web::http::methods::POST, port, path, json_body, timeout);
}

std::string UrlEncode(const std::string& s) { return web::uri::encode_data_string(s); }

}  // namespace groupscaler::testing
