#include "controller/health_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace groupscaler::controller {
namespace {

// The whole answer to `request` from 127.0.0.1:port.
std::string Exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
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
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HealthServerTable,
    ::testing::Values(ProbeCase{.name = "Healthz",
                                .request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                .want_status_line = "HTTP/1.1 200 OK"},
                      ProbeCase{.name = "HealthzWhileNotReady",
                                .request = "GET /healthz HTTP/1.1\r\n\r\n",
                                .ready = false,
                                .want_status_line = "HTTP/1.1 200 OK"},
                      ProbeCase{.name = "ReadyzReady",
                                .request = "GET /readyz HTTP/1.1\r\n\r\n",
                                .want_status_line = "HTTP/1.1 200 OK"},
                      ProbeCase{.name = "ReadyzNotReady",
                                .request = "GET /readyz?verbose HTTP/1.1\r\n\r\n",
                                .ready = false,
                                .want_status_line = "HTTP/1.1 503 Service Unavailable"},
                      ProbeCase{.name = "UnknownPath",
                                .request = "GET /metrics HTTP/1.1\r\n\r\n",
                                .want_status_line = "HTTP/1.1 404 Not Found"},
                      ProbeCase{.name = "Post",
                                .request = "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                                .want_status_line = "HTTP/1.1 405 Method Not Allowed"}),
    [](const ::testing::TestParamInfo<ProbeCase>& info) { return info.param.name; });

TEST(HealthServer, BadAddressIsAnError) {
  EXPECT_FALSE(HealthServer::Start("no-port", [] { return true; }).ok());
  EXPECT_FALSE(HealthServer::Start("256.0.0.1:0", [] { return true; }).ok());
}

}  // namespace
}  // namespace groupscaler::controller
