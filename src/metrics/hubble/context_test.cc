#include "src/metrics/hubble/context.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::metrics::hubble {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

flow::IpAddress Ip(const std::string& text) {
  flow::IpAddress ip;
  EXPECT_TRUE(flow::IpAddress::Parse(text, &ip)) << text;
  return ip;
}

std::shared_ptr<const flow::PeerInfo> Peer(const std::string& ns, const std::string& pod,
                                           const std::string& workload, const std::string& kind,
                                           std::vector<std::string> labels,
                                           std::vector<std::string> names = {}) {
  auto info = std::make_shared<flow::PeerInfo>();
  info->endpoint.namespace_name = ns;
  info->endpoint.pod_name = pod;
  if (!workload.empty()) info->endpoint.workloads.push_back({workload, kind});
  info->endpoint.labels = std::move(labels);
  info->names = std::move(names);
  return info;
}

// A response flow of an HTTP exchange seen at the server: src = server, dst = client.
flow::Flow ServerResponse() {
  flow::Flow f;
  f.src_ip = Ip("10.0.2.7");
  f.dst_ip = Ip("10.0.1.5");
  f.direction = flow::TrafficDirection::kIngress;
  f.src_info = Peer("shop", "api-6c9f7d8b5-q7x2k", "api", "Deployment",
                    {"k8s:app.kubernetes.io/name=api-svc", "k8s:app=api"}, {"api.shop.svc"});
  f.dst_info = Peer("web", "frontend-0", "frontend", "StatefulSet",
                    {"k8s:k8s-app=frontend", "reserved:world"});
  return f;
}

ContextOptions AllLabels() {
  ContextOptions options;
  options.labels = (1u << kContextLabelCount) - 1;
  return options;
}

std::vector<std::string> Values(const ContextOptions& options, const flow::Flow& f,
                                bool invert = false) {
  LabelValues values;
  AppendContextValues(options, f, invert, &values);
  std::vector<std::string> out;
  for (std::string_view v : values.span()) out.emplace_back(v);
  EXPECT_EQ(out.size(), options.LabelCount());
  return out;
}

TEST(ShortenPodNameTest, MatchesHubblesPattern) {
  EXPECT_EQ(ShortenPodName("web-7d4b9c5f6-x2kq9"), "web");
  EXPECT_EQ(ShortenPodName("foo-bar-abc12-xyz"), "foo-bar");
  EXPECT_EQ(ShortenPodName("frontend-0"), "frontend");
  EXPECT_EQ(ShortenPodName("a-b"), "a");
  EXPECT_EQ(ShortenPodName("x-1-2-3"), "x-1");
  EXPECT_EQ(ShortenPodName("a--b"), "a-");
  EXPECT_EQ(ShortenPodName("-abc"), "-abc");
  EXPECT_EQ(ShortenPodName("-a-b"), "-a");
  EXPECT_EQ(ShortenPodName("abc"), "abc");
  EXPECT_EQ(ShortenPodName("web-ABC"), "web-ABC");
  EXPECT_EQ(ShortenPodName("web-"), "web-");
  EXPECT_EQ(ShortenPodName(""), "");
}

TEST(AppFromLabelsTest, FirstNonEmptyAppLabelInLabelOrder) {
  EXPECT_EQ(AppFromLabels({"k8s:app=web"}), "web");
  EXPECT_EQ(AppFromLabels({"k8s:app.kubernetes.io/name=api", "k8s:app=web"}), "api");
  EXPECT_EQ(AppFromLabels({"k8s:app=", "k8s:k8s-app=dns"}), "dns");
  EXPECT_EQ(AppFromLabels({"k8s:application=x", "k8s:app.kubernetes.io/part-of=y"}), "");
  EXPECT_EQ(AppFromLabels({"container:app=x"}), "");
  EXPECT_EQ(AppFromLabels({}), "");
}

TEST(ReservedIdentityTest, PrefersKubeApiServer) {
  EXPECT_EQ(ReservedIdentity({"reserved:host", "reserved:kube-apiserver"}),
            "reserved:kube-apiserver");
  EXPECT_EQ(ReservedIdentity({"k8s:a=b", "reserved:world", "reserved:host"}), "reserved:world");
  EXPECT_EQ(ReservedIdentity({"k8s:a=b"}), "");
}

