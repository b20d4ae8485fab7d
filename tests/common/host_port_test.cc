#include "common/host_port.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace groupscaler {
namespace {

using ::testing::HasSubstr;

struct Parsed {
  const char* name;
  const char* text;
  const char* host;
  int port;
};

class ParseHostPortTest : public ::testing::TestWithParam<Parsed> {};

TEST_P(ParseHostPortTest, SplitsHostAndPort) {
  const Parsed& c = GetParam();
  StatusOr<HostPort> parsed = ParseHostPort(c.text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->host, c.host);
  EXPECT_EQ(parsed->port, c.port);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseHostPortTest,
    ::testing::Values(Parsed{"HostAndPort", "kafka-0.kafka:9092", "kafka-0.kafka", 9092},
                      Parsed{"Ipv4", "127.0.0.1:8081", "127.0.0.1", 8081},
                      Parsed{"AnyInterface", ":8080", "", 8080}, Parsed{"PortZero", ":0", "", 0},
                      Parsed{"HighestPort", "h:65535", "h", 65535},
                      Parsed{"Ipv6Loopback", "[::1]:9092", "::1", 9092},
                      Parsed{"Ipv6Any", "[::]:8081", "::", 8081},
                      Parsed{"Ipv6Full", "[fd00:10:96::1]:443", "fd00:10:96::1", 443}),
    [](const ::testing::TestParamInfo<Parsed>& info) { return std::string(info.param.name); });

struct Refused {
  const char* name;
  const char* text;
  const char* why;
};

class ParseHostPortRefusalTest : public ::testing::TestWithParam<Refused> {};

TEST_P(ParseHostPortRefusalTest, SaysWhatIsWrong) {
  const Refused& c = GetParam();
  StatusOr<HostPort> parsed = ParseHostPort(c.text);
  ASSERT_FALSE(parsed.ok()) << c.text;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr(c.why));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseHostPortRefusalTest,
    ::testing::Values(Refused{"NoPort", "localhost", "no port"},
                      Refused{"EmptyPort", "127.0.0.1:", "0 to 65535"},
                      Refused{"PortTooLarge", ":65536", "0 to 65535"},
                      Refused{"NegativePort", ":-1", "0 to 65535"},
                      Refused{"PortNotANumber", ":http", "0 to 65535"},
                      Refused{"PortWithSpace", ":80 ", "0 to 65535"},
                      Refused{"Ipv6WithoutBrackets", "::1:9092", "needs brackets"},
                      Refused{"UnclosedBracket", "[::1:9092", "needs brackets"},
                      Refused{"BracketsAroundIpv4", "[127.0.0.1]:80", "not IPv6"}),
    [](const ::testing::TestParamInfo<Refused>& info) { return std::string(info.param.name); });

TEST(FormatHostPortTest, BracketsIpv6Only) {
  EXPECT_EQ(FormatHostPort("10.96.0.1", "443"), "10.96.0.1:443");
  EXPECT_EQ(FormatHostPort("kubernetes.default.svc", "443"), "kubernetes.default.svc:443");
  EXPECT_EQ(FormatHostPort("fd00:10:96::1", "443"), "[fd00:10:96::1]:443");
  EXPECT_EQ(FormatHostPort("[fd00::1]", "443"), "[fd00::1]:443");
}

TEST(FormatHostPortTest, ParsesBackToItsParts) {
  for (const char* host : {"10.0.0.1", "broker", "::1", "fd00:10:96::1"}) {
    StatusOr<HostPort> parsed = ParseHostPort(FormatHostPort(host, "9092"));
    ASSERT_TRUE(parsed.ok()) << host;
    EXPECT_EQ(parsed->host, host);
    EXPECT_EQ(parsed->port, 9092);
  }
}

TEST(SplitServers, TrimsEachAndDropsEmptyOnes) {
  EXPECT_THAT(SplitServers(" a:1, b:2 ,,\tc:3"), ::testing::ElementsAre("a:1", "b:2", "c:3"));
  EXPECT_THAT(SplitServers(""), ::testing::IsEmpty());
}

}  // namespace
}  // namespace groupscaler
