#include "src/config/config.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using Strings = std::vector<std::string>;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ConfigTest, DefaultsWhenNothingIsGiven) {
  auto config = Config::Load("", FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetInt("prometheus_export.port"), 9965);
  EXPECT_EQ(config->GetString("prometheus_export.path"), "/metrics");
  EXPECT_EQ(config->GetString("log_level"), "info");
  EXPECT_EQ(config->GetList("loupe.network.exclude_interfaces"), std::vector<std::string>{"lo"});
  EXPECT_EQ(config->Get("log_level").source, "default");
}

TEST(ConfigTest, FileOverridesDefaultsAndEnvOverridesFile) {
  const std::string yaml = R"(
log_level: DEBUG
prometheus_export:
  port: 9090
  path: /custom
loupe:
  network:
    exclude_interfaces: [lo, "docker*"]
)";
  auto config =
      Config::LoadFromString(yaml, "test.yml", FakeEnv({{"BEYLA_PROMETHEUS_PORT", "9400"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetString("log_level"), "debug");
  EXPECT_EQ(config->Get("log_level").source, "file:test.yml:2");
  EXPECT_EQ(config->GetInt("prometheus_export.port"), 9400);
  EXPECT_EQ(config->Get("prometheus_export.port").source, "env:BEYLA_PROMETHEUS_PORT");
  EXPECT_EQ(config->GetString("prometheus_export.path"), "/custom");
  EXPECT_EQ(config->GetList("loupe.network.exclude_interfaces"),
            (std::vector<std::string>{"lo", "docker*"}));
}

TEST(ConfigTest, LoupeVariableWinsOverBeylaVariable) {
  auto config = Config::Load(
      "", FakeEnv({{"LOUPE_PROMETHEUS_PORT", "1234"}, {"BEYLA_PROMETHEUS_PORT", "4321"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetInt("prometheus_export.port"), 1234);
}

TEST(ConfigTest, UnknownKeyIsRejectedWithKeyAndAllowedKeys) {
  auto config = Config::LoadFromString("prometheus_export:\n  prot: 80\n", "bad.yml", FakeEnv({}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(),
              HasSubstr("unknown configuration key 'prometheus_export.prot'"));
  EXPECT_THAT(config.status().message(), HasSubstr("bad.yml:2"));
  EXPECT_THAT(config.status().message(), HasSubstr("path, port"));
}

TEST(ConfigTest, UnknownTopLevelKeyListsTopLevelKeys) {
  auto config = Config::LoadFromString("loglevel: info\n", "bad.yml", FakeEnv({}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("'loglevel'"));
  EXPECT_THAT(config.status().message(),
              HasSubstr("discovery, ebpf, executable_name, log_level, loupe"));
}

struct BadValueCase {
  std::string yaml;
  std::string expected;
};

class BadValueTest : public ::testing::TestWithParam<BadValueCase> {};

TEST_P(BadValueTest, IsRejectedNamingKeyAndAllowedValues) {
  auto config = Config::LoadFromString(GetParam().yaml, "bad.yml", FakeEnv({}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Values, BadValueTest,
    ::testing::Values(
        BadValueCase{"prometheus_export:\n  port: 70000\n",
                     "bad value for 'prometheus_export.port': '70000' is not an integer in [1, "
                     "65535]"},
        BadValueCase{"prometheus_export:\n  port: abc\n", "'prometheus_export.port'"},
        BadValueCase{"log_level: loud\n",
                     "bad value for 'log_level': 'loud' is not one of: debug, info, warn, error"},
        BadValueCase{"prometheus_export:\n  path: metrics\n", "must be an absolute URL path"},
        BadValueCase{"loupe:\n  network:\n    enable: maybe\n", "is not a boolean"},
        BadValueCase{"prometheus_export: 9090\n",
                     "'prometheus_export' (bad.yml:1) must be a mapping"},
        BadValueCase{"log_level: [info]\n",
                     "expected a one of debug, info, warn, error, got a list"},
        BadValueCase{"loupe: {network: {exclude_interfaces: {a: b}}}\n",
                     "expected a list of strings"},
        BadValueCase{"a: [unclosed\n", "cannot parse bad.yml as YAML"}));

TEST(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  auto config = Config::Load("", FakeEnv({{"BEYLA_LOG_LEVEL", "chatty"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("environment variable BEYLA_LOG_LEVEL"));
}

TEST(ConfigTest, HostileNestingIsRejectedBeforeParsing) {
  auto deep_flow = Config::LoadFromString(std::string(100000, '['), "deep.yml", FakeEnv({}));
  ASSERT_FALSE(deep_flow.ok());
  EXPECT_THAT(deep_flow.status().message(), HasSubstr("deeper than 32 levels"));
  std::string deep_block;
  for (int i = 0; i < 300; ++i) deep_block += std::string(i, ' ') + "k:\n";
  auto deep = Config::LoadFromString(deep_block, "deep.yml", FakeEnv({}));
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(deep.status().message(), HasSubstr("indentation"));
  auto big = Config::LoadFromString(std::string(2 << 20, '#'), "big.yml", FakeEnv({}));
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("larger than"));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto config = Config::Load("/nonexistent/loupe.yml", FakeEnv({}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(),
              HasSubstr("cannot read configuration file /nonexistent/loupe.yml: ENOENT"));
}

// A directory opens fine and fails on read; it used to load as an empty configuration.
TEST(ConfigTest, ADirectoryIsAnErrorNotAnEmptyConfiguration) {
  auto config = Config::Load("/tmp", FakeEnv({}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("cannot read configuration file /tmp: EISDIR"));
}

TEST(ConfigTest, ListFromEnvironmentIsCommaSeparated) {
  auto config = Config::Load("", FakeEnv({{"LOUPE_NETWORK_INTERFACES", "eth0, veth*"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetList("loupe.network.interfaces"),
            (std::vector<std::string>{"eth0", "veth*"}));
}

TEST(ConfigTest, DiscoverySelectorsAsBeylaWritesThem) {
  const std::string yaml = R"(
discovery:
  services:
    - k8s_namespace: "production|staging"
      k8s_pod_labels:
        app.kubernetes.io/part-of: ".*"
    - open_ports: 80,8000-8999
      exe_path: ".*nginx.*"
  exclude_services:
    - exe_path: ".*sshd"
)";
  auto config = Config::LoadFromString(yaml, "beyla.yml", FakeEnv({{"BEYLA_OPEN_PORT", "443"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  const SelectorList& services = config->GetSelectors("discovery.services");
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].at("k8s_namespace"), "production|staging");
  EXPECT_EQ(services[0].at("k8s_pod_labels/app.kubernetes.io/part-of"), ".*");
  EXPECT_EQ(services[1].at("open_ports"), "80,8000-8999");
  EXPECT_EQ(config->GetSelectors("discovery.exclude_services")[0].at("exe_path"), ".*sshd");
  EXPECT_EQ(config->GetString("open_port"), "443");
  EXPECT_TRUE(config->GetSelectors("discovery.instrument").empty());
}

TEST(ConfigTest, BadSelectorsAreRejectedNamingTheField) {
  auto unknown = Config::LoadFromString("discovery:\n  services:\n    - open_port: 80\n", "b.yml",
                                        FakeEnv({}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("unknown configuration key 'discovery.services[].open_port'"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("open_ports, exe_path"));
  auto ports = Config::LoadFromString("discovery:\n  services:\n    - open_ports: 90-80\n", "b.yml",
                                      FakeEnv({}));
  ASSERT_FALSE(ports.ok());
  EXPECT_THAT(ports.status().message(), HasSubstr("open_ports '90-80'"));
  auto scalar = Config::LoadFromString("discovery:\n  services: nginx\n", "b.yml", FakeEnv({}));
  ASSERT_FALSE(scalar.ok());
  EXPECT_THAT(scalar.status().message(), HasSubstr("expected a list of selectors"));
  auto env = Config::Load("", FakeEnv({{"BEYLA_OPEN_PORT", "http"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(env.status().message(), HasSubstr("BEYLA_OPEN_PORT"));
  auto regex = Config::Load("", FakeEnv({{"BEYLA_EXECUTABLE_NAME", "(oops"}}));
  ASSERT_FALSE(regex.ok());
  EXPECT_THAT(regex.status().message(), HasSubstr("not a valid regular expression"));
  // Go's regexp syntax, as Beyla: inline flags are fine, backreferences are not.
  EXPECT_TRUE(Config::Load("", FakeEnv({{"BEYLA_EXECUTABLE_NAME", "(?i)NGINX$"}})).ok());
  EXPECT_FALSE(Config::Load("", FakeEnv({{"BEYLA_EXECUTABLE_NAME", "(a)\\1"}})).ok());
}

TEST(PortRangesTest, Parses) {
  std::vector<std::pair<uint16_t, uint16_t>> ranges;
  ASSERT_TRUE(ParsePortRanges("80, 443,8000-8999", &ranges));
  EXPECT_EQ(ranges,
            (std::vector<std::pair<uint16_t, uint16_t>>{{80, 80}, {443, 443}, {8000, 8999}}));
  EXPECT_FALSE(ParsePortRanges("0", nullptr));
  EXPECT_FALSE(ParsePortRanges("70000", nullptr));
  EXPECT_FALSE(ParsePortRanges("", nullptr));
  EXPECT_FALSE(ParsePortRanges("a-b", nullptr));
}

TEST(DurationTest, ParsesGoStyleDurations) {
  std::chrono::nanoseconds d{};
  ASSERT_TRUE(ParseDuration("1m30s", &d));
  EXPECT_EQ(d, std::chrono::seconds(90));
  ASSERT_TRUE(ParseDuration("250ms", &d));
  EXPECT_EQ(d, std::chrono::milliseconds(250));
  ASSERT_TRUE(ParseDuration("2h", &d));
  EXPECT_EQ(d, std::chrono::hours(2));
  ASSERT_TRUE(ParseDuration("5", &d));
  EXPECT_EQ(d, std::chrono::seconds(5));
  EXPECT_FALSE(ParseDuration("5 parsecs", &d));
  EXPECT_FALSE(ParseDuration("", &d));
  EXPECT_FALSE(ParseDuration("-1s", &d));
}

std::string SeedPath() {
  return std::string(LOUPE_SOURCE_DIR) + "/tests/testdata/seed-beyla-config.yml";
}

// The seed's ConfigMap beyla-config.yml, verbatim: every key it sets, with the value and the line
// it comes from; every other key keeps its default.
TEST(SeedConfigTest, LoadsUnchangedWithExactValues) {
  auto config = Config::Load(SeedPath(), FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string file = "file:" + SeedPath() + ":";
  const std::map<std::string, int> expected_lines = {
      {"log_level", 2},
      {"discovery.services", 6},
      {"otel_metrics_export.endpoint", 15},
      {"otel_metrics_export.protocol", 16},
      {"otel_metrics_export.interval", 17},
      {"otel_metrics_export.features", 18},
      {"otel_metrics_export.histograms", 22},
      {"otel_traces_export.endpoint", 39},
      {"otel_traces_export.protocol", 40},
      {"otel_traces_export.sampler.name", 42},
      {"otel_traces_export.sampler.arg", 43},
      {"prometheus_export.port", 47},
      {"prometheus_export.path", 48},
      {"prometheus_export.features", 49},
      {"network.enable", 56},
      {"network.cidrs", 57},
      {"attributes.kubernetes.enable", 64},
      {"attributes.host_id.fetch_timeout", 66},
      {"attributes.select", 67},
  };
  for (const auto& [path, setting] : config->settings()) {
    auto it = expected_lines.find(path);
    if (it == expected_lines.end()) {
      EXPECT_EQ(setting.source, "default") << path;
      EXPECT_EQ(setting.value, FindKey(path)->default_value) << path;
    } else {
      EXPECT_EQ(setting.source, file + std::to_string(it->second)) << path;
    }
  }
  EXPECT_EQ(config->settings().size(), Schema().size());

  EXPECT_EQ(config->GetString("log_level"), "info");
  const SelectorList& services = config->GetSelectors("discovery.services");
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0], (Selector{{"k8s_namespace", "production|staging"},
                                   {"k8s_pod_labels/app.kubernetes.io/part-of", ".*"}}));
  EXPECT_EQ(services[1], (Selector{{"k8s_namespace", ".*"}, {"k8s_deployment_name", ".*"}}));

  const Strings features = {"application", "application_process", "application_service_graph"};
  const std::vector<double> seed_boundaries = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10};
  const OtelMetricsExportConfig& metrics = config->otel_metrics_export();
  EXPECT_TRUE(metrics.target.enabled);
  EXPECT_EQ(metrics.target.endpoint, "http://mimir-distributor.monitoring:4317");
  EXPECT_EQ(metrics.target.url, "http://mimir-distributor.monitoring:4317");
  EXPECT_EQ(metrics.target.protocol, OtlpProtocol::kGrpc);
  EXPECT_EQ(config->GetString("otel_metrics_export.protocol"), "grpc");
  EXPECT_EQ(metrics.interval, seconds(15));
  EXPECT_EQ(metrics.features, features);
  ASSERT_EQ(metrics.histograms.size(), 1u);
  EXPECT_EQ(metrics.histograms[0].boundaries, seed_boundaries);
  EXPECT_EQ(metrics.buckets.duration, seed_boundaries);
  EXPECT_EQ(metrics.buckets.request_size,
            (std::vector<double>{0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192}));
  EXPECT_EQ(metrics.ttl, std::chrono::minutes(5));
  EXPECT_EQ(metrics.temporality, Temporality::kCumulative);
  EXPECT_TRUE(metrics.target.headers.empty());

  const OtelTracesExportConfig& traces = config->otel_traces_export();
  EXPECT_EQ(traces.target.url, "http://tempo-distributor.monitoring:4317");
  EXPECT_EQ(traces.target.protocol, OtlpProtocol::kGrpc);
  EXPECT_EQ(traces.sampler.name, "parentbased_traceidratio");
  EXPECT_EQ(traces.sampler.arg, "0.1");
  EXPECT_TRUE(traces.sampler.parent_based);
  EXPECT_DOUBLE_EQ(traces.sampler.ratio, 0.1);
  EXPECT_EQ(traces.batch_max_size, 4096);
  EXPECT_EQ(traces.queue_size, 16384);
  EXPECT_EQ(traces.batch_timeout, seconds(15));

  const PrometheusExportConfig& prom = config->prometheus_export();
  EXPECT_EQ(prom.port, 9090);
  EXPECT_EQ(prom.path, "/metrics");
  EXPECT_EQ(prom.features, features);
  EXPECT_EQ(prom.instrumentations, Strings{"*"});
  EXPECT_EQ(prom.buckets.duration, (std::vector<double>{0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
                                                        0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}));

  EXPECT_TRUE(config->network().enable);
  EXPECT_TRUE(config->GetBool("network.enable"));
  EXPECT_EQ(config->network().cidrs, (CidrList{{"10.0.0.0/8", ""}, {"172.16.0.0/12", ""}}));

  EXPECT_EQ(config->kubernetes().enable, KubeEnable::kTrue);
  EXPECT_EQ(config->GetString("attributes.kubernetes.enable"), "true");
  EXPECT_EQ(config->attributes().host_id_fetch_timeout, seconds(5));
  EXPECT_EQ(config->attributes().select,
            (AttributeSelect{{"beyla_network_flow_bytes",
                              {{"k8s.src.namespace", "k8s.dst.namespace", "direction"}, {}}}}));

  // Keys the seed leaves out keep Beyla's defaults.
  EXPECT_EQ(config->routes().unmatched, "low-cardinality");
  EXPECT_EQ(config->kubernetes().informers_sync_timeout, seconds(30));
  ASSERT_EQ(config->loupe_metrics().hubble.size(), 7u);
  EXPECT_EQ(config->loupe_metrics().hubble[6].name, "httpV2");
}

// The seed's DaemonSet sets these variables next to the file.
TEST(SeedConfigTest, DaemonSetEnvironmentOverridesTheFile) {
  auto config =
      Config::Load(SeedPath(), FakeEnv({{"BEYLA_OPEN_PORT", "80,443,8080,8443,3000,5000,9090"},
                                        {"BEYLA_SERVICE_NAMESPACE", "monitoring"},
                                        {"BEYLA_KUBE_METADATA_ENABLE", "autodetect"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetString("open_port"), "80,443,8080,8443,3000,5000,9090");
  EXPECT_EQ(config->GetString("service_namespace"), "monitoring");
  EXPECT_EQ(config->Get("service_namespace").source, "env:BEYLA_SERVICE_NAMESPACE");
  EXPECT_EQ(config->kubernetes().enable, KubeEnable::kAutodetect);
  EXPECT_EQ(config->Get("attributes.kubernetes.enable").source, "env:BEYLA_KUBE_METADATA_ENABLE");
}

TEST(ConfigTest, BeylaDefaultsWithoutAFile) {
  auto config = Config::Load("", FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->prometheus_export().features, Strings{"application"});
  EXPECT_EQ(config->prometheus_export().ttl, std::chrono::minutes(5));
  EXPECT_EQ(config->prometheus_export().buckets.response_size,
            (std::vector<double>{0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192}));
  EXPECT_FALSE(config->otel_metrics_export().target.enabled);
  EXPECT_EQ(config->otel_metrics_export().interval, seconds(60));
  EXPECT_FALSE(config->otel_traces_export().target.enabled);
  EXPECT_EQ(config->otel_traces_export().sampler.name, "parentbased_always_on");
  EXPECT_DOUBLE_EQ(config->otel_traces_export().sampler.ratio, 1.0);
  EXPECT_EQ(config->otel_traces_export().instrumentations,
            (Strings{"http", "grpc", "sql", "redis", "kafka", "mqtt", "nats", "amqp", "mongo",
                     "couchbase", "memcached", "sunrpc", "aerospike"}));
  EXPECT_EQ(config->otel_traces_export().backoff_max_elapsed_time, std::chrono::minutes(5));
  EXPECT_FALSE(config->network().enable);
  EXPECT_EQ(config->network().exclude_interfaces, Strings{"lo"});
  EXPECT_EQ(config->network().cache_max_flows, 5000);
  EXPECT_EQ(config->kubernetes().enable, KubeEnable::kAutodetect);
  EXPECT_EQ(config->kubernetes().informers_resync_period, std::chrono::minutes(30));
  EXPECT_EQ(config->attributes().host_id_fetch_timeout, milliseconds(500));
  EXPECT_EQ(config->attributes().metric_span_names_limit, 100);
  EXPECT_EQ(config->routes().ignore_mode, "all");
  EXPECT_EQ(config->routes().wildcard_char, "*");
  EXPECT_EQ(config->loupe_metrics().max_series_per_family, 10000);
  EXPECT_TRUE(config->loupe_metrics().openmetrics);
  const auto& hubble = config->loupe_metrics().hubble;
  ASSERT_EQ(hubble.size(), 7u);
  EXPECT_EQ(hubble[4], (HubbleMetricSpec{"port-distribution", {}}));
  EXPECT_EQ(hubble[6],
            (HubbleMetricSpec{"httpV2",
                              {{"exemplars", "true"},
                               {"labelsContext",
                                "source_ip,source_namespace,source_workload,destination_ip,"
                                "destination_namespace,destination_workload,traffic_direction"}}}));
}

// As in Beyla, where the YAML is decoded into the default map: a configured attribute replaces
// that attribute's label list, the other defaults stay; an empty list turns one off.
TEST(ConfigTest, ResourceLabelsReplaceTheDefaultPerAttribute) {
  using Labels = StringListMap;
  auto defaults = Config::LoadFromString("", "t.yml", FakeEnv({}));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->kubernetes().resource_labels,
            (Labels{{"service.name", {"app.kubernetes.io/instance", "app.kubernetes.io/name"}},
                    {"service.namespace", {"app.kubernetes.io/part-of"}},
                    {"service.version", {"app.kubernetes.io/version"}}}));
  const std::string yaml = R"(
attributes:
  kubernetes:
    resource_labels:
      service.name: [app, app.kubernetes.io/name]
      service.version: []
      deployment.environment: [env]
)";
  auto config = Config::LoadFromString(yaml, "t.yml", FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kubernetes().resource_labels,
            (Labels{{"deployment.environment", {"env"}},
                    {"service.name", {"app", "app.kubernetes.io/name"}},
                    {"service.namespace", {"app.kubernetes.io/part-of"}},
                    {"service.version", {}}}));
  EXPECT_EQ(FormatValue(config->Get("attributes.kubernetes.resource_labels").value),
            "{deployment.environment: [env], service.name: [app, app.kubernetes.io/name], "
            "service.namespace: [app.kubernetes.io/part-of], service.version: []}");
}

TEST(ConfigTest, RoutesCidrsHeadersAndSelectFromYaml) {
  const std::string yaml = R"(
routes:
  patterns: ["/users/{id}", "/orders/:id"]
  ignored_patterns: [/health]
  ignore_mode: metrics
  unmatched: heuristic
network:
  cidrs:
    - 10.0.0.0/8
    - {cidr: "fd00::/8", name: pods}
otel_traces_export:
  endpoint: https://otlp.example:4318
  headers:
    Authorization: Bearer abc
attributes:
  select:
    "http_*":
      exclude: ["url.*"]
    traces:
      include: [db.query.text]
discovery:
  instrument:
    - k8s_namespace: "prod-*"
      k8s_pod_labels: {app: "web-?"}
      containers_only: true
)";
  auto config = Config::LoadFromString(yaml, "t.yml", FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->routes().patterns, (Strings{"/users/{id}", "/orders/:id"}));
  EXPECT_EQ(config->routes().ignored_patterns, Strings{"/health"});
  EXPECT_EQ(config->routes().ignore_mode, "metrics");
  EXPECT_EQ(config->routes().unmatched, "heuristic");
  EXPECT_EQ(config->network().cidrs, (CidrList{{"10.0.0.0/8", ""}, {"fd00::/8", "pods"}}));
  EXPECT_EQ(config->otel_traces_export().target.protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_EQ(config->otel_traces_export().target.url, "https://otlp.example:4318");
  EXPECT_EQ(config->otel_traces_export().target.headers,
            (StringMap{{"Authorization", "Bearer abc"}}));
  EXPECT_EQ(config->attributes().select,
            (AttributeSelect{{"http_*", {{}, {"url.*"}}}, {"traces", {{"db.query.text"}, {}}}}));
  EXPECT_EQ(config->GetSelectors("discovery.instrument")[0],
            (Selector{{"k8s_namespace", "prod-*"},
                      {"k8s_pod_labels/app", "web-?"},
                      {"containers_only", "true"}}));
}

class BadBeylaValueTest : public ::testing::TestWithParam<BadValueCase> {};

TEST_P(BadBeylaValueTest, IsRejectedNamingTheKey) {
  auto config = Config::LoadFromString(GetParam().yaml, "bad.yml", FakeEnv({}));
  ASSERT_FALSE(config.ok()) << GetParam().yaml;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Values, BadBeylaValueTest,
    ::testing::Values(
        BadValueCase{"otel_metrics_export:\n  protocol: http/json\n",
                     "bad value for 'otel_metrics_export.protocol': 'http/json' is not one of: "
                     "auto, grpc, http/protobuf (bad.yml:2)"},
        BadValueCase{"otel_traces_export:\n  sampler:\n    name: sometimes\n",
                     "bad value for 'otel_traces_export.sampler.name': 'sometimes' is not one of: "
                     "always_on, always_off, traceidratio, parentbased_always_on, "
                     "parentbased_always_off, parentbased_traceidratio"},
        BadValueCase{"otel_traces_export:\n  sampler:\n    name: traceidratio\n    arg: \"1.5\"\n",
                     "bad value for 'otel_traces_export.sampler.arg': '1.5' is not a ratio in "
                     "[0, 1], which sampler traceidratio needs (bad.yml:4)"},
        BadValueCase{"otel_traces_export:\n  sampler:\n    name: parentbased_traceidratio\n"
                     "    arg: ten percent\n",
                     "'ten percent' is not a ratio in [0, 1]"},
        BadValueCase{"otel_traces_export:\n  sampler:\n    nmae: always_on\n",
                     "unknown configuration key 'otel_traces_export.sampler.nmae' (bad.yml:3); "
                     "allowed keys under 'otel_traces_export.sampler': arg, name"},
        BadValueCase{"network:\n  cidrs:\n    - 10.0.0.0/33\n",
                     "bad value for 'network.cidrs': [10.0.0.0/33] has '10.0.0.0/33', which is "
                     "not a CIDR such as 10.0.0.0/8 or fd00::/8 (bad.yml:3)"},
        BadValueCase{"network:\n  cidrs: [10.0.0/8]\n", "has '10.0.0/8', which is not a CIDR"},
        BadValueCase{"network:\n  cidrs: [\"fd00::/129\"]\n", "has 'fd00::/129'"},
        BadValueCase{"network:\n  cidrs: [10.0.0.0]\n", "has '10.0.0.0', which is not a CIDR"},
        BadValueCase{"network:\n  cidrs:\n    - {cidr: 10.0.0.0/8, nmae: x}\n",
                     "unknown configuration key 'network.cidrs[0].nmae'"},
        BadValueCase{"discovery:\n  services:\n    - k8s_namespace: \"(prod\"\n",
                     "bad value for 'discovery.services': [{k8s_namespace: (prod}] entry 0 field "
                     "k8s_namespace '(prod' is not a valid regular expression"},
        BadValueCase{"discovery:\n  exclude_services:\n    - k8s_pod_labels: {app: \"[a-\"}\n",
                     "entry 0 field k8s_pod_labels/app '[a-' is not a valid regular expression"},
        BadValueCase{"discovery:\n  instrument:\n    - k8s_deployment_name: \"web-[ab\"\n",
                     "entry 0 field k8s_deployment_name 'web-[ab' is not a valid glob"},
        BadValueCase{
            "discovery:\n  services:\n    - exe_path: \"" + std::string(1025, '(') + "\"\n",
            "entry 0 field exe_path is longer than 1024 characters"},
        BadValueCase{"discovery:\n  instrument:\n    - containers_only: maybe\n",
                     "field containers_only: 'maybe' is not a boolean"},
        BadValueCase{"discovery:\n  services:\n    - exports: [metrics, logz]\n",
                     "'logz' is not one of: metrics, traces, logs"},
        BadValueCase{"otel_metrics_export:\n  histograms:\n    - explicit:\n        boundaries: "
                     "[0.1, 0.05, 1]\n",
                     "bad value for 'otel_metrics_export.histograms': [{explicit: {boundaries: "
                     "[0.1, 0.05, 1]}}] entry 0: explicit.boundaries is not strictly ascending: "
                     "0.05 follows 0.1 (bad.yml:3)"},
        BadValueCase{
            "otel_metrics_export:\n  histograms:\n    - explicit:\n        boundries: [1]\n",
            "unknown configuration key 'otel_metrics_export.histograms[0].explicit."
            "boundries' (bad.yml:4); allowed keys under "
            "'otel_metrics_export.histograms[0].explicit': boundaries"},
        BadValueCase{"otel_metrics_export:\n  histograms:\n    - exponential: {}\n",
                     "unknown configuration key 'otel_metrics_export.histograms[0].exponential'"},
        BadValueCase{"otel_metrics_export:\n  histograms:\n    - explicit:\n        boundaries: "
                     "[a]\n",
                     "'otel_metrics_export.histograms[0].explicit.boundaries' (bad.yml:4): 'a' "
                     "is not a number"},
        BadValueCase{"prometheus_export:\n  buckets:\n    duration_histogram: [1, 1]\n",
                     "bad value for 'prometheus_export.buckets.duration_histogram': [1, 1] is "
                     "not strictly ascending: 1 follows 1"},
        BadValueCase{"prometheus_export:\n  buckets:\n    duration_histogrm: [1]\n",
                     "unknown configuration key 'prometheus_export.buckets.duration_histogrm'"},
        BadValueCase{"prometheus_export:\n  features: [application, netwrok]\n",
                     "bad value for 'prometheus_export.features': [application, netwrok] has "
                     "'netwrok', which is not one of: application,"},
        BadValueCase{"otel_metrics_export:\n  features: [application_span, "
                     "application_span_otel]\n",
                     "application_span and application_span_otel; they are mutually exclusive"},
        BadValueCase{"otel_metrics_export:\n  endpoint: mimir:4317\n",
                     "bad value for 'otel_metrics_export.endpoint': 'mimir:4317' must be a URL "
                     "starting with http:// or https://"},
        BadValueCase{"otel_traces_export:\n  queue_size: 100\n  batch_max_size: 64\n",
                     "'otel_traces_export.queue_size': 100 must be at least twice "
                     "otel_traces_export.batch_max_size (64)"},
        BadValueCase{"attributes:\n  select:\n    beyla_network_flow_bytes:\n      inclde: [a]\n",
                     "unknown configuration key "
                     "'attributes.select.beyla_network_flow_bytes.inclde' (bad.yml:4); allowed "
                     "keys under 'attributes.select.beyla_network_flow_bytes': exclude, include"},
        BadValueCase{"attributes:\n  select:\n    \"beyla network\":\n      include: [a]\n",
                     "'beyla network' is not a metric name or glob"},
        BadValueCase{"attributes:\n  select:\n    http_server:\n      include: [\"a b\"]\n",
                     "'http_server' names 'a b', which is not an attribute name or glob"},
        BadValueCase{"attributes:\n  kubernetes:\n    resource_labels: app.kubernetes.io/name\n",
                     "'attributes.kubernetes.resource_labels' (bad.yml:3): expected a mapping of "
                     "name -> [strings]"},
        BadValueCase{"attributes:\n  kubernetes:\n    resource_labels:\n      service.name: "
                     "app\n",
                     "'attributes.kubernetes.resource_labels.service.name' (bad.yml:4): expected "
                     "a list of strings"},
        BadValueCase{"attributes:\n  kubernetes:\n    resource_labels:\n      service.name: "
                     "[\"\"]\n",
                     "has an empty label name for 'service.name'"},
        BadValueCase{"attributes:\n  kubernetes:\n    enable: sometimes\n",
                     "'attributes.kubernetes.enable': 'sometimes' is not one of: true, false, "
                     "autodetect"},
        BadValueCase{"attributes:\n  host_id:\n    fetch_timeout: soon\n",
                     "'attributes.host_id.fetch_timeout': 'soon' is not a duration"},
        BadValueCase{"attributes:\n  kubernetes:\n    enabled: true\n",
                     "unknown configuration key 'attributes.kubernetes.enabled'"},
        BadValueCase{"routes:\n  unmatched: everything\n",
                     "'routes.unmatched': 'everything' is not one of: unset, path, wildcard, "
                     "heuristic, low-cardinality"},
        BadValueCase{"routes:\n  patterns: [\"users/{id}\"]\n",
                     "has 'users/{id}', which does not start with /"},
        BadValueCase{"routes:\n  patterns: [\"/users/{id\"]\n", "with an unclosed {"},
        BadValueCase{"network:\n  agent_ip: 10.0.0.300\n",
                     "'network.agent_ip': '10.0.0.300' is not an IPv4 or IPv6 address"},
        BadValueCase{"network:\n  agent_ip_iface: eth0\n",
                     "must be external, local or name:<interface>"},
        BadValueCase{"loupe:\n  metrics:\n    hubble: [\"httpV2:=true\"]\n",
                     "bad value for 'loupe.metrics.hubble': [httpV2:=true] has 'httpV2:=true', "
                     "which is not a Hubble metric spec (an option name is empty"},
        BadValueCase{"loupe:\n  metrics:\n    hubble: [\"http:labelsContext=\"]\n",
                     "option labelsContext has no value"},
        BadValueCase{"loupe:\n  metrics:\n    hubble: [\"dns:query;ignore AAAA\"]\n",
                     "an option name is empty or has characters other than"},
        BadValueCase{"loupe:\n  metrics:\n    hubble: [dns, drop, dns]\n",
                     "lists the handler 'dns' twice"},
        BadValueCase{"loupe:\n  metrics:\n    max_series_per_family: 0\n",
                     "'loupe.metrics.max_series_per_family': '0' is not an integer in [1, "
                     "10000000]"},
        BadValueCase{"loupe:\n  metrics:\n    openmetric: true\n",
                     "unknown configuration key 'loupe.metrics.openmetric' (bad.yml:3); allowed "
                     "keys under 'loupe.metrics': hubble, max_series_per_family, openmetrics"}));

struct EnvCase {
  std::map<std::string, std::string> env;
  std::string expected;
};

class BadEnvTest : public ::testing::TestWithParam<EnvCase> {};

TEST_P(BadEnvTest, IsRejectedNamingKeyAndVariable) {
  auto config = Config::Load("", FakeEnv(GetParam().env));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Values, BadEnvTest,
    ::testing::Values(
        EnvCase{{{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}},
                "'otel_metrics_export.protocol': 'http/json' is not one of: auto, grpc, "
                "http/protobuf (from environment variable OTEL_EXPORTER_OTLP_PROTOCOL)"},
        EnvCase{{{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "-0.5"}},
                "'otel_traces_export.sampler.arg': '-0.5' is not a ratio in [0, 1], which "
                "sampler traceidratio needs (from environment variable OTEL_TRACES_SAMPLER_ARG)"},
        EnvCase{{{"BEYLA_NETWORK_CIDRS", "10.0.0.0/8,300.0.0.0/8"}},
                "has '300.0.0.0/8', which is not a CIDR such as 10.0.0.0/8 or fd00::/8 (from "
                "environment variable BEYLA_NETWORK_CIDRS)"},
        EnvCase{{{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization"}},
                "'otel_metrics_export.headers': 'Authorization' is not a list of key=value pairs"},
        EnvCase{{{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=%zz"}},
                "'otel_traces_export.headers': 'a=%zz' is not a list of key=value pairs with "
                "%-encoded values"},
        EnvCase{{{"OTEL_METRIC_EXPORT_INTERVAL", "soon"}},
                "(from environment variable OTEL_METRIC_EXPORT_INTERVAL)"},
        EnvCase{{{"LOUPE_METRICS_HUBBLE", "dns http:=x"}}, "has 'http:=x', which is not a Hubble"},
        EnvCase{{{"BEYLA_KUBE_METADATA_ENABLE", "yes please"}},
                "(from environment variable BEYLA_KUBE_METADATA_ENABLE)"},
        EnvCase{{{"BEYLA_NETWORK_METRICS", "sure"}}, "'network.enable': 'sure' is not a boolean"}));

TEST(OtlpEnvTest, SignalSpecificBeatsGenericAndEnvBeatsFile) {
  const std::string yaml =
      "otel_traces_export:\n  endpoint: http://file:4317\n"
      "otel_metrics_export:\n  endpoint: http://file:4317\n";
  auto config =
      Config::LoadFromString(yaml, "t.yml",
                             FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/"},
                                      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"},
                                      {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
                                      {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  const OtlpTarget& traces = config->otel_traces_export().target;
  EXPECT_EQ(traces.endpoint, "http://traces:4317");
  EXPECT_EQ(config->Get("otel_traces_export.endpoint").source,
            "env:OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  EXPECT_EQ(traces.url, "http://traces:4317");  // signal-specific: used as is
  EXPECT_EQ(traces.protocol, OtlpProtocol::kGrpc);
  const OtlpTarget& metrics = config->otel_metrics_export().target;
  EXPECT_EQ(metrics.endpoint, "http://generic:4318/");
  EXPECT_EQ(config->Get("otel_metrics_export.endpoint").source, "env:OTEL_EXPORTER_OTLP_ENDPOINT");
  EXPECT_EQ(metrics.url, "http://generic:4318/v1/metrics");  // generic + http: signal path
  EXPECT_EQ(metrics.protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_EQ(config->Get("otel_metrics_export.protocol").source, "env:OTEL_EXPORTER_OTLP_PROTOCOL");
}

TEST(OtlpEnvTest, GenericEndpointOverGrpcKeepsItsPathAndProtocolIsGuessedFromThePort) {
  auto grpc = Config::Load("", FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"}}));
  ASSERT_TRUE(grpc.ok()) << grpc.status();
  EXPECT_EQ(grpc->otel_traces_export().target.protocol, OtlpProtocol::kGrpc);
  EXPECT_EQ(grpc->otel_traces_export().target.url, "http://collector:4317");
  EXPECT_EQ(grpc->GetString("otel_traces_export.protocol"), "auto");
  auto http = Config::Load("", FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}}));
  ASSERT_TRUE(http.ok()) << http.status();
  EXPECT_EQ(http->otel_traces_export().target.protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_EQ(http->otel_traces_export().target.url, "http://collector:4318/v1/traces");
  EXPECT_EQ(http->otel_metrics_export().target.url, "http://collector:4318/v1/metrics");
  auto no_port = Config::Load(
      "", FakeEnv({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.example/v1/traces"}}));
  ASSERT_TRUE(no_port.ok()) << no_port.status();
  EXPECT_EQ(no_port->otel_traces_export().target.protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_EQ(no_port->otel_traces_export().target.url, "https://otlp.example/v1/traces");
  EXPECT_FALSE(no_port->otel_metrics_export().target.enabled);
}

TEST(OtlpEnvTest, HeadersSamplerIntervalAndFeaturesFromEnvironment) {
  auto config = Config::LoadFromString(
      "otel_metrics_export:\n  interval: 15s\notel_traces_export:\n  sampler:\n"
      "    name: always_on\n",
      "t.yml",
      FakeEnv({{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic%20dTpw, X-Scope-OrgID = t1"},
               {"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "X-Only=metrics"},
               {"OTEL_TRACES_SAMPLER", "traceidratio"},
               {"OTEL_TRACES_SAMPLER_ARG", "0.25"},
               {"OTEL_METRIC_EXPORT_INTERVAL", "30000"},
               {"BEYLA_OTEL_METRICS_FEATURES", "application,network"},
               {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4318"},
               {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->otel_traces_export().target.headers,
            (StringMap{{"Authorization", "Basic dTpw"}, {"X-Scope-OrgID", "t1"}}));
  EXPECT_EQ(config->otel_metrics_export().target.headers, (StringMap{{"X-Only", "metrics"}}));
  EXPECT_EQ(config->otel_traces_export().sampler.name, "traceidratio");
  EXPECT_FALSE(config->otel_traces_export().sampler.parent_based);
  EXPECT_DOUBLE_EQ(config->otel_traces_export().sampler.ratio, 0.25);
  EXPECT_EQ(config->otel_metrics_export().interval, milliseconds(30000));
  EXPECT_EQ(config->Get("otel_metrics_export.interval").source, "env:OTEL_METRIC_EXPORT_INTERVAL");
  EXPECT_EQ(config->otel_metrics_export().features, (Strings{"application", "network"}));
  EXPECT_EQ(config->otel_metrics_export().temporality, Temporality::kDelta);
  EXPECT_TRUE(config->network().enable);  // the network feature turns flow metrics on
  // BEYLA_METRICS_INTERVAL (Go duration) wins over OTEL_METRIC_EXPORT_INTERVAL (milliseconds).
  auto both = Config::Load(
      "", FakeEnv({{"OTEL_METRIC_EXPORT_INTERVAL", "30000"}, {"BEYLA_METRICS_INTERVAL", "10s"}}));
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->otel_metrics_export().interval, seconds(10));
}

TEST(ConfigEnvTest, BeylaAndLoupeVariables) {
  auto config = Config::Load(
      "", FakeEnv({{"BEYLA_NETWORK_METRICS", "true"},
                   {"BEYLA_NETWORK_CIDRS", "10.0.0.0/8, fd00::/8"},
                   {"BEYLA_PROMETHEUS_FEATURES", "application,application_span"},
                   {"OTEL_EBPF_PROMETHEUS_FEATURES", "network"},
                   {"BEYLA_KUBE_CLUSTER_NAME", "prod"},
                   {"KUBECONFIG", "/etc/kube.conf"},
                   {"BEYLA_HOST_ID_FETCH_TIMEOUT", "2s"},
                   {"OTEL_SERVICE_NAME", "checkout"},
                   {"LOUPE_METRICS_HUBBLE", "dns:query;ignoreAAAA  flow:sourceContext=pod|ip"},
                   {"LOUPE_METRICS_MAX_SERIES_PER_FAMILY", "500"},
                   {"LOUPE_METRICS_OPENMETRICS", "false"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->network().enable);
  EXPECT_EQ(config->network().cidrs, (CidrList{{"10.0.0.0/8", ""}, {"fd00::/8", ""}}));
  EXPECT_EQ(config->prometheus_export().features, (Strings{"application", "application_span"}));
  EXPECT_EQ(config->Get("prometheus_export.features").source, "env:BEYLA_PROMETHEUS_FEATURES");
  EXPECT_EQ(config->kubernetes().cluster_name, "prod");
  EXPECT_EQ(config->kubernetes().kubeconfig_path, "/etc/kube.conf");
  EXPECT_EQ(config->attributes().host_id_fetch_timeout, seconds(2));
  EXPECT_EQ(config->GetString("service_name"), "checkout");
  ASSERT_EQ(config->loupe_metrics().hubble.size(), 2u);
  EXPECT_EQ(config->loupe_metrics().hubble[0],
            (HubbleMetricSpec{"dns", {{"query", ""}, {"ignoreAAAA", ""}}}));
  EXPECT_EQ(config->loupe_metrics().hubble[1],
            (HubbleMetricSpec{"flow", {{"sourceContext", "pod|ip"}}}));
  EXPECT_EQ(config->loupe_metrics().max_series_per_family, 500);
  EXPECT_FALSE(config->loupe_metrics().openmetrics);
}

TEST(ConfigEnvTest, EmptyHubbleListDisablesHandlers) {
  auto config =
      Config::LoadFromString("loupe:\n  metrics:\n    hubble: []\n", "t.yml", FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->loupe_metrics().hubble.empty());
}

TEST(HubbleSpecTest, ParsesHubbleSyntax) {
  auto spec = ParseHubbleMetricSpec("httpV2:exemplars=true;labelsContext=source_ip,source_pod");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "httpV2");
  EXPECT_EQ(spec->options, (std::vector<std::pair<std::string, std::string>>{
                               {"exemplars", "true"}, {"labelsContext", "source_ip,source_pod"}}));
  auto value_with_eq = ParseHubbleMetricSpec("flow:destinationContext=a=b");
  ASSERT_TRUE(value_with_eq.ok());
  EXPECT_EQ(value_with_eq->options[0].second, "a=b");  // split on the first '='
  EXPECT_EQ(*ParseHubbleMetricSpec(" port-distribution "),
            (HubbleMetricSpec{"port-distribution", {}}));
  // Empty options are skipped, as the handler library and Hubble do.
  EXPECT_EQ(*ParseHubbleMetricSpec("dns:query;;ignoreAAAA;"),
            (HubbleMetricSpec{"dns", {{"query", ""}, {"ignoreAAAA", ""}}}));
  EXPECT_EQ(*ParseHubbleMetricSpec("http:"), (HubbleMetricSpec{"http", {}}));
  for (const char* bad :
       {"", ":a=b", "http:=x", "http:a=", "ht tp", "http:a=b c", "http;a=b", "http:a b=c"}) {
    EXPECT_FALSE(ParseHubbleMetricSpec(bad).ok()) << bad;
  }
}

TEST(CidrTest, AcceptsIpv4AndIpv6WithinPrefixBounds) {
  for (const char* good :
       {"10.0.0.0/8", "0.0.0.0/0", "192.168.1.1/32", "fd00::/8", "::/0", "2001:db8::1/128"}) {
    EXPECT_TRUE(IsValidCidr(good)) << good;
  }
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0/8",
                          "fd00::/129", "fd00::/", "/8", "banana/8", "10.0.0.0/8/8"}) {
    EXPECT_FALSE(IsValidCidr(bad)) << bad;
  }
}

TEST(SamplerRatioTest, Parses) {
  double r = 0;
  ASSERT_TRUE(ParseSamplerRatio("0.1", &r));
  EXPECT_DOUBLE_EQ(r, 0.1);
  ASSERT_TRUE(ParseSamplerRatio("", &r));
  EXPECT_DOUBLE_EQ(r, 1.0);
  ASSERT_TRUE(ParseSamplerRatio("0", &r));
  EXPECT_DOUBLE_EQ(r, 0.0);
  EXPECT_FALSE(ParseSamplerRatio("1.01", &r));
  EXPECT_FALSE(ParseSamplerRatio("nan", &r));
  EXPECT_FALSE(ParseSamplerRatio("10%", &r));
}

TEST(FeatureTest, AllAndStatsExpand) {
  EXPECT_TRUE(FeatureEnabled({"application"}, "application"));
  EXPECT_FALSE(FeatureEnabled({"application"}, "network"));
  EXPECT_TRUE(FeatureEnabled({"all"}, "network"));
  EXPECT_TRUE(FeatureEnabled({"*"}, "application_process"));
  EXPECT_TRUE(FeatureEnabled({"stats"}, "stats_tcp_rtt"));
  EXPECT_FALSE(FeatureEnabled({"stats"}, "network"));
}

// --- ebpf section ---

TEST(ConfigTest, HttpRequestTimeoutFromFileAndBothEnvironmentVariables) {
  auto defaults = Config::Load("", FakeEnv({}));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->GetDuration("ebpf.http_request_timeout"), std::chrono::nanoseconds(0));
  auto file = Config::LoadFromString("ebpf:\n  http_request_timeout: 1s\n", "b.yml", FakeEnv({}));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->GetDuration("ebpf.http_request_timeout"), seconds(1));
  auto beyla = Config::Load("", FakeEnv({{"BEYLA_BPF_HTTP_REQUEST_TIMEOUT", "250ms"}}));
  ASSERT_TRUE(beyla.ok()) << beyla.status();
  EXPECT_EQ(beyla->GetDuration("ebpf.http_request_timeout"), milliseconds(250));
  auto otel = Config::Load("", FakeEnv({{"OTEL_EBPF_BPF_HTTP_REQUEST_TIMEOUT", "1m30s"}}));
  ASSERT_TRUE(otel.ok()) << otel.status();
  EXPECT_EQ(otel->GetDuration("ebpf.http_request_timeout"), seconds(90));
}

TEST(ConfigTest, HttpRequestTimeoutRejectsNegativeAndNonDurations) {
  for (const std::string value : {"-1s", "soon", "1 parsec"}) {
    SCOPED_TRACE(value);
    auto config = Config::LoadFromString("ebpf:\n  http_request_timeout: " + value + "\n", "b.yml",
                                         FakeEnv({}));
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().message(),
              "bad value for 'ebpf.http_request_timeout': '" + value +
                  "' is not a duration such as 500ms, 5s, 1m or 1h30m (b.yml:2)");
  }
  auto env = Config::Load("", FakeEnv({{"BEYLA_BPF_HTTP_REQUEST_TIMEOUT", "-5s"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(std::string(env.status().message()),
              HasSubstr("from environment variable BEYLA_BPF_HTTP_REQUEST_TIMEOUT"));
  auto unknown = Config::LoadFromString("ebpf:\n  http_request_timout: 1s\n", "b.yml", FakeEnv({}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("unknown configuration key 'ebpf.http_request_timout'"));
}

}  // namespace
}  // namespace loupe::config
