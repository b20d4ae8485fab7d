#pragma once

// Base64 (RFC 4648), standard and URL-safe, through cpprestsdk's codec
// (utility::conversions), linked by groupscaler_common; this header is free
// of it.
//
// Contract:
// * Base64Encode pads with '='; Base64UrlEncode ('-' and '_', section 5)
//   does not, as JWTs and MSK IAM tokens carry it.
// * The decoders take what Kubernetes, kubeconfig files and JWTs give:
//   whitespace (line wraps) is skipped and the padding is optional. Any
//   other character outside the alphabet, data after padding, or a length
//   that no padding completes is an InvalidArgument error (no data echoed).

#include <string>
#include <string_view>

#include "common/status.h"

namespace groupscaler {

std::string Base64Encode(std::string_view in);
std::string Base64UrlEncode(std::string_view in);
StatusOr<std::string> Base64Decode(std::string_view in);
StatusOr<std::string> Base64UrlDecode(std::string_view in);

}  // namespace groupscaler
