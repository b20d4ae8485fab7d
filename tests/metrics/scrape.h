#pragma once

// Reading a Prometheus text exposition in tests, and fetching one over HTTP.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace groupscaler::metrics::testing {

// The value of `series` (`name{label="value",...}` as exposed, labels in
// name order, or a bare name) in `text`; nullopt when absent.
inline std::optional<double> Value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

// Series (sample lines) of the metric `name` in `text`.
inline int CountSeries(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, name.size(), name) == 0 && line.size() > name.size() &&
        (line[name.size()] == '{' || line[name.size()] == ' ')) {
      ++n;
    }
  }
  return n;
}

struct HttpAnswer {
  int code = 0;  // 0: no answer
  std::string body;
};

// GET `path` from 127.0.0.1:`port` (HTTP/1.1, Connection: close), waiting
// up to two seconds for the whole answer.
inline HttpAnswer HttpGet(int port, const std::string& path) {
  HttpAnswer answer;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      char buf[4096];
      while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        response.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  const size_t header_end = response.find("\r\n\r\n");
  if (response.size() > 12 && header_end != std::string::npos) {
    answer.code = std::atoi(response.c_str() + 9);
    answer.body = response.substr(header_end + 4);
  }
  return answer;
}

}  // namespace groupscaler::metrics::testing
