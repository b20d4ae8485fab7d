#include "support/http_get.h"

#include <cpprest/http_client.h>

#include <exception>

namespace groupscaler::testing {

HttpAnswer HttpGet(int port, const std::string& path_and_query, std::chrono::milliseconds timeout) {
  web::http::client::http_client_config config;
  config.set_timeout(timeout);
  HttpAnswer answer;
  try {
    web::http::client::http_client client("http://127.0.0.1:" + std::to_string(port), config);
    web::http::http_response response =
        client.request(web::http::methods::GET, path_and_query).get();
    answer.code = response.status_code();
    answer.body = response.extract_utf8string(true).get();
  } catch (const std::exception&) {
    answer = {};
  }
  return answer;
}

std::string UrlEncode(const std::string& s) { return web::uri::encode_data_string(s); }

}  // namespace groupscaler::testing
