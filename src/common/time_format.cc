#include "common/time_format.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace groupscaler {

std::string FormatMicroTime(Timestamp t) {
  std::string s = FormatRfc3339(t);
  const auto ms = (t - std::chrono::floor<std::chrono::seconds>(t)).count();  // 0-999
  char frac[32];
  std::snprintf(frac, sizeof frac, ".%03d000Z", static_cast<int>(ms));
  s.pop_back();  // the 'Z'
  return s + frac;
}

StatusOr<Timestamp> ParseTime(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return InvalidArgumentError("time \"" + s + "\" is not RFC 3339");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::chrono::milliseconds ms(0);
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    int64_t frac = 0;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, ++digits) {
      if (digits < 3) frac = frac * 10 + (s[i] - '0');
    }
    for (int d = digits; d < 3; ++d) frac *= 10;
    ms = std::chrono::milliseconds(frac);
  }
  int64_t offset_seconds = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) {
    // UTC
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int hh = std::atoi(s.substr(i + 1, 2).c_str());
    int mm = std::atoi(s.substr(i + 4, 2).c_str());
    offset_seconds = (s[i] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
  } else {
    return InvalidArgumentError("time \"" + s + "\" is not RFC 3339");
  }
  std::time_t secs = timegm(&tm) - offset_seconds;
  return Timestamp(std::chrono::seconds(secs)) + ms;
}

}  // namespace groupscaler
