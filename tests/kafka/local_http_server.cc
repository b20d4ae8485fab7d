#include "local_http_server.h"

#include <cpprest/http_listener.h>

#include <algorithm>

#include "support/subprocess.h"

namespace groupscaler::testing {

using web::http::http_request;
using web::http::experimental::listener::http_listener;

struct LocalHttpServer::Impl {
  Handler handler;
  std::unique_ptr<http_listener> listener;
  mutable std::mutex mu;
  std::vector<RecordedRequest> requests;  // guarded by mu

  void Serve(http_request request) {
    RecordedRequest recorded;
    recorded.method = request.method();
    recorded.path_and_query = request.request_uri().resource().to_string();
    for (const auto& [name, value] : request.headers()) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      recorded.headers[lower] = value;
    }
    const std::vector<unsigned char> body = request.extract_vector().get();
    recorded.body.assign(body.begin(), body.end());
    {
      std::lock_guard lock(mu);
      requests.push_back(recorded);
    }
    const CannedResponse response = handler(recorded);
    web::http::http_response reply(static_cast<web::http::status_code>(response.status));
    reply.set_body(std::vector<unsigned char>(response.body.begin(), response.body.end()));
    reply.headers().set_content_type(response.content_type);
    request.reply(reply).wait();
  }
};

std::unique_ptr<LocalHttpServer> LocalHttpServer::Start(Handler handler) {
  std::unique_ptr<LocalHttpServer> server(new LocalHttpServer());
  server->impl_ = std::make_unique<Impl>();
  server->impl_->handler = std::move(handler);
  // cpprestsdk cannot listen on port 0: take a free port, again if another
  // process took it meanwhile.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::string url = "http://127.0.0.1:" + std::to_string(FreePort()) + "/";
    try {
      auto listener = std::make_unique<http_listener>(web::uri(url));
      Impl* impl = server->impl_.get();
      listener->support([impl](http_request request) { impl->Serve(std::move(request)); });
      listener->open().wait();
      server->impl_->listener = std::move(listener);
      server->url_ = url;
      return server;
    } catch (const std::exception&) {
      continue;
    }
  }
  return nullptr;
}

LocalHttpServer::~LocalHttpServer() {
  if (impl_ && impl_->listener) impl_->listener->close().wait();
}

std::vector<RecordedRequest> LocalHttpServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

}  // namespace groupscaler::testing
