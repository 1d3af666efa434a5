#include "src/cli/observe_filters.h"

#include "gtest/gtest.h"
#include "src/cli/printer.h"

namespace loupe::cli {
namespace {

std::vector<std::string> Json(const std::vector<flowpb::FlowFilter>& filters) {
  std::vector<std::string> out;
  for (const auto& f : filters) out.push_back(ToJson(f));
  return out;
}

FlowFilters Build(const std::vector<std::string>& args) {
  auto f = BuildFlowFilters(ExtractFilterFlags(args));
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : FlowFilters{};
}

using V = std::vector<std::string>;

TEST(ObserveFiltersTest, EitherDirectionMakesTwoFilters) {
  auto f = Build({"--ip", "10.0.0.1"});
  EXPECT_EQ(Json(f.allowlist),
            (V{R"({"source_ip":["10.0.0.1"]})", R"({"destination_ip":["10.0.0.1"]})"}));
  EXPECT_TRUE(f.denylist.empty());
  f = Build({"--port", "53", "--verdict", "dropped"});
  EXPECT_EQ(Json(f.allowlist), (V{R"({"verdict":["DROPPED"],"source_port":["53"]})",
                                  R"({"verdict":["DROPPED"],"destination_port":["53"]})"}));
}

TEST(ObserveFiltersTest, SingleSideFlagsMakeOneFilter) {
  auto f = Build({"--from-ip", "10.0.0.1", "--to-port=80", "--protocol", "TCP", "-4"});
  EXPECT_EQ(Json(f.allowlist),
            (V{R"({"source_ip":["10.0.0.1"],"protocol":["tcp"],"destination_port":["80"],)"
               R"("ip_version":["IPv4"]})"}));
}

TEST(ObserveFiltersTest, NotMovesNextFilterToDenylist) {
  auto f = Build({"--not", "--verdict", "FORWARDED", "--protocol", "udp"});
  EXPECT_EQ(Json(f.allowlist), (V{R"({"protocol":["udp"]})"}));
  EXPECT_EQ(Json(f.denylist), (V{R"({"verdict":["FORWARDED"]})"}));
  f = Build({"--not", "--ip", "10.0.0.1"});
  EXPECT_TRUE(f.allowlist.empty());
  EXPECT_EQ(Json(f.denylist),
            (V{R"({"source_ip":["10.0.0.1"]})", R"({"destination_ip":["10.0.0.1"]})"}));
}

TEST(ObserveFiltersTest, EnumsAndStructuredValues) {
  auto f = Build({"--type", "trace:to-stack", "--tcp-flags", "syn,ack", "--traffic-direction",
                  "ingress", "--drop-reason-desc", "policy_denied", "--http-status", "5+",
                  "--node-name", "k8s*", "--interface", "eth0", "--identity", "world"});
  ASSERT_EQ(f.allowlist.size(), 2u);
  EXPECT_EQ(ToJson(f.allowlist[0]),
            R"({"event_type":[{"type":4,"match_sub_type":true,"sub_type":3}],)"
            R"("http_status_code":["5+"],"source_identity":[2],)"
            R"("tcp_flags":[{"SYN":true,"ACK":true}],"node_name":["k8s*"],)"
            R"("traffic_direction":["INGRESS"],"drop_reason_desc":["POLICY_DENIED"],)"
            R"("interface":[{"name":"eth0"}]})");
}

TEST(ObserveFiltersTest, PodsAndNamespaces) {
  auto f = Build({"--pod", "xwing"});
  EXPECT_EQ(Json(f.allowlist),
            (V{R"({"source_pod":["default/xwing"]})", R"({"destination_pod":["default/xwing"]})"}));
  f = Build({"-n", "kube-system"});
  EXPECT_EQ(Json(f.allowlist),
            (V{R"({"source_pod":["kube-system/"]})", R"({"destination_pod":["kube-system/"]})"}));
  f = Build({"--from-pod", "xwing", "-n", "empire"});
  EXPECT_EQ(Json(f.allowlist), (V{R"({"source_pod":["empire/xwing"]})"}));
  f = Build({"--to-workload", "Deployment/api", "--from-fqdn", "*.cilium.io"});
  EXPECT_EQ(Json(f.allowlist),
            (V{R"({"source_fqdn":["*.cilium.io"],"destination_workload":[{"name":"api",)"
               R"("kind":"Deployment"}]})"}));
}

// The product brief's `--http-status 500-599`: a range goes out as Hubble's codes and prefixes.
TEST(ObserveFiltersTest, HttpStatusRangesBecomeHubblePrefixes) {
  const auto codes = [](const std::string& range) {
    auto f = Build({"--http-status", range});
    EXPECT_EQ(f.allowlist.size(), 1u) << range;
    return f.allowlist.empty() ? V{}
                               : V(f.allowlist[0].http_status_code().begin(),
                                   f.allowlist[0].http_status_code().end());
  };
  EXPECT_EQ(codes("500-599"), (V{"5+"}));
  EXPECT_EQ(codes("200-299"), (V{"2+"}));
  EXPECT_EQ(codes("404-404"), (V{"404"}));
  EXPECT_EQ(codes("400-419"), (V{"40+", "41+"}));
  EXPECT_EQ(codes("498-511"), (V{"498", "499", "50+", "510", "511"}));
  EXPECT_EQ(codes("100-599"), (V{"1+", "2+", "3+", "4+", "5+"}));
  // Mixed with single codes and prefixes, in the order given.
  auto f = Build({"--http-status", "404", "--http-status", "500-599"});
  EXPECT_EQ(Json(f.allowlist), (V{R"({"http_status_code":["404","5+"]})"}));
}

TEST(ObserveFiltersTest, BadValuesNameTheFlag) {
  for (const V& args :
       {V{"--verdict", "MAYBE"}, V{"--port", "70000"}, V{"--tcp-flags", "syn,xyz"},
        V{"--type", "bogus"}, V{"--http-status", "600"}, V{"--http-status", "599-500"},
        V{"--http-status", "500-600"}, V{"--http-status", "5+-599"}, V{"--http-status", "500-"},
        V{"--not"}, V{"--traffic-direction", "up"}, V{"--ip-version", "v5"}}) {
    auto f = BuildFlowFilters(ExtractFilterFlags(args));
    ASSERT_FALSE(f.ok()) << args[0];
    EXPECT_NE(std::string(f.status().message()).find(args[0]), std::string::npos) << f.status();
  }
}

TEST(ObserveFiltersTest, ExtractIgnoresOtherFlags) {
  auto flags = ExtractFilterFlags(
      {"--server", "x:1", "--last", "10", "-o", "json", "-t", "drop", "--ipv6", "--not", "-n=ns"});
  ASSERT_EQ(flags.size(), 4u);
  EXPECT_EQ(flags[0], (FilterFlag{"type", "drop"}));
  EXPECT_EQ(flags[1], (FilterFlag{"ipv6", ""}));
  EXPECT_EQ(flags[2], (FilterFlag{"not", ""}));
  EXPECT_EQ(flags[3], (FilterFlag{"namespace", "ns"}));
}

TEST(ObserveFiltersTest, RawFiltersYaml) {
  auto f = Build({"--verdict", "DROPPED", "--verdict", "ERROR"});
  EXPECT_EQ(RawFiltersYaml(f), "allowlist:\n- '{\"verdict\":[\"DROPPED\",\"ERROR\"]}'\n");
}

}  // namespace
}  // namespace loupe::cli
