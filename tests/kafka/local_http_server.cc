#include "local_http_server.h"

#include <algorithm>

#include "support/test_http_listener.h"

namespace groupscaler::testing {

using web::http::http_request;

struct LocalHttpServer::Impl {
  Handler handler;
  mutable std::mutex mu;
  std::vector<RecordedRequest> requests;  // guarded by mu
  // Last: closed before anything Serve uses goes.
  std::unique_ptr<TestHttpListener> listener;

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
    ReplyBytes(request, static_cast<web::http::status_code>(response.status), response.body,
               response.content_type);
  }
};

std::unique_ptr<LocalHttpServer> LocalHttpServer::Start(Handler handler) {
  std::unique_ptr<LocalHttpServer> server(new LocalHttpServer());
  server->impl_ = std::make_unique<Impl>();
  server->impl_->handler = std::move(handler);
  Impl* impl = server->impl_.get();
  StatusOr<std::unique_ptr<TestHttpListener>> listener = TestHttpListener::Start(
      {}, [impl](http_request request) { impl->Serve(std::move(request)); });
  if (!listener.ok()) return nullptr;
  server->url_ = (*listener)->url();
  server->impl_->listener = std::move(listener).value();
  return server;
}

LocalHttpServer::~LocalHttpServer() = default;

std::vector<RecordedRequest> LocalHttpServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

}  // namespace groupscaler::testing
