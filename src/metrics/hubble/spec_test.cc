#include "src/metrics/hubble/spec.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::metrics::hubble {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The seed's values.yaml list (hubble.metrics.enabled).
const std::vector<std::string> kSeedEntries = {
    "dns",
    "drop",
    "tcp",
    "flow",
    "port-distribution",
    "icmp",
    std::string("httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,") +
        "destination_ip,destination_namespace,destination_workload,traffic_direction",
};

TEST(ParseHubbleMetricsTest, SeedList) {
  auto specs = ParseHubbleMetrics(kSeedEntries);
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 7u);
  EXPECT_EQ((*specs)[0].kind, HandlerKind::kDns);
  EXPECT_EQ((*specs)[1].kind, HandlerKind::kDrop);
  EXPECT_EQ((*specs)[2].kind, HandlerKind::kTcp);
  EXPECT_EQ((*specs)[3].kind, HandlerKind::kFlow);
  EXPECT_EQ((*specs)[4].kind, HandlerKind::kPortDistribution);
  EXPECT_EQ((*specs)[5].kind, HandlerKind::kIcmp);
  const HandlerSpec& http = (*specs)[6];
  EXPECT_EQ(http.kind, HandlerKind::kHttpV2);
  EXPECT_TRUE(http.exemplars);
  EXPECT_TRUE(http.http_status_code_label);
  EXPECT_FALSE(http.context.HasSource());
  EXPECT_FALSE(http.context.HasDestination());
  // The fixed order, not the order of the entry.
  EXPECT_THAT(http.context.LabelNames(),
              ElementsAre("source_ip", "source_namespace", "source_workload", "destination_ip",
                          "destination_namespace", "destination_workload", "traffic_direction"));
  EXPECT_EQ(http.context.LabelCount(), 7u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ((*specs)[i].context.LabelCount(), 0u) << i;
    EXPECT_FALSE((*specs)[i].exemplars) << i;
  }
}

TEST(ParseHubbleMetricsTest, LabelsContextOrderIsFixedWithWorkloadKinds) {
  auto specs = ParseHubbleMetrics(
      {"flow:labelsContext=traffic_direction,destination_app,destination_workload_kind,"
       "destination_workload,destination_namespace,destination_pod,destination_ip,source_app,"
       "source_workload_kind,source_workload,source_namespace,source_pod,source_ip;"
       "destinationContext=pod;sourceContext=namespace"});
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_THAT(
      (*specs)[0].context.LabelNames(),
      ElementsAre("source_ip", "source_pod", "source_namespace", "source_workload",
                  "source_workload_kind", "source_app", "destination_ip", "destination_pod",
                  "destination_namespace", "destination_workload", "destination_workload_kind",
                  "destination_app", "traffic_direction", "source", "destination"));
  EXPECT_EQ((*specs)[0].context.LabelCount(), 15u);
}

TEST(ParseHubbleMetricsTest, ContextIdentifiersWithFallbacks) {
  auto specs =
      ParseHubbleMetrics({"flow:sourceContext=namespace|ip;destinationContext=dns|IP;"
                          "sourceEgressContext=pod;sourceIngressContext=workload-name|app;"
                          "destinationEgressContext=reserved-identity|identity;"
                          "destinationIngressContext=pod-short|pod-name|workload"});
  ASSERT_TRUE(specs.ok()) << specs.status();
  const ContextOptions& ctx = (*specs)[0].context;
  EXPECT_THAT(ctx.source, ElementsAre(ContextId::kNamespace, ContextId::kIp));
  EXPECT_THAT(ctx.destination, ElementsAre(ContextId::kDns, ContextId::kIp));
  EXPECT_THAT(ctx.source_egress, ElementsAre(ContextId::kPod));
  EXPECT_THAT(ctx.source_ingress, ElementsAre(ContextId::kWorkloadName, ContextId::kApp));
  EXPECT_THAT(ctx.destination_egress,
              ElementsAre(ContextId::kReservedIdentity, ContextId::kIdentity));
  EXPECT_THAT(ctx.destination_ingress,
              ElementsAre(ContextId::kPodShort, ContextId::kPodName, ContextId::kWorkload));
  EXPECT_THAT(ctx.LabelNames(), ElementsAre("source", "destination"));
}

TEST(ParseHubbleMetricsTest, DirectionalContextAloneAddsTheLabel) {
  auto specs = ParseHubbleMetrics({"drop:destinationIngressContext=pod"});
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_THAT((*specs)[0].context.LabelNames(), ElementsAre("destination"));
}

