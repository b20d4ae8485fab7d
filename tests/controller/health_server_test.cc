#include "controller/health_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

namespace groupscaler::controller {
namespace {

// The whole answer to `request` from 127.0.0.1:port, or [::1]:port.
std::string Exchange(int port, const std::string& request, bool ipv6 = false) {
  const int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  sockaddr_storage storage{};
  socklen_t len = 0;
  if (ipv6) {
    auto* addr = reinterpret_cast<sockaddr_in6*>(&storage);
    addr->sin6_family = AF_INET6;
    addr->sin6_port = htons(static_cast<uint16_t>(port));
    addr->sin6_addr = in6addr_loopback;
    len = sizeof *addr;
  } else {
    auto* addr = reinterpret_cast<sockaddr_in*>(&storage);
    addr->sin_family = AF_INET;
    addr->sin_port = htons(static_cast<uint16_t>(port));
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *addr;
  }
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), len) == 0) {
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[512];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, n);
  }
  ::close(fd);
  return answer;
}

struct ProbeCase {
  std::string name;
  std::string request;
  bool ready = true;
  std::string want_status_line;
  std::string want_body;
};

class HealthServerTable : public ::testing::TestWithParam<ProbeCase> {};

void PrintTo(const ProbeCase& c, std::ostream* os) { *os << c.name; }

TEST_P(HealthServerTable, Answers) {
  const ProbeCase& c = GetParam();
  std::atomic<bool> ready{c.ready};
  auto server = HealthServer::Start("127.0.0.1:0", [&] { return ready.load(); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string answer = Exchange((*server)->port(), c.request);
  EXPECT_EQ(answer.substr(0, answer.find("\r\n")), c.want_status_line) << answer;
  const size_t end_of_headers = answer.find("\r\n\r\n");
  ASSERT_NE(end_of_headers, std::string::npos) << answer;
  EXPECT_EQ(answer.substr(end_of_headers + 4), c.want_body) << answer;
  EXPECT_NE(answer.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos)
      << answer;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HealthServerTable,
    ::testing::Values(ProbeCase{.name = "Healthz",
                                .request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                .want_status_line = "HTTP/1.1 200 OK",
                                .want_body = "ok\n"},
                      ProbeCase{.name = "HealthzWhileNotReady",
                                .request = "GET /healthz HTTP/1.1\r\n\r\n",
                                .ready = false,
                                .want_status_line = "HTTP/1.1 200 OK",
                                .want_body = "ok\n"},
                      ProbeCase{.name = "ReadyzReady",
                                .request = "GET /readyz HTTP/1.1\r\n\r\n",
                                .want_status_line = "HTTP/1.1 200 OK",
                                .want_body = "ok\n"},
                      ProbeCase{.name = "ReadyzNotReady",
                                .request = "GET /readyz?verbose HTTP/1.1\r\n\r\n",
                                .ready = false,
                                .want_status_line = "HTTP/1.1 503 Service Unavailable",
                                .want_body = "not ready\n"},
                      ProbeCase{.name = "HeadHasNoBody",
                                .request = "HEAD /readyz HTTP/1.1\r\n\r\n",
                                .ready = false,
                                .want_status_line = "HTTP/1.1 503 Service Unavailable",
                                .want_body = ""},
                      ProbeCase{.name = "Http10",
                                .request = "GET /healthz HTTP/1.0\r\n\r\n",
                                .want_status_line = "HTTP/1.1 200 OK",
                                .want_body = "ok\n"},
                      ProbeCase{.name = "UnknownPath",
                                .request = "GET /metrics HTTP/1.1\r\n\r\n",
                                .want_status_line = "HTTP/1.1 404 Not Found",
                                .want_body = "not found\n"},
                      ProbeCase{.name = "Post",
                                .request = "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                                .want_status_line = "HTTP/1.1 405 Method Not Allowed",
                                .want_body = "method not allowed\n"}),
    [](const ::testing::TestParamInfo<ProbeCase>& info) { return info.param.name; });

TEST(HealthServer, BadAddressIsAnError) {
  EXPECT_FALSE(HealthServer::Start("no-port", [] { return true; }).ok());
  EXPECT_FALSE(HealthServer::Start("256.0.0.1:0", [] { return true; }).ok());
  EXPECT_EQ(HealthServer::Start("no-port", [] { return true; }).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(HealthServer, TakenPortSaysWhy) {
  auto first = HealthServer::Start("127.0.0.1:0", [] { return true; });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HealthServer::Start(taken, [] { return true; });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("Address already in use"), std::string::npos)
      << second.status().message();
}

// "[::]:port" listens on every interface, IPv6 and (dual-stack) IPv4.
TEST(HealthServer, Ipv6AnyServesBothFamilies) {
  auto server = HealthServer::Start("[::]:0", [] { return true; });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string request = "GET /healthz HTTP/1.1\r\n\r\n";
  EXPECT_EQ(Exchange((*server)->port(), request, /*ipv6=*/true).substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(Exchange((*server)->port(), request).substr(0, 15), "HTTP/1.1 200 OK");
}

// The controller stops it within its shutdown budget: at once, even with
// a connection open that never sends its request.
TEST(HealthServer, StopsAtOnceWithAConnectionOpen) {
  auto server = HealthServer::Start("127.0.0.1:0", [] { return true; });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>((*server)->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const auto start = std::chrono::steady_clock::now();
  server->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  ::close(fd);
}

}  // namespace
}  // namespace groupscaler::controller
