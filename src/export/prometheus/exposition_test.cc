#include "src/export/prometheus/exposition.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace loupe::prometheus {
namespace {

TEST(ExpositionTest, RendersGoldenText) {
  metrics::Registry registry;
  registry.AddGauge("loupe_build_info", "Build info.", {"version", "commit"})
      .WithLabels({"0.1.0", "abc"})
      ->Set(1);
  auto& events =
      registry.AddCounter("loupe_bpf_events_total", "Events.\nSecond line \\ x", {"program"});
  events.WithLabels({"net\"flow\n"})->Inc(42);
  registry.AddGauge("loupe_uptime_seconds", "Uptime.").WithLabels({})->Set(2.5);
  EXPECT_EQ(RenderText(registry.Collect()),
            "# HELP loupe_bpf_events_total Events.\\nSecond line \\\\ x\n"
            "# TYPE loupe_bpf_events_total counter\n"
            "loupe_bpf_events_total{program=\"net\\\"flow\\n\"} 42\n"
            "# HELP loupe_build_info Build info.\n"
            "# TYPE loupe_build_info gauge\n"
            "loupe_build_info{version=\"0.1.0\",commit=\"abc\"} 1\n"
            "# HELP loupe_uptime_seconds Uptime.\n"
            "# TYPE loupe_uptime_seconds gauge\n"
            "loupe_uptime_seconds 2.5\n");
}

TEST(ExpositionTest, RendersHistogramsCumulatively) {
  metrics::Registry registry;
  auto& h = registry.AddHistogram("x_seconds", "Latency.", {"dir"}, {0.01, 0.1, 1});
  metrics::Histogram* cell = h.WithLabels({"out"});
  for (double v : {0.005, 0.01, 0.05, 0.5, 7.0}) cell->Observe(v);
  EXPECT_EQ(RenderText(registry.Collect()),
            "# HELP x_seconds Latency.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{dir=\"out\",le=\"0.01\"} 2\n"
            "x_seconds_bucket{dir=\"out\",le=\"0.1\"} 3\n"
            "x_seconds_bucket{dir=\"out\",le=\"1\"} 4\n"
            "x_seconds_bucket{dir=\"out\",le=\"+Inf\"} 5\n"
            "x_seconds_sum{dir=\"out\"} 7.5649999999999995\n"
            "x_seconds_count{dir=\"out\"} 5\n");
}

TEST(ExpositionTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(0.001), "0.001");
  EXPECT_EQ(FormatSampleValue(1e20), "1e+20");
}

}  // namespace
}  // namespace loupe::prometheus
