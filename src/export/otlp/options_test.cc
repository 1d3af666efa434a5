#include "src/export/otlp/options.h"

#include <gtest/gtest.h>

#include <map>

namespace loupe::otlp {
namespace {

EnvLookup Env(const std::map<std::string, std::string>& vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(OptionsTest, DefaultsAreBeylas) {
  auto o = OtlpOptionsFromEnv(OtlpOptions{}, Env({})).value();
  EXPECT_EQ(o.sampler, "parentbased_always_on");
  EXPECT_EQ(o.queue_size, 16384u);
  EXPECT_EQ(o.batch_size, 4096u);
  EXPECT_EQ(o.interval, std::chrono::seconds(60));
  EXPECT_EQ(o.temporality, Temporality::kCumulative);
  EXPECT_TRUE(o.traces.endpoint.empty());
}

TEST(OptionsTest, SignalSpecificWinsOverCommonWinsOverBase) {
  OtlpOptions base;
  base.traces.endpoint = "http://from-config:4318";
  base.sampler = "always_on";
  auto o = OtlpOptionsFromEnv(base,
                              Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://common:4318"},
                                   {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9000/custom"},
                                   {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
                                   {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"},
                                   {"OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"},
                                   {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "B=3"},
                                   {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
                                   {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
                                   {"OTEL_TRACES_SAMPLER_ARG", "0.1"},
                                   {"OTEL_METRIC_EXPORT_INTERVAL", "15000"},
                                   {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"}}))
               .value();
  EXPECT_EQ(o.traces.endpoint, "http://common:4318");
  EXPECT_TRUE(o.traces.append_signal_path);
  EXPECT_EQ(*o.traces.protocol, Protocol::kGrpc);
  EXPECT_EQ(*o.metrics.protocol, Protocol::kHttpProtobuf);
  ASSERT_EQ(o.traces.headers.size(), 2u);
  EXPECT_EQ(o.traces.headers[1], (std::pair<std::string, std::string>("b", "3")));
  EXPECT_EQ(o.metrics.headers[1].second, "2");
  EXPECT_EQ(o.traces.timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(o.sampler, "parentbased_traceidratio");
  EXPECT_EQ(o.sampler_arg, "0.1");
  EXPECT_EQ(o.interval, std::chrono::seconds(15));
  EXPECT_EQ(o.temporality, Temporality::kDelta);
  EXPECT_EQ(ResolveEndpoint(o.metrics, Signal::kMetrics)->target, "http://m:9000/custom");
  EXPECT_EQ(ResolveEndpoint(o.traces, Signal::kTraces)->target, "common:4318");
}

TEST(OptionsTest, BadValuesNameTheVariable) {
  struct Case {
    const char* var;
    const char* value;
  };
  for (const Case& c :
       {Case{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
        Case{"OTEL_EXPORTER_OTLP_TIMEOUT", "soon"}, Case{"OTEL_EXPORTER_OTLP_INSECURE", "yes"},
        Case{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}, Case{"OTEL_EXPORTER_OTLP_HEADERS", "a=%zz"},
        Case{"OTEL_TRACES_SAMPLER", "sometimes"}, Case{"OTEL_BSP_MAX_QUEUE_SIZE", "-1"},
        Case{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "both"}}) {
    auto o = OtlpOptionsFromEnv(OtlpOptions{}, Env({{c.var, c.value}}));
    ASSERT_FALSE(o.ok()) << c.var;
    const std::string message(o.status().message());
    EXPECT_TRUE(message.find(c.var) != std::string::npos ||
                message.find(c.value) != std::string::npos)
        << message;
  }
  auto o = OtlpOptionsFromEnv(OtlpOptions{}, Env({{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20000"}}));
  EXPECT_FALSE(o.ok());  // batch above the queue
}

TEST(OptionsTest, ParseHeadersDecodes) {
  auto h = ParseHeaders(" api-key = secret%3D1 , x=a%2Cb,,").value();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>("api-key", "secret=1")));
  EXPECT_EQ(h[1].second, "a,b");
  EXPECT_FALSE(ParseHeaders("=v").ok());
  EXPECT_FALSE(ParseHeaders("k=%4").ok());
}

TEST(OptionsTest, ResolveEndpoint) {
  EndpointOptions e;
  e.endpoint = "http://collector:4318";
  auto r = ResolveEndpoint(e, Signal::kTraces).value();
  EXPECT_EQ(r.protocol, Protocol::kHttpProtobuf);
  EXPECT_EQ(r.target, "http://collector:4318/v1/traces");
  EXPECT_FALSE(r.tls);
  e.endpoint = "https://collector:4318/otlp/";
  e.append_signal_path = true;
  r = ResolveEndpoint(e, Signal::kMetrics).value();
  EXPECT_EQ(r.target, "https://collector:4318/otlp/v1/metrics");
  EXPECT_TRUE(r.tls);
  e = {};
  e.endpoint = "http://collector:4317";  // guessed from the port
  r = ResolveEndpoint(e, Signal::kTraces).value();
  EXPECT_EQ(r.protocol, Protocol::kGrpc);
  EXPECT_EQ(r.target, "collector:4317");
  EXPECT_FALSE(r.tls);
  e.endpoint = "collector:4317";  // no scheme: TLS unless insecure
  EXPECT_TRUE(ResolveEndpoint(e, Signal::kTraces)->tls);
  e.insecure = true;
  EXPECT_FALSE(ResolveEndpoint(e, Signal::kTraces)->tls);
  e.endpoint = "collector:4318";  // http/protobuf needs a URL
  EXPECT_FALSE(ResolveEndpoint(e, Signal::kTraces).ok());
  e.endpoint = "ftp://collector:4318";
  EXPECT_FALSE(ResolveEndpoint(e, Signal::kTraces).ok());
  e.endpoint = "http://";
  EXPECT_FALSE(ResolveEndpoint(e, Signal::kTraces).ok());
}

}  // namespace
}  // namespace loupe::otlp
