#pragma once

// What every fuzz target asserts besides "no crash, hang, leak, exception or
// sanitizer report": every input is either accepted or rejected with a clear
// error. A failed check prints what was wrong and aborts, which libFuzzer
// reports as a crash with the input saved as an artifact.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/status.h"

namespace groupscaler::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition,
                              std::string_view detail) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, condition);
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

// FUZZ_CHECK(cond) and FUZZ_CHECK_MSG(cond, detail): abort unless `cond`.
#define FUZZ_CHECK_MSG(cond, detail)                                           \
  do {                                                                         \
    if (!(cond)) ::groupscaler::fuzz::Fail(__FILE__, __LINE__, #cond, detail); \
  } while (false)
#define FUZZ_CHECK(cond) FUZZ_CHECK_MSG(cond, "")

// A rejection must say why: a non-OK code and a non-empty message.
inline void CheckRejection(const Status& status) {
  FUZZ_CHECK(!status.ok());
  FUZZ_CHECK_MSG(!status.message().empty(), status.ToString());
}

// "SOURCE:LINE: what" with LINE a positive number and `what` non-empty: the
// error format of the spec, trace and auth-file parsers.
inline void CheckLineError(const Status& status, std::string_view source) {
  CheckRejection(status);
  std::string_view m = status.message();
  const std::string prefix = std::string(source) + ":";
  FUZZ_CHECK_MSG(m.starts_with(prefix), m);
  m.remove_prefix(prefix.size());
  size_t digits = 0;
  while (digits < m.size() && m[digits] >= '0' && m[digits] <= '9') ++digits;
  FUZZ_CHECK_MSG(digits > 0 && m[0] != '0', status.message());
  m.remove_prefix(digits);
  FUZZ_CHECK_MSG(m.starts_with(": ") && m.size() > 2, status.message());
}

}  // namespace groupscaler::fuzz
