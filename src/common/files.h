#pragma once

// Reading the files users hand us (traces, specs, kubeconfigs) without
// trusting their size.

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "common/status.h"

namespace groupscaler {

// Reads at most `limit` bytes of `path`; more is an error, so that neither a
// huge file nor an endless one (/dev/zero, a pipe) can exhaust memory. Errors
// read `PATH: cannot read: reason`.
inline StatusOr<std::string> ReadFileBounded(const std::string& path, size_t limit) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgumentError(path + ": cannot read: is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(path + ": cannot read: " + std::strerror(errno));
  std::string text;
  char chunk[64 * 1024];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > limit) {
      return InvalidArgumentError(path + ": cannot read: larger than " + std::to_string(limit) +
                                  " bytes");
    }
  }
  if (in.bad()) return InvalidArgumentError(path + ": cannot read: " + std::strerror(errno));
  return text;
}

}  // namespace groupscaler
