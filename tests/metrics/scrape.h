#pragma once

// Reading a Prometheus text exposition in tests; HttpGet fetches one,
// PromtoolCheck parses it as Prometheus does.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "support/http_get.h"
#include "support/subprocess.h"

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

// Debian's promtool (`check metrics`) over `text`: exit code 0 and nothing
// said when it parses and lints clean.
inline groupscaler::testing::RunResult PromtoolCheck(const std::string& text) {
  const std::string file =
      ::testing::TempDir() + "/promtool-" + std::to_string(::getpid()) + "-scrape.txt";
  std::ofstream(file) << text;
  groupscaler::testing::RunResult result = groupscaler::testing::RunProcess(
      {"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file}, std::chrono::seconds(60));
  std::remove(file.c_str());
  return result;
}

using groupscaler::testing::HttpAnswer;
using groupscaler::testing::HttpGet;

}  // namespace groupscaler::metrics::testing
