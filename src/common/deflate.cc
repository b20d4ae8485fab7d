#include "common/deflate.h"

#include <zlib.h>

namespace groupscaler {

Deflated Deflate(std::string_view text) {
  uLongf length = compressBound(text.size());
  std::string bytes(length, '\0');
  // compress2 fails only for want of room, which compressBound rules out.
  compress2(reinterpret_cast<Bytef*>(bytes.data()), &length,
            reinterpret_cast<const Bytef*>(text.data()), text.size(), Z_BEST_SPEED);
  bytes.resize(length);
  bytes.shrink_to_fit();
  return {.bytes = std::move(bytes), .size = text.size()};
}

StatusOr<std::string> Inflate(const Deflated& deflated) {
  std::string text(deflated.size, '\0');
  uLongf length = text.size();
  const int rc =
      uncompress(reinterpret_cast<Bytef*>(text.data()), &length,
                 reinterpret_cast<const Bytef*>(deflated.bytes.data()), deflated.bytes.size());
  if (rc != Z_OK || length != deflated.size) {
    return InternalError("deflated text does not inflate: zlib error " + std::to_string(rc));
  }
  return text;
}

}  // namespace groupscaler
