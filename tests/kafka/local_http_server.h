#pragma once

// A local HTTP server for the AWS credential tests, playing STS or the EKS
// Pod Identity agent: cpprestsdk's http_listener on 127.0.0.1 at a free
// port. It records every request and answers it with the handler's
// response. Handlers run on cpprestsdk's threads.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace groupscaler::testing {

struct RecordedRequest {
  std::string method;
  std::string path_and_query;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct CannedResponse {
  int status = 200;
  std::string content_type = "text/xml";
  std::string body;
};

class LocalHttpServer {
 public:
  using Handler = std::function<CannedResponse(const RecordedRequest&)>;
  // Null when no port could be listened on (the test fails saying so).
  static std::unique_ptr<LocalHttpServer> Start(Handler handler);
  ~LocalHttpServer();

  // "http://127.0.0.1:PORT/"
  const std::string& url() const { return url_; }
  std::vector<RecordedRequest> requests() const;

 private:
  struct Impl;
  LocalHttpServer() = default;
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

}  // namespace groupscaler::testing
