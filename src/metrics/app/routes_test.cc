#include "src/metrics/app/routes.h"

#include <random>
#include <set>

#include "gtest/gtest.h"

namespace loupe::metrics::app {
namespace {

std::unique_ptr<RouteMatcher> Make(const RoutesOptions& options) {
  auto matcher = RouteMatcher::Create(options);
  EXPECT_TRUE(matcher.ok()) << matcher.status();
  return matcher.ok() ? *std::move(matcher) : nullptr;
}

std::string Route(const RouteMatcher& m, std::string_view path) {
  RouteBuffer buffer;
  return std::string(m.Route(path, &buffer));
}

TEST(RoutesTest, PatternsWithPlaceholders) {
  RoutesOptions options;
  options.patterns = {"/user/{id}", "/user/:id/orders/{order}", "/user/me",
                      "/static/*",  "/api/{version}/*/status",  "/"};
  options.unmatched = UnmatchedRoutes::kUnset;
  auto m = Make(options);
  EXPECT_EQ(Route(*m, "/user/123"), "/user/{id}");
  EXPECT_EQ(Route(*m, "/user/123/"), "/user/{id}");
  EXPECT_EQ(Route(*m, "/user/123?x=1"), "/user/{id}");
  EXPECT_EQ(Route(*m, "/user/me"), "/user/me");  // a literal wins over a placeholder
  EXPECT_EQ(Route(*m, "/user/abc/orders/7"), "/user/:id/orders/{order}");
  EXPECT_EQ(Route(*m, "/user/abc/orders"), "");
  EXPECT_EQ(Route(*m, "/static/css/site.css"), "/static/*");  // trailing * spans segments
  EXPECT_EQ(Route(*m, "/static"), "");                        // ... but needs one
  EXPECT_EQ(Route(*m, "/api/v1/items/status"), "/api/{version}/*/status");
  EXPECT_EQ(Route(*m, "/api/v1/items/x/status"), "");  // a middle * is one segment
  EXPECT_EQ(Route(*m, "/"), "/");
  EXPECT_EQ(Route(*m, ""), "/");
  EXPECT_EQ(Route(*m, "/other"), "");
}

TEST(RoutesTest, BacktracksFromALiteralToAPlaceholder) {
  RoutesOptions options;
  options.patterns = {"/a/b/c", "/a/{x}/d"};
  options.unmatched = UnmatchedRoutes::kUnset;
  auto m = Make(options);
  EXPECT_EQ(Route(*m, "/a/b/c"), "/a/b/c");
  EXPECT_EQ(Route(*m, "/a/b/d"), "/a/{x}/d");
}

TEST(RoutesTest, UnmatchedModes) {
  RoutesOptions options;
  options.patterns = {"/known"};
  options.unmatched = UnmatchedRoutes::kUnset;
  EXPECT_EQ(Route(*Make(options), "/user/42"), "");
  options.unmatched = UnmatchedRoutes::kPath;
  EXPECT_EQ(Route(*Make(options), "/user/42?q=1"), "/user/42");
  options.unmatched = UnmatchedRoutes::kWildcard;
  EXPECT_EQ(Route(*Make(options), "/user/42"), "/**");
  options.unmatched = UnmatchedRoutes::kHeuristic;
  EXPECT_EQ(Route(*Make(options), "/user/42/profile"), "/user/*/profile");
  EXPECT_EQ(Route(*Make(options), "/known"), "/known");
  options.wildcard_char = '_';
  EXPECT_EQ(Route(*Make(options), "/user/42"), "/user/_");
  options.unmatched = UnmatchedRoutes::kWildcard;
  EXPECT_EQ(Route(*Make(options), "/user/42"), "/__");
}

TEST(RoutesTest, HeuristicSegments) {
  RoutesOptions options;
  auto m = Make(options);
  EXPECT_EQ(Route(*m, "/orders/12345"), "/orders/*");
  EXPECT_EQ(Route(*m, "/u/550e8400-e29b-41d4-a716-446655440000/x"), "/u/*/x");
  EXPECT_EQ(Route(*m, "/blob/9f86d081884c7d65"), "/blob/*");
  EXPECT_EQ(Route(*m, "/day/2024-01-05"), "/day/*");
  EXPECT_EQ(Route(*m, "/t/aZ3kq9Lm2Xc7Vb1Qe"), "/t/*");
  EXPECT_EQ(Route(*m, "/mail/bob@example.com"), "/mail/*");
  EXPECT_EQ(Route(*m, "/api/v1/users"), "/api/v1/users");
  EXPECT_EQ(Route(*m, "/page-2/cafe"), "/page-2/cafe");
  EXPECT_EQ(Route(*m, "/catalogue/products-and-services"), "/catalogue/products-and-services");
  EXPECT_EQ(Route(*m, "//double//slash/"), "/double/slash");
}

TEST(RoutesTest, IsIdLikeSegmentTable) {
  struct Case {
    std::string_view segment;
    bool id;
  } cases[] = {
      {"0", true},
      {"123456", true},
      {"1.5", true},
      {"12:30", true},
      {"deadbeef1", true},
      {"DEADBEEF01", true},
      {"abc1234", false},
      {"v2", false},
      {"api", false},
      {"", false},
      {"users", false},
      {"deadbeef", false},
      {"a1b2c3d4e5f6g7h8", true},
      {"token_with_1_digit", true},
      {"file.txt", false},
      {"x%20y", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsIdLikeSegment(c.segment, 8, 16), c.id) << c.segment;
  }
}

TEST(RoutesTest, IgnoredPatternsAndModes) {
  RoutesOptions options;
  options.ignored_patterns = {"/health", "/metrics/*"};
  auto all = Make(options);
  RouteBuffer buffer;
  RouteResult r = all->Match("/health", &buffer);
  EXPECT_TRUE(r.ignore_metrics);
  EXPECT_TRUE(r.ignore_traces);
  r = all->Match("/metrics/x", &buffer);
  EXPECT_TRUE(r.ignore_metrics);
  r = all->Match("/healthz", &buffer);
  EXPECT_FALSE(r.ignore_metrics);
  EXPECT_FALSE(r.ignore_traces);
  options.ignore_mode = IgnoreMode::kMetrics;
  r = Make(options)->Match("/health", &buffer);
  EXPECT_TRUE(r.ignore_metrics);
  EXPECT_FALSE(r.ignore_traces);
  options.ignore_mode = IgnoreMode::kTraces;
  r = Make(options)->Match("/health", &buffer);
  EXPECT_FALSE(r.ignore_metrics);
  EXPECT_TRUE(r.ignore_traces);
}

TEST(RoutesTest, BadPatternsAreRejected) {
  for (const char* bad : {"user/{id}", "", "/user/{}", "/user/:"}) {
    RoutesOptions options;
    options.patterns = {bad};
    EXPECT_FALSE(RouteMatcher::Create(options).ok()) << bad;
    options.patterns.clear();
    options.ignored_patterns = {bad};
    EXPECT_FALSE(RouteMatcher::Create(options).ok()) << bad;
  }
}

TEST(RoutesTest, LongPathsAreCutInTheBuffer) {
  auto m = Make({});
  std::string path;
  for (int i = 0; i < 200; ++i) path += "/segment";
  RouteBuffer buffer;
  const std::string_view route = m->Route(path, &buffer);
  EXPECT_LE(route.size(), buffer.data.size());
  EXPECT_EQ(route.substr(route.size() - 2), "/*");
  EXPECT_EQ(route.substr(0, 16), "/segment/segment");
}

TEST(RoutesTest, PatternRoutesPointIntoTheMatcherAndPathRoutesIntoThePath) {
  RoutesOptions options;
  options.patterns = {"/user/{id}"};
  options.unmatched = UnmatchedRoutes::kPath;
  auto m = Make(options);
  RouteBuffer buffer;
  const std::string path = "/other/1";
  const std::string_view route = m->Route(path, &buffer);
  EXPECT_EQ(route.data(), path.data());
  const std::string_view a = m->Route("/user/1", &buffer);
  const std::string_view b = m->Route("/user/2", &buffer);
  EXPECT_EQ(a.data(), b.data());
}

TEST(RoutesTest, HundredThousandDistinctPathsGiveABoundedRouteSet) {
  auto m = Make({});  // heuristic
  std::mt19937_64 rng(42);
  auto hex = [&](size_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) s += kHex[rng() % 16];
    s[0] = '7';  // at least one digit
    return s;
  };
  auto uuid = [&] { return hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12); };
  std::set<std::string> paths;
  std::set<std::string> routes;
  RouteBuffer buffer;
  for (int i = 0; i < 100000; ++i) {
    std::string path;
    switch (i % 6) {
      case 0:
        path = "/users/" + std::to_string(rng() % 100000000) + "/orders";
        break;
      case 1:
        path = "/orders/" + uuid();
        break;
      case 2:
        path = "/static/js/" + hex(20) + "/app.js";
        break;
      case 3:
        path = "/api/v1/items/" + std::to_string(i) + "?page=" + std::to_string(i);
        break;
      case 4:
        path = "/reports/2024-0" + std::to_string(1 + i % 9) + "-1" + std::to_string(i % 10) + "/" +
               std::to_string(i);
        break;
      case 5:
        path = "/session/" + hex(10) + "g" + hex(10) + "/ping";
        break;
    }
    paths.insert(path);
    routes.insert(std::string(m->Route(path, &buffer)));
  }
  EXPECT_GT(paths.size(), 99000u);
  EXPECT_EQ(routes, (std::set<std::string>{"/users/*/orders", "/orders/*", "/static/js/*/app.js",
                                           "/api/v1/items/*", "/reports/*/*", "/session/*/ping"}));
}

}  // namespace
}  // namespace loupe::metrics::app
