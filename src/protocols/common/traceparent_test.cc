#include "src/protocols/common/traceparent.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe::protocols {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool IsLowerHexByte(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

TEST(TraceparentTest, ParsesTheFields) {
  telemetry::TraceContext tc;
  ASSERT_TRUE(ParseTraceparent(kValid, &tc));
  EXPECT_EQ(tc.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tc.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(tc.flags, 1);
}

// The hex check works on eight bytes at once: every byte value at every hex position must be
// judged as a byte-wise check would.
TEST(TraceparentTest, EveryByteAtEveryHexPosition) {
  for (size_t pos = 0; pos < kValid.size(); ++pos) {
    if (kValid[pos] == '-') continue;
    for (int c = 0; c < 256; ++c) {
      std::string value(kValid);
      value[pos] = static_cast<char>(c);
      bool expect = IsLowerHexByte(c);
      if (pos < 2 && value.substr(0, 2) == "ff") expect = false;  // version ff is invalid
      telemetry::TraceContext tc;
      EXPECT_EQ(ParseTraceparent(value, &tc), expect) << "position " << pos << " byte " << c;
      if (expect && pos >= 3 && pos < 35) {
        EXPECT_EQ(tc.trace_id[pos - 3], static_cast<char>(c));
      }
    }
  }
}

TEST(TraceparentTest, RejectsMalformedValuesAndLeavesOutputUntouched) {
  telemetry::TraceContext tc;
  tc.trace_id = "keep";
  EXPECT_FALSE(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &tc));
  EXPECT_FALSE(ParseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &tc));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", &tc));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", &tc));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", &tc));
  EXPECT_FALSE(ParseTraceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &tc));
  EXPECT_EQ(tc.trace_id, "keep");
  // A later version may append fields.
  ASSERT_TRUE(
      ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", &tc));
  EXPECT_EQ(tc.parent_span_id, "00f067aa0ba902b7");
}

}  // namespace
}  // namespace loupe::protocols
