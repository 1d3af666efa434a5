#include "src/cli/observe_time.h"

#include "gtest/gtest.h"

namespace loupe::cli {
namespace {

constexpr int64_t kS = 1'000'000'000;
// 2024-03-05T10:20:30Z
constexpr int64_t kNow = 1709634030LL * kS;

TEST(ObserveTimeTest, Durations) {
  EXPECT_EQ(*ParseGoDurationNs("3s"), 3 * kS);
  EXPECT_EQ(*ParseGoDurationNs("1h43m"), (3600 + 43 * 60) * kS);
  EXPECT_EQ(*ParseGoDurationNs("1.5h"), 5400 * kS);
  EXPECT_EQ(*ParseGoDurationNs("250ms"), kS / 4);
  EXPECT_EQ(*ParseGoDurationNs("0"), 0);
  EXPECT_FALSE(ParseGoDurationNs("3").ok());
  EXPECT_FALSE(ParseGoDurationNs("3d").ok());
  EXPECT_FALSE(ParseGoDurationNs("").ok());
  // Beyond int64 nanoseconds (Go: "invalid duration"), and beyond long double: an error, not a
  // std::out_of_range from std::stold.
  EXPECT_FALSE(ParseGoDurationNs("9999999999h").ok());
  EXPECT_FALSE(ParseGoDurationNs(std::string(5000, '9') + "s").ok());
  EXPECT_EQ(*ParseGoDurationNs("2562047h"), int64_t{2562047} * 3600 * kS);
}

TEST(ObserveTimeTest, RelativeMeansAgo) {
  EXPECT_EQ(*ParseTimeArg("3s", kNow), kNow - 3 * kS);
  EXPECT_EQ(*ParseTimeArg("1h43m", kNow), kNow - (3600 + 43 * 60) * kS);
}

TEST(ObserveTimeTest, AbsoluteFormats) {
  EXPECT_EQ(*ParseTimeArg("2024-03-05T10:20:30Z", kNow), kNow);
  EXPECT_EQ(*ParseTimeArg("2024-03-05T10:20:30.250Z", kNow), kNow + kS / 4);
  EXPECT_EQ(*ParseTimeArg("2024-03-05T11:20:30+01:00", kNow), kNow);
  EXPECT_EQ(*ParseTimeArg("2024-03-05T10:20:30.123456789Z", kNow), kNow + 123456789);
  EXPECT_EQ(*ParseTimeArg("2024-03-05", kNow), kNow - (10 * 3600 + 20 * 60 + 30) * kS);
  EXPECT_EQ(*ParseTimeArg("Mar  5 10:20:30.500", kNow), kNow + kS / 2);
  EXPECT_EQ(*ParseTimeArg("Tue, 05 Mar 2024 12:20:30 +0200", kNow), kNow);
  EXPECT_FALSE(ParseTimeArg("yesterday", kNow).ok());
  EXPECT_FALSE(ParseTimeArg("2024-13-45T99:00:00", kNow).ok());
}

TEST(ObserveTimeTest, Format) {
  EXPECT_EQ(FormatTime(1234 * kS + 567800000), "Jan  1 00:20:34.567");
  EXPECT_EQ(FormatTime(kNow, "RFC3339"), "2024-03-05T10:20:30Z");
  EXPECT_EQ(FormatTime(kNow + 5000, "RFC3339Nano"), "2024-03-05T10:20:30.000005Z");
  EXPECT_EQ(FormatTime(kNow, "RFC3339Milli"), "2024-03-05T10:20:30.000Z");
  EXPECT_EQ(FormatTime(kNow, "RFC1123Z"), "Tue, 05 Mar 2024 10:20:30 +0000");
  // Round trip of the default format within the current year.
  EXPECT_EQ(*ParseTimeArg(FormatTime(kNow - 3600 * kS), kNow), kNow - 3600 * kS);
}

}  // namespace
}  // namespace loupe::cli
