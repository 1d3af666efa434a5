#include "src/telemetry/tracing/sampler.h"

#include <gtest/gtest.h>

#include "src/telemetry/tracing/ids.h"

namespace loupe::tracing {
namespace {

TraceId WithLow(uint64_t low) {
  TraceId t{};
  t[0] = 0xab;  // the upper half is ignored
  for (int i = 15; i >= 8; --i) {
    t[i] = static_cast<uint8_t>(low & 0xff);
    low >>= 8;
  }
  return t;
}

TEST(SamplerTest, Names) {
  for (const char* name :
       {"always_on", "always_off", "traceidratio", "parentbased_always_on",
        "parentbased_always_off", "parentbased_traceidratio", "ParentBased_TraceIdRatio"}) {
    EXPECT_TRUE(Sampler::Create(name, "0.5").ok()) << name;
  }
  EXPECT_FALSE(Sampler::Create("sometimes", "").ok());
  EXPECT_FALSE(Sampler::Create("parentbased_", "").ok());
  EXPECT_FALSE(Sampler::Create("", "").ok());
}

TEST(SamplerTest, RatioArgument) {
  EXPECT_EQ(Sampler::Create("traceidratio", "").value().ratio(), 1.0);
  EXPECT_EQ(Sampler::Create("traceidratio", " 0.25 ").value().ratio(), 0.25);
  for (const char* bad : {"-0.1", "1.5", "abc", "0.1x", "nan", "inf"}) {
    auto s = Sampler::Create("parentbased_traceidratio", bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find(bad), std::string::npos);
  }
}

TEST(SamplerTest, TraceIdRatioComparesLowerEightBytes) {
  const Sampler s = Sampler::Create("traceidratio", "0.25").value();
  EXPECT_EQ(s.ratio_bound(), 0x4000000000000000ULL);  // 0.25 * 2^64
  EXPECT_TRUE(s.SampleRoot(WithLow(0)));
  EXPECT_TRUE(s.SampleRoot(WithLow(0x3fffffffffffffffULL)));
  EXPECT_FALSE(s.SampleRoot(WithLow(0x4000000000000000ULL)));
  EXPECT_FALSE(s.SampleRoot(WithLow(UINT64_MAX)));
  const Sampler zero = Sampler::Create("traceidratio", "0").value();
  EXPECT_FALSE(zero.SampleRoot(WithLow(0)));
  const Sampler one = Sampler::Create("traceidratio", "1").value();
  EXPECT_TRUE(one.SampleRoot(WithLow(UINT64_MAX)));
}

TEST(SamplerTest, RatioIsMonotonicAndDeterministic) {
  const Sampler low = Sampler::Create("traceidratio", "0.1").value();
  const Sampler high = Sampler::Create("traceidratio", "0.3").value();
  int sampled = 0;
  for (int i = 0; i < 100000; ++i) {
    const TraceId t = NewTraceId();
    const bool a = low.SampleRoot(t);
    EXPECT_EQ(a, low.SampleRoot(t));
    if (a) {
      EXPECT_TRUE(high.SampleRoot(t));
    }
    sampled += a ? 1 : 0;
  }
  EXPECT_NEAR(sampled, 10000, 600);  // sd 95
}

TEST(SamplerTest, ParentBasedFollowsParent) {
  const Sampler s = Sampler::Create("parentbased_traceidratio", "0").value();
  const TraceId t = WithLow(0);
  EXPECT_FALSE(s.ShouldSample({}, t));  // root: ratio 0
  EXPECT_TRUE(s.ShouldSample({ParentInfo::Kind::kRemote, true}, t));
  EXPECT_FALSE(s.ShouldSample({ParentInfo::Kind::kRemote, false}, t));
  EXPECT_TRUE(s.ShouldSample({ParentInfo::Kind::kLocal, true}, t));
  const Sampler off = Sampler::Create("parentbased_always_off", "").value();
  EXPECT_FALSE(off.ShouldSample({}, t));
  EXPECT_TRUE(off.ShouldSample({ParentInfo::Kind::kRemote, true}, t));
  // Not parent based: the parent is ignored.
  const Sampler ratio = Sampler::Create("traceidratio", "0").value();
  EXPECT_FALSE(ratio.ShouldSample({ParentInfo::Kind::kRemote, true}, t));
  const Sampler on = Sampler::Create("always_on", "").value();
  EXPECT_TRUE(on.ShouldSample({ParentInfo::Kind::kRemote, false}, t));
}

}  // namespace
}  // namespace loupe::tracing
