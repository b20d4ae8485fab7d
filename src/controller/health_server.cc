#include "controller/health_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/fd.h"
#include "common/host_port.h"

namespace groupscaler::controller {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

StatusOr<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& bind_address,
                                                            std::function<bool()> ready) {
  StatusOr<HostPort> address = ParseHostPort(bind_address);
  if (!address.ok()) {
    return InvalidArgumentError("health probe address '" + bind_address +
                                "' is not host:port or :port: " + address.status().message());
  }
  const std::string& host = address->host;
  const std::string port = std::to_string(address->port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return InvalidArgumentError("health probe address '" + bind_address +
                                "': " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last_error = Errno("socket");
      continue;
    }
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 16) != 0) {
      last_error = Errno("bind " + bind_address);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    const int bound_port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return std::unique_ptr<HealthServer>(
        new HealthServer(fd.release(), bound_port, std::move(ready)));
  }
  return UnavailableError("health probe server: " + last_error);
}

HealthServer::HealthServer(int fd, int port, std::function<bool()> ready)
    : fd_(fd), port_(port), ready_(std::move(ready)) {
  thread_ = std::jthread([this](std::stop_token stop) { Serve(stop); });
}

HealthServer::~HealthServer() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void HealthServer::Serve(std::stop_token stop) {
  while (!stop.stop_requested()) {
    // Polling with a short timeout is how the thread notices stop without
    // a second descriptor to wake it.
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    Fd client(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (client.get() >= 0) Answer(client.get());
  }
}

void HealthServer::Answer(int client) {
  // The request line is all that matters; a probe sends it at once.
  std::string request;
  char buf[1024];
  while (request.find("\r\n") == std::string::npos && request.size() < 8192) {
    pollfd p{.fd = client, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 1000) <= 0) return;
    const ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  const size_t sp1 = request.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? sp1 : request.find(' ', sp1 + 1);
  std::string path = sp2 == std::string::npos ? "" : request.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  const std::string method = request.substr(0, sp1);

  int code = 404;
  std::string body = "not found\n";
  if (method != "GET" && method != "HEAD") {
    code = 405;
    body = "method not allowed\n";
  } else if (path == "/healthz") {
    code = 200;
    body = "ok\n";
  } else if (path == "/readyz") {
    const bool ready = ready_ && ready_();
    code = ready ? 200 : 503;
    body = ready ? "ok\n" : "not ready\n";
  }
  const char* text = code == 200   ? "OK"
                     : code == 503 ? "Service Unavailable"
                     : code == 405 ? "Method Not Allowed"
                                   : "Not Found";
  std::string response = "HTTP/1.1 " + std::to_string(code) + " " + text +
                         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (method != "HEAD") response += body;
  size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace groupscaler::controller
