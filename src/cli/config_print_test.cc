#include "src/cli/config_print.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::cli {
namespace {

TEST(ConfigReferenceTest, DocsMatchTheSchema) {
  std::ifstream in(std::string(LOUPE_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), RenderConfigReference())
      << "docs/configuration.md is out of date: run `build/loupe config reference > "
         "docs/configuration.md`";
}

TEST(ConfigReferenceTest, ListsEveryKeyWithItsEnvironmentVariables) {
  const std::string text = RenderConfigReference();
  EXPECT_NE(text.find("| `prometheus_export.port` | integer [1, 65535] | `9965` | "
                      "`LOUPE_PROMETHEUS_PORT`, `BEYLA_PROMETHEUS_PORT`"),
            std::string::npos);
  EXPECT_NE(text.find("`log_level` | one of debug, info, warn, error | `info`"), std::string::npos);
}

TEST(ConfigReferenceTest, HasTheEquivalentColumnAndTheNewSections) {
  const std::string text = RenderConfigReference();
  EXPECT_NE(text.find("| Key | Type | Default | Environment | Beyla / Hubble equivalent | "
                      "Description |"),
            std::string::npos);
  EXPECT_NE(
      text.find("| `otel_traces_export.sampler.name` | one of always_on, always_off, "
                "traceidratio, parentbased_always_on, parentbased_always_off, "
                "parentbased_traceidratio | `parentbased_always_on` | `OTEL_TRACES_SAMPLER` | "
                "Beyla otel_traces_export.sampler.name |"),
      std::string::npos);
  EXPECT_NE(text.find("| `prometheus_export.buckets.duration_histogram` | list of numbers | "
                      "`[0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, "
                      "7.5, 10]` |  | Beyla prometheus_export.buckets.duration_histogram |"),
            std::string::npos);
  EXPECT_NE(text.find("| `loupe.metrics.openmetrics` | boolean | `true` | "
                      "`LOUPE_METRICS_OPENMETRICS` | Hubble enable-hubble-open-metrics"),
            std::string::npos);
  // Every schema key has a row, and every row but Loupe-internal ones names an equivalent.
  for (const auto& spec : config::Schema()) {
    EXPECT_NE(text.find("| `" + spec.path + "` |"), std::string::npos) << spec.path;
    if (!spec.path.starts_with("loupe.")) {
      EXPECT_FALSE(spec.equivalent.empty()) << spec.path;
    }
  }
}

config::EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// The line `config print` gives a key: key padded to the longest key plus two spaces, value,
// two spaces, `# source`.
std::string Line(const std::string& key, const std::string& value, const std::string& source) {
  size_t width = 0;
  for (const auto& spec : config::Schema()) width = std::max(width, spec.path.size());
  std::string line = key;
  line.resize(width + 2, ' ');
  return line + value + "  # " + source + "\n";
}

TEST(ConfigPrintTest, ShowsEveryKeyWithItsValueAndSource) {
  const std::string yaml =
      "log_level: debug\n"
      "otel_traces_export:\n"
      "  endpoint: http://tempo:4317\n"
      "  sampler:\n"
      "    name: parentbased_traceidratio\n"
      "    arg: \"0.1\"\n";
  auto config = config::Config::LoadFromString(
      yaml, "t.yml",
      FakeEnv({{"BEYLA_PROMETHEUS_PORT", "9400"},
               {"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "Authorization=Bearer%20s3cr3t,X-Org=a"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string out = RenderConfigPrint(*config);
  EXPECT_NE(out.find(Line("log_level", "debug", "file:t.yml:1")), std::string::npos) << out;
  EXPECT_NE(out.find(Line("prometheus_export.port", "9400", "env:BEYLA_PROMETHEUS_PORT")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(Line("prometheus_export.path", "/metrics", "default")), std::string::npos);
  EXPECT_NE(out.find(Line("otel_traces_export.sampler.arg", "0.1", "file:t.yml:6")),
            std::string::npos);
  EXPECT_NE(out.find(Line("otel_metrics_export.endpoint", "\"\"", "default")), std::string::npos);
  EXPECT_NE(
      out.find(Line("otel_metrics_export.headers", "{Authorization: <redacted>, X-Org: <redacted>}",
                    "env:OTEL_EXPORTER_OTLP_METRICS_HEADERS")),
      std::string::npos)
      << out;
  EXPECT_EQ(out.find("s3cr3t"), std::string::npos) << "header values must not be printed";
  EXPECT_NE(out.find(Line("attributes.host_id.fetch_timeout", "500ms", "default")),
            std::string::npos);
  EXPECT_NE(out.find(Line("prometheus_export.ttl", "5m", "default")), std::string::npos);
  EXPECT_NE(out.find("# effective: OTLP metrics disabled (no endpoint)\n"), std::string::npos);
  EXPECT_NE(out.find("# effective: OTLP traces http://tempo:4317 over grpc, sampler "
                     "parentbased_traceidratio keeps 0.1 of root traces\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("# effective: Beyla network flow metrics off\n"), std::string::npos);
  // One line per key plus the three effective lines.
  EXPECT_EQ(static_cast<size_t>(std::count(out.begin(), out.end(), '\n')),
            config::Schema().size() + 3);
}

TEST(ConfigPrintTest, SeedConfigPrintsItsSources) {
  const std::string path = std::string(LOUPE_SOURCE_DIR) + "/tests/testdata/seed-beyla-config.yml";
  auto config = config::Config::Load(path, FakeEnv({}));
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string out = RenderConfigPrint(*config);
  EXPECT_NE(out.find(Line("network.cidrs", "[10.0.0.0/8, 172.16.0.0/12]", "file:" + path + ":57")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(Line("otel_metrics_export.histograms",
                          "[{explicit: {boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, "
                          "2.5, 5, 10]}}]",
                          "file:" + path + ":22")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(Line("attributes.select",
                          "{beyla_network_flow_bytes: {include: [k8s.src.namespace, "
                          "k8s.dst.namespace, direction], exclude: []}}",
                          "file:" + path + ":67")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("# effective: OTLP metrics http://mimir-distributor.monitoring:4317 over "
                     "grpc\n"),
            std::string::npos);
  EXPECT_NE(out.find("# effective: Beyla network flow metrics on\n"), std::string::npos);
}

TEST(ConfigPrintTest, InvalidConfigurationExitsTwo) {
  const std::string path = ::testing::TempDir() + "/config_print_bad.yml";
  {
    std::ofstream out(path);
    out << "otel_traces_export:\n  sampler:\n    nmae: always_on\n";
  }
  EXPECT_EQ(RunConfigPrint(path), 2);
  {
    std::ofstream out(path);
    out << "log_level: info\n";
  }
  std::fflush(stdout);
  EXPECT_EQ(RunConfigPrint(path), 0);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace loupe::cli