TEST(AppendContextValuesTest, EveryLabelsContextLabelInFixedOrder) {
  EXPECT_THAT(Values(AllLabels(), ServerResponse()),
              ElementsAre("10.0.2.7", "api-6c9f7d8b5-q7x2k", "shop", "api", "Deployment", "api-svc",
                          "10.0.1.5", "frontend-0", "web", "frontend", "StatefulSet", "frontend",
                          "ingress"));
}

TEST(AppendContextValuesTest, InvertSwapsSourceAndDestinationButNotDirection) {
  EXPECT_THAT(Values(AllLabels(), ServerResponse(), /*invert=*/true),
              ElementsAre("10.0.1.5", "frontend-0", "web", "frontend", "StatefulSet", "frontend",
                          "10.0.2.7", "api-6c9f7d8b5-q7x2k", "shop", "api", "Deployment", "api-svc",
                          "ingress"));
}

TEST(AppendContextValuesTest, UnknownPeersGiveEmptyValuesButAddresses) {
  flow::Flow f;
  f.src_ip = Ip("2001:db8::1");
  f.dst_ip = Ip("2001:db8::2");
  EXPECT_THAT(Values(AllLabels(), f), ElementsAre("2001:db8::1", "", "", "", "", "", "2001:db8::2",
                                                  "", "", "", "", "", "unknown"));
  flow::Flow no_ip;
  no_ip.direction = flow::TrafficDirection::kEgress;
  EXPECT_THAT(Values(AllLabels(), no_ip),
              ElementsAre("", "", "", "", "", "", "", "", "", "", "", "", "egress"));
}

TEST(AppendContextValuesTest, EachContextIdentifier) {
  const flow::Flow f = ServerResponse();
  auto source = [&](ContextId id) {
    ContextOptions options;
    options.source = {id};
    return Values(options, f);
  };
  EXPECT_THAT(source(ContextId::kIdentity),
              ElementsAre("k8s:app.kubernetes.io/name=api-svc,k8s:app=api"));
  EXPECT_THAT(source(ContextId::kNamespace), ElementsAre("shop"));
  EXPECT_THAT(source(ContextId::kPod), ElementsAre("shop/api-6c9f7d8b5-q7x2k"));
  EXPECT_THAT(source(ContextId::kPodShort), ElementsAre("shop/api"));
  EXPECT_THAT(source(ContextId::kPodName), ElementsAre("api-6c9f7d8b5-q7x2k"));
  EXPECT_THAT(source(ContextId::kDns), ElementsAre("api.shop.svc"));
  EXPECT_THAT(source(ContextId::kIp), ElementsAre("10.0.2.7"));
  EXPECT_THAT(source(ContextId::kReservedIdentity), ElementsAre(""));
  EXPECT_THAT(source(ContextId::kWorkload), ElementsAre("shop/api"));
  EXPECT_THAT(source(ContextId::kWorkloadName), ElementsAre("api"));
  EXPECT_THAT(source(ContextId::kApp), ElementsAre("api-svc"));

  ContextOptions destination;
  destination.destination = {ContextId::kReservedIdentity};
  EXPECT_THAT(Values(destination, f), ElementsAre("reserved:world"));
}

TEST(AppendContextValuesTest, EmptyNamespaceAndMissingWorkload) {
  flow::Flow f;
  f.src_info = Peer("", "standalone", "", "", {});
  ContextOptions options;
  options.source = {ContextId::kPod};
  options.destination = {ContextId::kWorkload};
  EXPECT_THAT(Values(options, f), ElementsAre("standalone", ""));
}

TEST(AppendContextValuesTest, FirstNonEmptyIdentifierWins) {
  flow::Flow f = ServerResponse();
  ContextOptions options;
  options.source = {ContextId::kReservedIdentity, ContextId::kDns, ContextId::kIp};
  options.destination = {ContextId::kDns, ContextId::kIp};
  // The source has DNS names; the destination falls back to its address.
  EXPECT_THAT(Values(options, f), ElementsAre("api.shop.svc", "10.0.1.5"));
  auto many = std::make_shared<flow::PeerInfo>(*f.dst_info);
  many->names = {"a.example.com", "b.example.com"};
  f.dst_info = many;
  EXPECT_THAT(Values(options, f), ElementsAre("api.shop.svc", "a.example.com,b.example.com"));
  options.destination = {ContextId::kPodName, ContextId::kApp};
  f.dst_info = nullptr;
  EXPECT_THAT(Values(options, f), ElementsAre("api.shop.svc", ""));
}

