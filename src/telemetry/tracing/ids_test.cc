#include "src/telemetry/tracing/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace loupe::tracing {
namespace {

TEST(IdsTest, HexRoundTrip) {
  TraceId t;
  ASSERT_TRUE(ParseTraceId("4bf92f3577b34da6a3ce929d0e0e4736", &t));
  EXPECT_EQ(t[0], 0x4b);
  EXPECT_EQ(t[15], 0x36);
  EXPECT_EQ(ToHex(t), "4bf92f3577b34da6a3ce929d0e0e4736");
  SpanId s;
  ASSERT_TRUE(ParseSpanId("00F067AA0BA902B7", &s));
  EXPECT_EQ(ToHex(s), "00f067aa0ba902b7");
}

TEST(IdsTest, RejectsBadIds) {
  TraceId t{};
  SpanId s{};
  EXPECT_FALSE(ParseTraceId("", &t));
  EXPECT_FALSE(ParseTraceId("4bf92f3577b34da6a3ce929d0e0e473", &t));    // 31 chars
  EXPECT_FALSE(ParseTraceId("4bf92f3577b34da6a3ce929d0e0e47366", &t));  // 33 chars
  EXPECT_FALSE(ParseTraceId("4bf92f3577b34da6a3ce929d0e0e473g", &t));
  EXPECT_FALSE(ParseTraceId("00000000000000000000000000000000", &t));
  EXPECT_FALSE(ParseSpanId("0000000000000000", &s));
  EXPECT_FALSE(ParseSpanId("00f067aa0ba902b", &s));
  EXPECT_TRUE(IsZero(t));  // untouched on failure
  EXPECT_TRUE(IsZero(s));
}

TEST(IdsTest, GeneratedIdsAreUniqueAndNonZero) {
  std::set<std::string> traces;
  std::set<std::string> spans;
  for (int i = 0; i < 10000; ++i) {
    const TraceId t = NewTraceId();
    const SpanId s = NewSpanId();
    EXPECT_FALSE(IsZero(t));
    EXPECT_FALSE(IsZero(s));
    traces.insert(ToHex(t));
    spans.insert(ToHex(s));
  }
  EXPECT_EQ(traces.size(), 10000u);
  EXPECT_EQ(spans.size(), 10000u);
}

TEST(IdsTest, LowBytesAreUniform) {
  // The ratio sampler reads the lower 8 bytes: their top bit must be set about half the time.
  int high = 0;
  for (int i = 0; i < 20000; ++i) high += (NewTraceId()[8] & 0x80) ? 1 : 0;
  EXPECT_NEAR(high, 10000, 500);  // > 7 sigma
}

TEST(ResourceTest, AddReplacesAndSdkAttributesNameLoupe) {
  Resource r;
  r.Add("service.name", std::string("a"));
  r.Add("service.name", std::string("b"));
  AddSdkAttributes(&r, "node-1");
  EXPECT_EQ(r.GetString("service.name"), "b");
  EXPECT_EQ(r.GetString("telemetry.sdk.name"), "loupe");
  EXPECT_EQ(r.GetString("telemetry.sdk.language"), "cpp");
  EXPECT_EQ(r.GetString("host.name"), "node-1");
  EXPECT_EQ(r.entries().size(), 5u);
}

}  // namespace
}  // namespace loupe::tracing
