// The only file of the controller that drives Boost.Beast; its errors
// become a Status here.

#include "controller/health_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <string_view>
#include <thread>
#include <utility>

#include "common/host_port.h"

namespace groupscaler::controller {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// How long a connection may take to send its request: a probe sends it at
// once.
constexpr std::chrono::seconds kRequestTimeout(1);

// The status and body of `request`.
std::pair<http::status, std::string> Route(const Request& request,
                                           const std::function<bool()>& ready) {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    return {http::status::method_not_allowed, "method not allowed\n"};
  }
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return {http::status::ok, "ok\n"};
  if (path == "/readyz") {
    if (ready && ready()) return {http::status::ok, "ok\n"};
    return {http::status::service_unavailable, "not ready\n"};
  }
  return {http::status::not_found, "not found\n"};
}

Response Answer(const Request& request, const std::function<bool()>& ready) {
  auto [status, body] = Route(request, ready);
  Response response(status, /*version=*/11);
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.keep_alive(false);
  response.body() = std::move(body);
  response.prepare_payload();
  // HEAD: the headers of GET, Content-Length included, and no body.
  if (request.method() == http::verb::head) response.body().clear();
  return response;
}

// One connection: read one request, answer it, close.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(tcp::socket socket, const std::function<bool()>* ready)
      : stream_(std::move(socket)), ready_(ready) {}

  void Start() {
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       // Closed, silent or malformed: nothing to answer.
                       if (!ec) self->Reply();
                     });
  }

 private:
  void Reply() {
    response_ = Answer(request_, *ready_);
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Request request_;
  Response response_;
  const std::function<bool()>* ready_;
};

}  // namespace

class HealthServer::Server {
 public:
  explicit Server(std::function<bool()> ready) : ready_(std::move(ready)) {}
  ~Server() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Listens on the first address of `host` that can be bound, as
  // getaddrinfo orders them; the port bound.
  StatusOr<int> Listen(const std::string& host, int port, const std::string& bind_address) {
    beast::error_code ec;
    tcp::resolver resolver(io_);
    const auto found = resolver.resolve(
        host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec)
      return InvalidArgumentError("health probe address '" + bind_address + "': " + ec.message());
    std::string last_error = "no address";
    for (const auto& entry : found) {
      tcp::acceptor acceptor(io_);
      acceptor.open(entry.endpoint().protocol(), ec);
      if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor.bind(entry.endpoint(), ec);
      if (!ec) acceptor.listen(16, ec);
      if (ec) {
        last_error = "bind " + bind_address + ": " + ec.message();
        continue;
      }
      acceptor_ = std::move(acceptor);
      return acceptor_.local_endpoint().port();
    }
    return UnavailableError("health probe server: " + last_error);
  }

  // Serves on a thread of its own until destroyed.
  void Run() {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Exchange>(std::move(socket), &ready_)->Start();
      Accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  const std::function<bool()> ready_;
  std::thread thread_;
};

StatusOr<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& bind_address,
                                                            std::function<bool()> ready) {
  StatusOr<HostPort> address = ParseHostPort(bind_address);
  if (!address.ok()) {
    return InvalidArgumentError("health probe address '" + bind_address +
                                "' is not host:port or :port: " + address.status().message());
  }
  auto server = std::make_unique<Server>(std::move(ready));
  StatusOr<int> port = server->Listen(address->host, address->port, bind_address);
  if (!port.ok()) return port.status();
  server->Run();
  return std::unique_ptr<HealthServer>(new HealthServer(std::move(server), *port));
}

HealthServer::HealthServer(std::unique_ptr<Server> server, int port)
    : server_(std::move(server)), port_(port) {}

HealthServer::~HealthServer() = default;

}  // namespace groupscaler::controller
