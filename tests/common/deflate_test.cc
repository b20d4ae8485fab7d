#include "common/deflate.h"

#include <gtest/gtest.h>

#include <string>

namespace groupscaler {
namespace {

TEST(Deflate, InflatesToTheSameText) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += R"({"type":"Ready","status":"True"},)";
  const Deflated packed = Deflate(text);
  EXPECT_LT(packed.bytes.size(), text.size() / 4);
  EXPECT_EQ(Inflate(packed).value(), text);
  EXPECT_EQ(Inflate(Deflate("")).value(), "");
}

TEST(Deflate, BytesNotMadeByDeflateAreAnError) {
  EXPECT_EQ(Inflate({.bytes = "not deflated", .size = 12}).status().code(), StatusCode::kInternal);
  Deflated packed = Deflate("some text");
  packed.size = 4;  // not the size it inflates to
  EXPECT_FALSE(Inflate(packed).ok());
}

}  // namespace
}  // namespace groupscaler
