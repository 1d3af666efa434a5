#include "src/config/config.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::config {
namespace {

using ::testing::HasSubstr;

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
  EXPECT_EQ(config->Get("log_level").source, "file:test.yml");
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
  EXPECT_THAT(config.status().message(), HasSubstr("discovery, executable_name, log_level, loupe"));
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

}  // namespace
}  // namespace loupe::config
