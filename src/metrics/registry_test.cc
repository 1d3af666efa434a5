#include "src/metrics/registry.h"

#include <thread>

#include "gtest/gtest.h"

namespace loupe::metrics {
namespace {

TEST(RegistryTest, CountersAreInternedPerLabelSet) {
  Registry registry;
  auto& family = registry.AddCounter("x_total", "help", {"program"});
  Counter* a = family.WithLabels({"a"});
  EXPECT_EQ(a, family.WithLabels({"a"}));
  EXPECT_NE(a, family.WithLabels({"b"}));
  a->Inc(3);
  family.WithLabels({"b"})->Inc();
  auto families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].samples.size(), 2u);
  EXPECT_EQ(families[0].samples[0].labels, (Labels{{"program", "a"}}));
  EXPECT_EQ(families[0].samples[0].value, 3);
  EXPECT_EQ(families[0].samples[1].value, 1);
}

TEST(RegistryTest, ConcurrentIncrementsAreNotLost) {
  Registry registry;
  Counter* c = registry.AddCounter("c_total", "help").WithLabels({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c] {
      for (int i = 0; i < 100000; ++i) c->Inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->Value(), 400000u);
}

TEST(RegistryTest, CollectorsMergeWithSameNameAndCanBeRemoved) {
  Registry registry;
  auto push = [](const char* program, double v) {
    return [program, v](std::vector<FamilySnapshot>* out) {
      out->push_back({"lost_total", "help", MetricType::kCounter, {{{{"program", program}}, v}}});
    };
  };
  const int a = registry.AddCollector(push("a", 1));
  registry.AddCollector(push("b", 2));
  auto families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].samples.size(), 2u);
  registry.RemoveCollector(a);
  families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].samples.size(), 1u);
  EXPECT_EQ(families[0].samples[0].value, 2);
}

TEST(GaugeTest, SetAndAdd) {
  Gauge g;
  g.Set(1.5);
  g.Add(2);
  EXPECT_DOUBLE_EQ(g.Value(), 3.5);
}

}  // namespace
}  // namespace loupe::metrics
