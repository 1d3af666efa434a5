#include "src/base/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe {
namespace {

TEST(Utf8, ValidTextIsUnchanged) {
  for (const std::string s : {"", "/users/1", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    std::string t = s;
    EXPECT_FALSE(MakeValidUtf8(&t));
    EXPECT_EQ(t, s);
  }
}

// SanitizeUtf8's cases (overlong, surrogates, truncated, ...) are in
// src/export/prometheus/openmetrics_test.cc.
TEST(Utf8, MakeValidRepairsOnlyInvalidText) {
  const std::string r(kUtf8ReplacementCharacter);
  std::string t = "GET /\x80x\xFF";
  EXPECT_FALSE(IsValidUtf8(t));
  EXPECT_TRUE(MakeValidUtf8(&t));
  EXPECT_EQ(t, "GET /" + r + "x" + r);
  EXPECT_TRUE(IsValidUtf8(t));
  EXPECT_FALSE(IsValidUtf8("ab\xE2\x82"));  // truncated at the end
}

}  // namespace
}  // namespace loupe
