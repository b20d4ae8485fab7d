// common/base64.h: standard base64 as Kubernetes Secrets and kubeconfig
// files carry it (padding optional, line wraps), and base64url without
// padding as JWTs and MSK IAM tokens carry it.

#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace groupscaler {
namespace {

struct Base64Case {
  std::string name;
  std::string encoded;
  std::string decoded;
  bool ok = true;
};

class Base64DecodeTest : public ::testing::TestWithParam<Base64Case> {};

TEST_P(Base64DecodeTest, DecodesAndRoundTrips) {
  const Base64Case& c = GetParam();
  StatusOr<std::string> decoded = Base64Decode(c.encoded);
  ASSERT_EQ(decoded.ok(), c.ok) << decoded.status().ToString();
  if (!c.ok) {
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    return;
  }
  EXPECT_EQ(*decoded, c.decoded);
  EXPECT_EQ(*Base64Decode(Base64Encode(c.decoded)), c.decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Base64DecodeTest,
    ::testing::Values(
        Base64Case{.name = "empty", .encoded = "", .decoded = ""},
        Base64Case{.name = "one_byte", .encoded = "YQ==", .decoded = "a"},
        Base64Case{.name = "two_bytes", .encoded = "YWI=", .decoded = "ab"},
        Base64Case{.name = "three_bytes", .encoded = "YWJj", .decoded = "abc"},
        Base64Case{.name = "unpadded", .encoded = "YWI", .decoded = "ab"},
        Base64Case{.name = "unpadded_one_byte", .encoded = "YQ", .decoded = "a"},
        Base64Case{.name = "line_breaks", .encoded = "YW\nJj\n", .decoded = "abc"},
        Base64Case{.name = "crlf_and_spaces", .encoded = " YW\r\nI= ", .decoded = "ab"},
        Base64Case{.name = "binary", .encoded = "AP8=", .decoded = std::string("\0\xff", 2)},
        Base64Case{.name = "bad_char", .encoded = "YW*j", .ok = false},
        Base64Case{.name = "url_alphabet", .encoded = "-_8", .ok = false},
        Base64Case{.name = "truncated", .encoded = "YWJjZ", .ok = false},
        Base64Case{.name = "short_padding", .encoded = "YQ=", .ok = false},
        Base64Case{.name = "data_after_padding", .encoded = "YQ==YQ", .ok = false},
        Base64Case{.name = "padding_inside", .encoded = "YQ==YWJj", .ok = false}),
    [](const auto& info) { return info.param.name; });

TEST(Base64EncodeTest, PadsToAMultipleOfFour) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_EQ(Base64Encode("abc"), "YWJj");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
}

TEST(Base64UrlTest, EncodesWithoutPaddingInTheUrlAlphabet) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64UrlTest, DecodesWithOrWithoutPadding) {
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(*Base64UrlDecode("-_8="), "\xfb\xff");
  EXPECT_EQ(*Base64UrlDecode(R"(eyJzdWIiOiJhIn0)"), R"({"sub":"a"})");
  EXPECT_FALSE(Base64UrlDecode("+/8=").ok()) << "the standard alphabet is not base64url";
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").ok());
}

}  // namespace
}  // namespace groupscaler