TEST(AppendContextValuesTest, DirectionalOverrides) {
  flow::Flow f = ServerResponse();
  ContextOptions options;
  options.source = {ContextId::kNamespace};
  options.source_ingress = {ContextId::kPodName};
  options.destination_egress = {ContextId::kNamespace};
  f.direction = flow::TrafficDirection::kIngress;
  // Ingress: sourceIngressContext applies; no destination identifiers for ingress.
  EXPECT_THAT(Values(options, f), ElementsAre("api-6c9f7d8b5-q7x2k", ""));
  f.direction = flow::TrafficDirection::kEgress;
  EXPECT_THAT(Values(options, f), ElementsAre("shop", "web"));
  f.direction = flow::TrafficDirection::kUnknown;
  EXPECT_THAT(Values(options, f), ElementsAre("shop", ""));
}

TEST(AppendContextValuesTest, InvertedContextsDescribeTheRequestSides) {
  const flow::Flow f = ServerResponse();  // src = server, dst = client
  ContextOptions options;
  options.source = {ContextId::kNamespace};
  options.destination = {ContextId::kPodName};
  EXPECT_THAT(Values(options, f, /*invert=*/true), ElementsAre("web", "api-6c9f7d8b5-q7x2k"));
  ContextOptions only_source;
  only_source.source = {ContextId::kIp};
  EXPECT_THAT(Values(only_source, f, /*invert=*/true), ElementsAre("10.0.1.5"));
}

TEST(AppendContextValuesTest, LabelsContextThenSourceThenDestination) {
  ContextOptions options;
  options.labels = (1u << static_cast<int>(ContextLabel::kTrafficDirection)) |
                   (1u << static_cast<int>(ContextLabel::kSourceNamespace));
  options.destination = {ContextId::kNamespace};
  options.source = {ContextId::kWorkloadName};
  EXPECT_THAT(options.LabelNames(),
              ElementsAre("source_namespace", "traffic_direction", "source", "destination"));
  EXPECT_THAT(Values(options, ServerResponse()), ElementsAre("shop", "ingress", "api", "web"));
}

TEST(LabelValuesTest, LongValuesSpillToTheHeapIntact) {
  flow::Flow f = ServerResponse();
  auto info = std::make_shared<flow::PeerInfo>(*f.src_info);
  for (int i = 0; i < 100; ++i) {
    info->names.push_back("host-" + std::to_string(i) + ".a-fairly-long-domain.example.com");
  }
  f.src_info = info;
  ContextOptions options;
  options.labels = (1u << static_cast<int>(ContextLabel::kDestinationIp));
  options.source = {ContextId::kDns};
  options.destination = {ContextId::kPod};
  LabelValues values;
  AppendContextValues(options, f, false, &values);
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values.spilled(), 1u);
  std::string joined;
  for (size_t i = 0; i < info->names.size(); ++i) {
    if (i > 0) joined += ",";
    joined += info->names[i];
  }
  EXPECT_GT(joined.size(), LabelValues::kArenaSize);
  EXPECT_EQ(values[0], "10.0.1.5");
  EXPECT_EQ(values[1], joined);
  EXPECT_EQ(values[2], "web/frontend-0");  // formatted after the spill, back in the arena
  values.Reset();
  EXPECT_EQ(values.size(), 0u);
}

TEST(LabelValuesTest, AddressesFormatAsInetNtop) {
  for (const char* text : {"0.0.0.0", "255.255.255.255", "10.0.2.7", "192.168.100.1", "1.20.3.40",
                           "::", "::1", "2001:db8::ff00:42:8329", "::ffff:10.1.2.3"}) {
    const flow::IpAddress ip = Ip(text);
    LabelValues values;
    values.Begin();
    values.AppendIp(ip);
    values.End();
    EXPECT_EQ(values[0], ip.ToString()) << text;
    EXPECT_EQ(values[0], text);
  }
}

TEST(LabelValuesTest, FormattedNumbers) {
  LabelValues values;
  values.PushUint(0);
  values.PushUint(65535);
  values.PushUint(18446744073709551615ull);
  EXPECT_THAT(std::vector<std::string_view>(values.span().begin(), values.span().end()),
              ElementsAreArray({"0", "65535", "18446744073709551615"}));
}

}  // namespace
}  // namespace loupe::metrics::hubble
