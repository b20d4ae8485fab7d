#pragma once

// "host:port" as users write it in flags and as groupscaler writes it in
// URLs: the one parser and the one formatter, IPv6 included.

#include <charconv>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace groupscaler {

struct HostPort {
  std::string host;  // without brackets; empty for ":port" (every interface)
  int port = 0;      // 0..65535
};

// Parses "host:port", "[ipv6]:port" or ":port". The port is decimal, 0 to
// 65535; an IPv6 host needs its brackets ("::1:80" is ambiguous). Errors are
// INVALID_ARGUMENT and say what is wrong, naming neither the flag nor the
// text (the caller does).
inline StatusOr<HostPort> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return InvalidArgumentError("no port (host:port or :port)");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) {
      return InvalidArgumentError("brackets around a host that is not IPv6");
    }
  } else if (host.find_first_of("[]:") != std::string_view::npos) {
    return InvalidArgumentError("an IPv6 host needs brackets ([::1]:port)");
  }
  HostPort parsed{std::string(host), 0};
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), parsed.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || parsed.port < 0 ||
      parsed.port > 65535) {
    return InvalidArgumentError("the port is not a number from 0 to 65535");
  }
  return parsed;
}

// "host:port", with brackets around an IPv6 host.
inline std::string FormatHostPort(std::string_view host, std::string_view port) {
  const bool ipv6 = host.find(':') != std::string_view::npos && host.front() != '[';
  std::string text;
  text.reserve(host.size() + port.size() + 3);
  if (ipv6) text += '[';
  text += host;
  if (ipv6) text += ']';
  text += ':';
  text += port;
  return text;
}

// "a:1, b:2" (a bootstrap list as given on a command line) as its servers,
// each trimmed of spaces and tabs, empty ones left out.
inline std::vector<std::string> SplitServers(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream in(csv);
  for (std::string s; std::getline(in, s, ',');) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

}  // namespace groupscaler
