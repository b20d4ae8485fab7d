#pragma once

// Reading a Prometheus text exposition in tests; HttpGet fetches one.

#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "support/http_get.h"

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

using groupscaler::testing::HttpAnswer;
using groupscaler::testing::HttpGet;

}  // namespace groupscaler::metrics::testing
