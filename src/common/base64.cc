#include "common/base64.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <cpprest/asyncrt_utils.h>

namespace groupscaler {
namespace {

// `in` without whitespace, with '-' and '_' as '+' and '/' when `url`,
// padded to a multiple of 4; nullopt when no padding can complete it.
std::optional<std::string> Canonical(std::string_view in, bool url) {
  std::string out;
  out.reserve(in.size() + 2);
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (url && (c == '+' || c == '/')) return std::nullopt;
    out.push_back(url && c == '-' ? '+' : url && c == '_' ? '/' : c);
  }
  if (out.size() % 4 == 1) return std::nullopt;
  if (out.find('=') == std::string::npos) out.append((4 - out.size() % 4) % 4, '=');
  return out;
}

StatusOr<std::string> Decode(std::string_view in, bool url) {
  const std::optional<std::string> canonical = Canonical(in, url);
  if (!canonical) return InvalidArgumentError("base64: truncated input or invalid character");
  std::vector<unsigned char> bytes;
  try {
    bytes = utility::conversions::from_base64(*canonical);
  } catch (const std::exception&) {
    return InvalidArgumentError("base64: invalid character or padding");
  }
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::string Base64Encode(std::string_view in) {
  return utility::conversions::to_base64(std::vector<unsigned char>(in.begin(), in.end()));
}

std::string Base64UrlEncode(std::string_view in) {
  std::string out = Base64Encode(in);
  out.erase(std::find(out.begin(), out.end(), '='), out.end());
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view in) { return Decode(in, /*url=*/false); }

StatusOr<std::string> Base64UrlDecode(std::string_view in) { return Decode(in, /*url=*/true); }

}  // namespace groupscaler
