#include "src/metrics/app/select.h"

#include "gtest/gtest.h"

namespace loupe::metrics::app {
namespace {

bool GlobMatches(std::string_view pattern, std::string_view text) {
  auto glob = Glob::Compile(pattern);
  EXPECT_TRUE(glob.ok()) << pattern << ": " << glob.status();
  return glob.ok() && glob->Match(text);
}

TEST(GlobTest, Wildcards) {
  EXPECT_TRUE(GlobMatches("k8s.dst.*", "k8s.dst.owner.name"));
  EXPECT_FALSE(GlobMatches("k8s.dst.*", "k8s.src.owner.name"));
  EXPECT_TRUE(GlobMatches("*", ""));
  EXPECT_TRUE(GlobMatches("*name", "service.name"));
  EXPECT_FALSE(GlobMatches("*name", "service.namespace"));
  EXPECT_TRUE(GlobMatches("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatches("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatches("http.?oute", "http.route"));
  EXPECT_FALSE(GlobMatches("http.?oute", "http.oute"));
  EXPECT_TRUE(GlobMatches("[a-c]x", "bx"));
  EXPECT_FALSE(GlobMatches("[a-c]x", "dx"));
  EXPECT_TRUE(GlobMatches("[!a-c]x", "dx"));
  EXPECT_FALSE(GlobMatches("[!a-c]x", "ax"));
  EXPECT_TRUE(GlobMatches("{src,dst}.port", "dst.port"));
  EXPECT_TRUE(GlobMatches("{src,dst}.port", "src.port"));
  EXPECT_FALSE(GlobMatches("{src,dst}.port", "client.port"));
  EXPECT_TRUE(GlobMatches("a\\*", "a*"));
  EXPECT_FALSE(GlobMatches("a\\*", "ab"));
  EXPECT_TRUE(GlobMatches("exact", "exact"));
  EXPECT_FALSE(GlobMatches("exact", "exactly"));
}

TEST(GlobTest, BadGlobsAreRejected) {
  for (std::string_view bad : {"", "[abc", "{a,b", "a}", "a]", "x\\", "{a,{b}}"}) {
    EXPECT_FALSE(Glob::Compile(bad).ok()) << bad;
  }
}

TEST(GlobTest, SpecificityAndWildcardFlag) {
  auto exact = Glob::Compile("http.server.request.duration");
  auto wide = Glob::Compile("http.*");
  auto narrow = Glob::Compile("http.client.*");
  ASSERT_TRUE(exact.ok() && wide.ok() && narrow.ok());
  EXPECT_FALSE(exact->HasWildcards());
  EXPECT_TRUE(wide->HasWildcards());
  EXPECT_LT(wide->LiteralLength(), narrow->LiteralLength());
}

TEST(NormalizeTest, MetricNames) {
  EXPECT_EQ(NormalizeMetricName("http_server_request_duration_seconds"),
            "http.server.request.duration");
  EXPECT_EQ(NormalizeMetricName("http_server_request_duration_seconds_count"),
            "http.server.request.duration");
  EXPECT_EQ(NormalizeMetricName("http.server.request.duration"), "http.server.request.duration");
  EXPECT_EQ(NormalizeMetricName("beyla_network_flow_bytes"), "beyla.network.flow");
  EXPECT_EQ(NormalizeMetricName("beyla_network_flow_bytes_total"), "beyla.network.flow");
  EXPECT_EQ(NormalizeMetricName("beyla.network.flow.bytes"), "beyla.network.flow");
  EXPECT_EQ(NormalizeMetricName("http_server_request_body_size_bytes_bucket"),
            "http.server.request.body.size");
  EXPECT_EQ(NormalizeMetricName("process_cpu_utilization_ratio"), "process.cpu.utilization");
  EXPECT_EQ(NormalizeAttributeName("k8s_src_namespace"), "k8s.src.namespace");
}

std::vector<AttributeDef> HttpDefs() {
  return {
      {"service.name", true}, {"http.request.method", true}, {"http.response.status_code", true},
      {"http.route", true},   {"url.path", false},           {"server.address", true}};
}

std::vector<bool> Resolve(const std::map<std::string, AttributeSelection>& select,
                          std::string_view metric) {
  auto selector = AttributeSelector::Create(select);
  EXPECT_TRUE(selector.ok()) << selector.status();
  return selector->Resolve(NormalizeMetricName(metric), HttpDefs());
}

TEST(AttributeSelectorTest, DefaultsWithoutSelection) {
  EXPECT_EQ(Resolve({}, "http_server_request_duration_seconds"),
            (std::vector<bool>{true, true, true, true, false, true}));
}

TEST(AttributeSelectorTest, IncludeListReplacesDefaults) {
  EXPECT_EQ(Resolve({{"http_server_request_duration", {{"http_route", "url.path"}, {}}}},
                    "http_server_request_duration_seconds"),
            (std::vector<bool>{false, false, false, true, true, false}));
  // Another metric is untouched.
  EXPECT_EQ(Resolve({{"http_server_request_duration", {{"http_route"}, {}}}},
                    "http_client_request_duration_seconds"),
            (std::vector<bool>{true, true, true, true, false, true}));
}

TEST(AttributeSelectorTest, ExcludeOnlyRemovesFromDefaults) {
  EXPECT_EQ(Resolve({{"http.server.request.duration", {{}, {"server.*"}}}},
                    "http_server_request_duration_seconds"),
            (std::vector<bool>{true, true, true, true, false, false}));
}

TEST(AttributeSelectorTest, MoreSpecificEntriesOverrideWildcards) {
  // Beyla's documented example: http_* includes everything but url.path and http.route;
  // http_server_* brings http_route back for the server metrics only.
  const std::map<std::string, AttributeSelection> select = {
      {"http_*", {{"*"}, {"url_path", "http_route"}}},
      {"http_server_*", {{"http_route"}, {}}},
  };
  EXPECT_EQ(Resolve(select, "http_server_request_duration_seconds"),
            (std::vector<bool>{true, true, true, true, false, true}));
  EXPECT_EQ(Resolve(select, "http_client_request_duration_seconds"),
            (std::vector<bool>{true, true, true, false, false, true}));
  // An exact key wins over every glob.
  const std::map<std::string, AttributeSelection> exact = {
      {"http_server_request_duration", {{}, {"service.name"}}},
      {"*", {{"service.name"}, {}}},
  };
  EXPECT_EQ(Resolve(exact, "http_server_request_duration_seconds"),
            (std::vector<bool>{false, false, false, false, false, false}));
}

TEST(AttributeSelectorTest, BadGlobsNameTheKey) {
  auto bad_key = AttributeSelector::Create({{"http_[", {{"*"}, {}}}});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.status().message().find("http_["), std::string::npos);
  auto bad_include = AttributeSelector::Create({{"http_*", {{"k8s.{src"}, {}}}});
  ASSERT_FALSE(bad_include.ok());
  EXPECT_NE(bad_include.status().message().find("include"), std::string::npos);
  auto bad_exclude = AttributeSelector::Create({{"http_*", {{}, {"a]"}}}});
  ASSERT_FALSE(bad_exclude.ok());
  EXPECT_NE(bad_exclude.status().message().find("exclude"), std::string::npos);
}

}  // namespace
}  // namespace loupe::metrics::app