TEST(ParseHubbleMetricsTest, HandlerOptions) {
  auto specs = ParseHubbleMetrics({"dns:Query;IGNOREAAAA", "flows-to-world:any-drop;port;syn-only",
                                   "http:exemplars=false;httpStatusCodeLabel=false", "kafka"});
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 4u);
  EXPECT_TRUE((*specs)[0].query);
  EXPECT_TRUE((*specs)[0].ignore_aaaa);
  EXPECT_TRUE((*specs)[1].any_drop);
  EXPECT_TRUE((*specs)[1].port);
  EXPECT_TRUE((*specs)[1].syn_only);
  EXPECT_EQ((*specs)[2].kind, HandlerKind::kHttp);
  EXPECT_FALSE((*specs)[2].exemplars);
  EXPECT_FALSE((*specs)[2].http_status_code_label);
  EXPECT_EQ((*specs)[3].kind, HandlerKind::kKafka);
}

TEST(ParseHubbleMetricsTest, FlagsDefaultOffAndAcceptTrueFalse) {
  auto specs = ParseHubbleMetrics({"dns:query=true;ignoreAAAA=false", "flows-to-world"});
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_TRUE((*specs)[0].query);
  EXPECT_FALSE((*specs)[0].ignore_aaaa);
  EXPECT_FALSE((*specs)[1].any_drop);
  EXPECT_FALSE((*specs)[1].port);
  EXPECT_FALSE((*specs)[1].syn_only);
}

TEST(ParseHubbleMetricsTest, EmptyEntriesAndEmptyOptionsAreSkipped) {
  auto specs = ParseHubbleMetrics({"", "  ", " dns: ", "drop:;;labelsContext=source_pod;"});
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].kind, HandlerKind::kDns);
  EXPECT_THAT((*specs)[1].context.LabelNames(), ElementsAre("source_pod"));
}

struct BadEntry {
  std::vector<std::string> entries;
  std::string message;  // a part of the error
};

TEST(ParseHubbleMetricsTest, RejectsBadEntriesNamingTheCulprit) {
  const std::vector<BadEntry> cases = {
      {{"bogus"}, "unknown handler \"bogus\""},
      {{"HTTPV2"}, "unknown handler \"HTTPV2\""},
      {{"policy"}, "\"policy\" is not supported by Loupe"},
      {{"sctp"}, "\"sctp\" is not supported by Loupe"},
      {{"dns:bogus"}, "unknown option \"bogus\" for handler dns"},
      {{"drop:query"}, "unknown option \"query\" for handler drop"},
      {{"flow:exemplars=true"}, "unknown option \"exemplars\" for handler flow"},
      {{"flow:sourceContext=pod|nope"}, "unknown context identifier \"nope\" in sourceContext"},
      {{"flow:destinationContext=pod|"}, "unknown context identifier \"\" in destinationContext"},
      {{"flow:sourceContext"}, "option \"sourceContext\" needs a value"},
      {{"flow:sourceContext="}, "option \"sourceContext\" needs a value"},
      {{"flow:labelsContext="}, "option \"labelsContext\" needs a value"},
      {{"flow:labelsContext=source_pod,nope"}, "invalid labelsContext value \"nope\""},
      {{"flow:labelsContext=Source_Pod"}, "invalid labelsContext value \"Source_Pod\""},
      {{"flow:labelsContext=source_pod,"}, "invalid labelsContext value \"\""},
      {{"dns:query=yes"}, "option \"query\" takes no value or true/false, got \"yes\""},
      {{"httpV2:exemplars"}, "option \"exemplars\" needs a value"},
      {{"httpV2:exemplars=1"}, "option \"exemplars\" takes no value or true/false"},
      {{"http", "httpV2"}, "http and httpV2 cannot be enabled together"},
      {{"httpV2:exemplars=true", "http"}, "http and httpV2 cannot be enabled together"},
      {{"dns", "flow", "dns:query"}, "handler dns is configured twice"},
  };
  for (const BadEntry& c : cases) {
    auto specs = ParseHubbleMetrics(c.entries);
    ASSERT_FALSE(specs.ok()) << c.entries.back();
    EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(specs.status().message()), HasSubstr(c.message)) << c.entries.back();
    EXPECT_THAT(std::string(specs.status().message()), HasSubstr(c.entries.back()));
  }
}

TEST(SplitHubbleMetricsFlagTest, WhitespaceSeparatesEntries) {
  EXPECT_THAT(
      SplitHubbleMetricsFlag(" dns:query;ignoreAAAA  http:destinationContext=workload-name\n"
                             "\tflow:labelsContext=source_pod,destination_pod "),
      ElementsAre("dns:query;ignoreAAAA", "http:destinationContext=workload-name",
                  "flow:labelsContext=source_pod,destination_pod"));
  EXPECT_TRUE(SplitHubbleMetricsFlag("   ").empty());
}

TEST(HandlerNameTest, Names) {
  EXPECT_STREQ(HandlerName(HandlerKind::kPortDistribution), "port-distribution");
  EXPECT_STREQ(HandlerName(HandlerKind::kHttpV2), "httpV2");
  EXPECT_STREQ(HandlerName(HandlerKind::kFlowsToWorld), "flows-to-world");
  EXPECT_STREQ(ContextLabelName(ContextLabel::kDestinationWorkloadKind),
               "destination_workload_kind");
}

}  // namespace
}  // namespace loupe::metrics::hubble
