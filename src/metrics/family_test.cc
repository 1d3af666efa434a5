// Family::Update, cardinality limits, TTL expiry, exemplars and name validation.
#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/clock.h"
#include "src/metrics/registry.h"

// Counts heap allocations of the calling thread, to prove the Update() hit path allocates nothing.
// Not under ASan, whose own operator new must pair with its operator delete.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOUPE_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(LOUPE_UNDER_ASAN)
#define LOUPE_COUNT_ALLOCATIONS 0
#else
#define LOUPE_COUNT_ALLOCATIONS 1
#endif
namespace {
thread_local int64_t allocations = 0;
}  // namespace

#if LOUPE_COUNT_ALLOCATIONS
// GCC warns about free() in the replaced operator delete it cannot see is paired with malloc().
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#endif

namespace loupe::metrics {
namespace {

using std::chrono::seconds;

const FamilySnapshot* Find(const std::vector<FamilySnapshot>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// name{labels} → value for counters and gauges; histograms give their count.
std::map<std::string, double> Values(const Registry& registry, const std::string& name) {
  std::map<std::string, double> out;
  const auto families = registry.Collect();
  const FamilySnapshot* family = Find(families, name);
  if (family == nullptr) return out;
  for (const Sample& s : family->samples) {
    std::string key;
    for (const auto& [k, v] : s.labels) {
      if (!key.empty()) key += ',';
      key.append(k).append("=").append(v);
    }
    out[key] = family->type == MetricType::kHistogram ? static_cast<double>(s.count) : s.value;
  }
  return out;
}

auto Inc = [](Counter& c) { c.Inc(); };

TEST(FamilyUpdateTest, CreatesFindsAndSharesCellsWithWithLabels) {
  Registry registry;
  auto& family = registry.AddCounter("req_total", "help", {"method", "code"});
  family.Update({"GET", "200"}, Inc);
  family.Update({"GET", "200"}, Inc);
  const std::string_view values[] = {"GET", "404"};
  family.Update(std::span<const std::string_view>(values), Inc);
  family.WithLabels({"GET", "200"})->Inc(10);
  EXPECT_EQ(
      Values(registry, "req_total"),
      (std::map<std::string, double>{{"method=GET,code=200", 12}, {"method=GET,code=404", 1}}));
  // Pinning a series made by Update removes it from the dynamic count.
  EXPECT_EQ(family.dynamic_series(), 1u);
}

TEST(FamilyUpdateTest, ValuesThatLookAlikeWhenJoinedAreDistinct) {
  Registry registry;
  auto& family = registry.AddCounter("x_total", "help", {"a", "b"});
  family.Update({"ab", "c"}, Inc);
  family.Update({"a", "bc"}, Inc);
  family.Update({"", "abc"}, Inc);
  family.Update({std::string(200, 'x'), ""}, Inc);
  family.Update({std::string(200, 'x'), ""}, Inc);
  EXPECT_EQ(Values(registry, "x_total"),
            (std::map<std::string, double>{{"a=,b=abc", 1},
                                           {"a=a,b=bc", 1},
                                           {"a=ab,b=c", 1},
                                           {"a=" + std::string(200, 'x') + ",b=", 2}}));
}

TEST(FamilyUpdateTest, HitPathDoesNotAllocate) {
  if (!LOUPE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under ASan";
  Registry registry;
  auto& histogram =
      registry.AddHistogram("http_server_request_duration_seconds", "help",
                            {"http_request_method", "http_response_status_code", "http_route",
                             "service_name", "service_namespace", "url_scheme"},
                            {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  const std::string route = "/api/v1/users/{id}/orders";  // longer than the SSO buffer
  const std::string_view values[] = {"GET", "200", route, "checkout-service", "shop", "http"};
  const std::span<const std::string_view> span(values);
  histogram.Update(span, [](Histogram& h) { h.Observe(0.02); });  // creates: allocates
  const int64_t before = allocations;
  for (int i = 0; i < 1000; ++i) {
    histogram.Update(span, [](Histogram& h) {
      h.Observe(0.02, {"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
    });
  }
  // The first exemplar allocates the histogram's exemplar slots once.
  EXPECT_LE(allocations - before, 1);
  EXPECT_EQ(Values(registry, "http_server_request_duration_seconds").begin()->second, 1001);
}

TEST(FamilyUpdateTest, WrongNumberOfValuesIsDroppedAndCounted) {
  Registry registry;
  auto& family = registry.AddCounter("x_total", "help", {"a", "b"});
#ifdef NDEBUG
  family.Update({"only-one"}, Inc);
  family.Update({"1", "2", "3"}, Inc);
  EXPECT_TRUE(Values(registry, "x_total").empty());
  EXPECT_EQ(Values(registry, "loupe_internal_errors_total"),
            (std::map<std::string, double>{{"site=metrics_label_values", 2}}));
#else
  EXPECT_DEATH(family.Update({"only-one"}, Inc), "label values");
#endif
}

TEST(FamilyUpdateTest, OnePackedKeyServesSeveralFamilies) {
  Registry registry;
  auto& requests = registry.AddCounter("a_total", "help", {"method", "code"});
  auto& sizes = registry.AddHistogram("b_bytes", "help", {"method", "code"}, {10, 100});
  const std::string_view values[] = {"GET", "200"};
  const std::span<const std::string_view> span(values);
  const internal::PackedKey key(span);
  requests.Update(key, span, Inc);
  sizes.Update(key, span, [](Histogram& h) { h.Observe(50); });
  requests.Update({"GET", "200"}, Inc);  // the same series as through the shared key
  EXPECT_EQ(Values(registry, "a_total"),
            (std::map<std::string, double>{{"method=GET,code=200", 2}}));
  EXPECT_EQ(Values(registry, "b_bytes"),
            (std::map<std::string, double>{{"method=GET,code=200", 1}}));
  EXPECT_EQ(requests.dynamic_series(), 1u);
#ifdef NDEBUG
  // A key whose values do not fit the family is dropped and counted as for Update(values).
  auto& wide = registry.AddCounter("c_total", "help", {"method", "code", "route"});
  wide.Update(key, span, Inc);
  EXPECT_TRUE(Values(registry, "c_total").empty());
  EXPECT_EQ(Values(registry, "loupe_internal_errors_total"),
            (std::map<std::string, double>{{"site=metrics_label_values", 1}}));
#endif
}

TEST(FamilyUpdateTest, SamplesAreSortedByLabelValues) {
  Registry registry;
  auto& family = registry.AddGauge("g", "help", {"k"});
  for (const char* v : {"c", "a", "d", "b"}) family.Update({v}, [](Gauge& g) { g.Set(1); });
  const auto families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  std::string order;
  for (const auto& s : families[0].samples) order += s.labels[0].second;
  EXPECT_EQ(order, "abcd");
}

TEST(CardinalityLimitTest, NewLabelSetsPastTheLimitGoToTheOverflowSeries) {
  Registry registry;
  auto& family = registry.AddCounter("req_total", "help", {"path", "code"});
  family.WithLabels({"/pinned", "200"})->Inc();  // pinned series are not limited
  family.SetOptions({.max_series = 2});
  // Exposed at 0 as soon as a limit applies, so that increase() sees the first overflow.
  EXPECT_EQ(Values(registry, kSeriesOverflowMetric),
            (std::map<std::string, double>{{"family=req_total", 0}}));
  family.Update({"/a", "200"}, Inc);
  family.Update({"/b", "200"}, Inc);
  family.Update({"/c", "200"}, Inc);  // third: overflow
  family.Update({"/d", "500"}, Inc);  // overflow
  family.Update({"/c", "200"}, Inc);  // still overflow
  family.Update({"/a", "200"}, Inc);  // existing series keep working
  EXPECT_EQ(family.dynamic_series(), 2u);
  EXPECT_EQ(Values(registry, "req_total"), (std::map<std::string, double>{
                                               {"path=/a,code=200", 2},
                                               {"path=/b,code=200", 1},
                                               {"path=/pinned,code=200", 1},
                                               {"path=overflow,code=overflow", 3},
                                           }));
  EXPECT_EQ(Values(registry, kSeriesOverflowMetric),
            (std::map<std::string, double>{{"family=req_total", 3}}));
}

TEST(CardinalityLimitTest, LiteralOverflowValuesShareTheOverflowSeries) {
  Registry registry;
  auto& family = registry.AddCounter("x_total", "help", {"a"});
  family.Update({"overflow"}, Inc);
  family.WithLabels({"overflow"})->Inc();
  EXPECT_EQ(Values(registry, "x_total"), (std::map<std::string, double>{{"a=overflow", 2}}));
  EXPECT_EQ(family.dynamic_series(), 0u);
}

TEST(CardinalityLimitTest, RegistryDefaultAppliesToOldAndNewFamiliesUnlessOverridden) {
  Registry registry;
  auto& before = registry.AddCounter("before_total", "help", {"k"});
  auto& unlabelled = registry.AddCounter("plain_total", "help");
  registry.SetDefaultFamilyOptions({.max_series = 1});
  auto& after = registry.AddHistogram("after_seconds", "help", {"k"}, {1});
  auto& own = registry.AddCounter("own_total", "help", {"k"}, FamilyOptions{.max_series = 0});
  for (const char* k : {"a", "b", "c"}) {
    before.Update({k}, Inc);
    after.Update({k}, [](Histogram& h) { h.Observe(0.5); });
    own.Update({k}, Inc);
  }
  unlabelled.Update({}, Inc);
  EXPECT_EQ(Values(registry, "before_total"),
            (std::map<std::string, double>{{"k=a", 1}, {"k=overflow", 2}}));
  EXPECT_EQ(Values(registry, "after_seconds"),
            (std::map<std::string, double>{{"k=a", 1}, {"k=overflow", 2}}));
  EXPECT_EQ(Values(registry, "own_total").size(), 3u);
  EXPECT_EQ(Values(registry, "plain_total"), (std::map<std::string, double>{{"", 1}}));
  EXPECT_EQ(
      Values(registry, kSeriesOverflowMetric),
      (std::map<std::string, double>{{"family=after_seconds", 2}, {"family=before_total", 2}}));
  EXPECT_EQ(registry.DefaultFamilyOptions().max_series, 1u);
}

TEST(CardinalityLimitTest, RegistryOwnedFamiliesAreHiddenUntilUsed) {
  Registry registry;
  registry.AddCounter("x_total", "help", {"k"}).Update({"a"}, Inc);
  const auto families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "x_total");
}

class TtlTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Registry registry_{clock_};
};

TEST_F(TtlTest, IdleDynamicSeriesExpireAtCollect) {
  auto& family = registry_.AddCounter("x_total", "help", {"k"});
  family.SetOptions({.ttl = seconds(300)});
  family.WithLabels({"pinned"})->Inc();
  family.Update({"a"}, Inc);
  family.Update({"b"}, Inc);
  registry_.Collect();  // t=0: a and b seen
  clock_.Advance(seconds(200));
  family.Update({"a"}, Inc);
  EXPECT_EQ(Values(registry_, "x_total").size(), 3u);  // t=200: a seen again
  clock_.Advance(seconds(100));
  // t=300: b idle for 300 s since the collection that saw it; a for 100 s.
  EXPECT_EQ(Values(registry_, "x_total"),
            (std::map<std::string, double>{{"k=a", 2}, {"k=pinned", 1}}));
  EXPECT_EQ(family.dynamic_series(), 1u);
  clock_.Advance(seconds(199));  // t=499: a idle for 299 s since the collection at t=200
  EXPECT_EQ(Values(registry_, "x_total").size(), 2u);
  clock_.Advance(seconds(1));
  EXPECT_EQ(Values(registry_, "x_total"), (std::map<std::string, double>{{"k=pinned", 1}}));
  // A label set that comes back starts a new series.
  family.Update({"b"}, Inc);
  EXPECT_EQ(Values(registry_, "x_total"),
            (std::map<std::string, double>{{"k=b", 1}, {"k=pinned", 1}}));
}

TEST_F(TtlTest, RegistryDefaultTtlAndZeroMeansNever) {
  auto& family = registry_.AddGauge("g", "help", {"k"});
  auto& forever = registry_.AddGauge("forever", "help", {"k"}, FamilyOptions{});
  registry_.SetDefaultFamilyOptions({.ttl = seconds(60)});
  family.Update({"a"}, [](Gauge& g) { g.Set(5); });
  forever.Update({"a"}, [](Gauge& g) { g.Set(5); });
  registry_.Collect();
  clock_.Advance(seconds(3600));
  EXPECT_TRUE(Values(registry_, "g").empty());
  EXPECT_EQ(Values(registry_, "forever").size(), 1u);
}

TEST_F(TtlTest, ExpiryFreesRoomUnderTheLimit) {
  auto& family = registry_.AddCounter("x_total", "help", {"k"});
  family.SetOptions({.max_series = 1, .ttl = seconds(10)});
  family.Update({"a"}, Inc);
  family.Update({"b"}, Inc);  // overflow
  registry_.Collect();
  clock_.Advance(seconds(10));
  registry_.Collect();  // a expires
  family.Update({"b"}, Inc);
  EXPECT_EQ(Values(registry_, "x_total"),
            (std::map<std::string, double>{{"k=b", 1}, {"k=overflow", 1}}));
}

TEST_F(TtlTest, SeriesUpdatedOnlyBetweenCollectionsAreKept) {
  auto& family = registry_.AddCounter("x_total", "help", {"k"});
  family.SetOptions({.ttl = seconds(10)});
  // Updated once per 9 s, collected every 3 s: never idle for 10 s.
  for (int step = 0; step < 30; ++step) {
    if (step % 3 == 0) family.Update({"a"}, Inc);
    EXPECT_EQ(Values(registry_, "x_total").size(), 1u) << "step " << step;
    clock_.Advance(seconds(3));
  }
}

TEST(ExemplarTest, KeepsTheLatestValidExemplarPerBucket) {
  FakeClock clock(1'700'000'000'250'000'000);
  Registry registry(clock);
  auto& family = registry.AddHistogram("lat_seconds", "help", {}, {0.1, 1});
  Histogram* h = family.WithLabels({});
  h->Observe(0.05);
  Sample sample;
  h->Read(&sample);
  EXPECT_TRUE(sample.exemplars.empty());

  h->Observe(0.05, {"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
  clock.Advance(seconds(1));
  h->Observe(0.07, {"11111111111111111111111111111111", "2222222222222222"});
  h->Observe(5, {"abc", ""});                                                 // +Inf bucket
  h->Observe(0.5, {"", "b7ad6b7169203331"});                                  // no trace id
  h->Observe(0.5, {"0af7651916cd43dd8448eb211c80319c0", ""});                 // 33 chars
  h->Observe(0.5, {"0af7651916cd43dd8448eb211c80319c", "b7ad6b716920333z"});  // not hex
  h->Read(&sample);
  EXPECT_EQ(sample.count, 7u);
  ASSERT_EQ(sample.exemplars.size(), 3u);
  ASSERT_TRUE(sample.exemplars[0].has_value());
  EXPECT_EQ(sample.exemplars[0]->trace_id, "11111111111111111111111111111111");
  EXPECT_EQ(sample.exemplars[0]->span_id, "2222222222222222");
  EXPECT_DOUBLE_EQ(sample.exemplars[0]->value, 0.07);
  EXPECT_DOUBLE_EQ(sample.exemplars[0]->timestamp, 1'700'000'001.25);
  EXPECT_FALSE(sample.exemplars[1].has_value());
  ASSERT_TRUE(sample.exemplars[2].has_value());
  EXPECT_EQ(sample.exemplars[2]->trace_id, "abc");
  EXPECT_EQ(sample.exemplars[2]->span_id, "");
  EXPECT_DOUBLE_EQ(sample.exemplars[2]->value, 5);
}

TEST(ExemplarTest, ConcurrentWritersAndReadersNeverSeeTornExemplars) {
  Registry registry;
  Histogram* h = registry.AddHistogram("lat_seconds", "help", {}, {1}).WithLabels({});
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([h, t, &stop] {
      // Each writer's trace id is one repeated digit and its span id the same digit, so a read
      // that mixes two writes shows up as a mismatch.
      const std::string trace(32, static_cast<char>('1' + t));
      const std::string span(16, static_cast<char>('1' + t));
      while (!stop.load()) h->Observe(0.5 + t, {trace, span});
    });
  }
  for (int i = 0; i < 2000; ++i) {
    Sample sample;
    h->Read(&sample);
    for (const auto& e : sample.exemplars) {
      if (!e) continue;
      ASSERT_EQ(e->trace_id, std::string(32, e->trace_id[0]));
      ASSERT_EQ(e->span_id, std::string(16, e->trace_id[0]));
      ASSERT_DOUBLE_EQ(e->value, 0.5 + (e->trace_id[0] - '1'));
    }
  }
  stop = true;
  for (auto& w : writers) w.join();
}

TEST(ConcurrencyTest, UpdatesCollectsAndExpiryLoseNoCounts) {
  FakeClock clock;
  Registry registry(clock);
  auto& family = registry.AddCounter("x_total", "help", {"a", "b", "c"});
  family.SetOptions({.max_series = 60});
  constexpr int kThreads = 3;
  constexpr int kPerThread = 60000;
  std::atomic<bool> stop{false};
  std::thread collector([&] {
    while (!stop.load()) {
      registry.Collect();
      clock.Advance(seconds(1));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&family, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string k = std::to_string((i * 7 + t) % 100);
        family.Update({k, "GET", "200"}, Inc);
      }
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  collector.join();
  double total = 0;
  double overflow = 0;
  for (const auto& [labels, v] : Values(registry, "x_total")) {
    total += v;
    if (labels.find("a=overflow") == 0) overflow = v;
  }
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_GT(overflow, 0);
  EXPECT_EQ(Values(registry, kSeriesOverflowMetric).at("family=x_total"), overflow);
  EXPECT_EQ(family.dynamic_series(), 60u);
}

TEST(ConcurrencyTest, ExpiryRacingUpdatesKeepsCellsAlive) {
  // Short TTL, a clock racing ahead: series expire and are re-created while updated. ASan and
  // TSan builds catch a use of an expired cell; here the invariant is "no crash, counts sane".
  FakeClock clock;
  Registry registry(clock);
  auto& family = registry.AddHistogram("h_seconds", "help", {"k"}, {1});
  family.SetOptions({.ttl = seconds(1)});
  std::atomic<bool> stop{false};
  std::thread collector([&] {
    while (!stop.load()) {
      registry.Collect();
      clock.Advance(seconds(5));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&family] {
      for (int i = 0; i < 50000; ++i) {
        const std::string k = std::to_string(i % 37);
        family.Update({k}, [](Histogram& h) { h.Observe(0.5, {"abcd", "ef"}); });
      }
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  collector.join();
  EXPECT_LE(family.dynamic_series(), 37u);
}

TEST(NameValidationTest, MetricAndLabelNames) {
  for (const char* ok : {"a", "_a", "a:b", ":a", "loupe_x_total", "A9_"}) {
    EXPECT_TRUE(IsValidMetricName(ok)) << ok;
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "é", "a.b"}) {
    EXPECT_FALSE(IsValidMetricName(bad)) << bad;
  }
  for (const char* ok : {"a", "_a", "source_ip", "A9"}) EXPECT_TRUE(IsValidLabelName(ok)) << ok;
  for (const char* bad : {"", "__name__", "__x", "a:b", "9a", "a-b"}) {
    EXPECT_FALSE(IsValidLabelName(bad)) << bad;
  }
}

TEST(NameValidationDeathTest, RegistrationRejectsInvalidNames) {
  Registry registry;
  EXPECT_DEATH(registry.AddCounter("bad-name_total", "h"), "invalid metric name");
  EXPECT_DEATH(registry.AddGauge("g", "h", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(registry.AddGauge("g", "h", {"a", "a"}), "duplicate label");
  EXPECT_DEATH(registry.AddHistogram("h", "h", {"le"}, {1}), "reserved label name");
  EXPECT_DEATH(registry.AddHistogram("h", "h", {}, {1, 1}), "strictly ascending");
  EXPECT_DEATH(registry.AddHistogram("h", "h", {}, {1, INFINITY}), "strictly ascending");
  registry.AddCounter("x_total", "h");
  registry.AddCounter("x_total", "h");  // same type twice: allowed, merged at Collect
  EXPECT_DEATH(registry.AddGauge("x_total", "h"), "another type");
}

}  // namespace
}  // namespace loupe::metrics
