#include "kafka/api_versions_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "common/host_port.h"

namespace groupscaler::kafka {
namespace {

using SteadyClock = std::chrono::steady_clock;

int RemainingMs(SteadyClock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

bool WaitFor(int fd, short events, SteadyClock::time_point deadline) {
  pollfd pfd{fd, events, 0};
  return poll(&pfd, 1, RemainingMs(deadline)) == 1 && (pfd.revents & events);
}

void PutInt16(std::vector<uint8_t>& b, int16_t v) {
  b.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
  b.push_back(static_cast<uint8_t>(v & 0xff));
}
void PutInt32(std::vector<uint8_t>& b, int32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    b.push_back(static_cast<uint8_t>((v >> shift) & 0xff));
}
int32_t GetInt32(const uint8_t* p) {
  return static_cast<int32_t>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                              (uint32_t{p[2]} << 8) | uint32_t{p[3]});
}
int16_t GetInt16(const uint8_t* p) {
  return static_cast<int16_t>((uint16_t{p[0]} << 8) | uint16_t{p[1]});
}

}  // namespace

StatusOr<bool> BrokerSupportsApi(const std::string& host_port, int16_t api_key,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  StatusOr<HostPort> address = ParseHostPort(host_port);
  if (!address.ok()) {
    return InvalidArgumentError("expected host:port: " + host_port + ": " +
                                address.status().message());
  }
  const std::string& host = address->host;
  const std::string port = std::to_string(address->port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return UnavailableError("cannot resolve " + host_port);
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, freeaddrinfo);

  Fd fd(socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  if (connect(fd.get(), found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
    return UnavailableError("connect " + host_port + ": " + std::strerror(errno));
  }
  if (!WaitFor(fd.get(), POLLOUT, deadline)) {
    return UnavailableError("connect " + host_port + ": no connection in time");
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    return UnavailableError("connect " + host_port + ": " + std::strerror(so_error));
  }

  // ApiVersions v0: the header is api key, version, correlation id, client id.
  const std::string client_id = "groupscaler-probe";
  std::vector<uint8_t> body;
  PutInt16(body, 18);
  PutInt16(body, 0);
  PutInt32(body, 1);
  PutInt16(body, static_cast<int16_t>(client_id.size()));
  body.insert(body.end(), client_id.begin(), client_id.end());
  std::vector<uint8_t> request;
  PutInt32(request, static_cast<int32_t>(body.size()));
  request.insert(request.end(), body.begin(), body.end());
  size_t sent = 0;
  while (sent < request.size()) {
    if (!WaitFor(fd.get(), POLLOUT, deadline)) return UnavailableError("send to " + host_port);
    const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return UnavailableError("send to " + host_port);
    sent += static_cast<size_t>(n);
  }

  std::vector<uint8_t> response;
  size_t wanted = 4;
  while (response.size() < wanted) {
    if (!WaitFor(fd.get(), POLLIN, deadline)) {
      return UnavailableError("no ApiVersions answer from " + host_port);
    }
    uint8_t chunk[4096];
    const ssize_t n = recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n <= 0) return UnavailableError("connection closed by " + host_port);
    response.insert(response.end(), chunk, chunk + n);
    if (response.size() >= 4 && wanted == 4) {
      const int32_t size = GetInt32(response.data());
      if (size < 10 || size > (1 << 20)) return UnavailableError("bad answer from " + host_port);
      wanted = 4 + static_cast<size_t>(size);
    }
  }
  // size, correlation id, error code, [api key, min, max].
  const uint8_t* p = response.data() + 8;
  const int16_t error = GetInt16(p);
  if (error != 0) return UnavailableError("ApiVersions error " + std::to_string(error));
  const int32_t count = GetInt32(p + 2);
  if (count < 0 || 10 + static_cast<size_t>(count) * 6 > response.size() - 4) {
    return UnavailableError("bad answer from " + host_port);
  }
  for (int32_t i = 0; i < count; ++i) {
    if (GetInt16(p + 6 + i * 6) == api_key) return true;
  }
  return false;
}

}  // namespace groupscaler::kafka
