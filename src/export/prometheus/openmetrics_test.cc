// OpenMetrics rendering, escaping, negotiation, gzip, and the exposition checked by promtool and
// by a strict OpenMetrics checker.
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "src/base/clock.h"
#include "src/export/prometheus/exposition.h"
#include "src/export/prometheus/openmetrics_checker.h"

namespace loupe::prometheus {
namespace {

using metrics::ExemplarRef;
using metrics::FamilySnapshot;
using metrics::Histogram;
using metrics::MetricType;

// A registry with each kind of family, awkward label values and help, and exemplars.
void Populate(metrics::Registry* registry) {
  registry
      ->AddCounter("loupe_requests_total", "Requests \"served\".\nSecond line \\ x",
                   {"protocol", "path"})
      .Update({"http1", "/a\"b\\c\nd"}, [](metrics::Counter& c) { c.Inc(3); });
  registry->AddCounter("loupe_requests_total", "dup", {"protocol", "path"})
      .WithLabels({"http2", std::string("caf\xC3\xA9 \xFF\xFE")})
      ->Inc(1);
  registry->AddGauge("loupe_conn_trackers", "Trackers.").WithLabels({})->Set(2.5);
  auto& h = registry->AddHistogram("http_server_request_duration_seconds", "Duration.",
                                   {"http_request_method"}, {0.005, 0.1, 1, 10});
  Histogram* get = h.WithLabels({"GET"});
  get->Observe(0.004, ExemplarRef{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
  get->Observe(0.05);
  get->Observe(0.5, ExemplarRef{"4bf92f3577b34da6a3ce929d0e0e4736", ""});
  get->Observe(20, ExemplarRef{"00f067aa0ba902b700f067aa0ba902b7", "00f067aa0ba902b7"});
  h.Update({"POST"}, [](Histogram& hist) { hist.Observe(2); });
}

TEST(OpenMetricsTest, RendersGolden) {
  FakeClock clock(1'700'000'000'500'000'000);
  metrics::Registry registry(clock);
  Populate(&registry);
  EXPECT_EQ(
      RenderOpenMetrics(registry.Collect()),
      "# TYPE http_server_request_duration_seconds histogram\n"
      "# HELP http_server_request_duration_seconds Duration.\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",le=\"0.005\"} 1 # "
      "{trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"} 0.004 "
      "1700000000.5\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",le=\"0.1\"} 2\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",le=\"1.0\"} 3 # "
      "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.5 1700000000.5\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",le=\"10.0\"} 3\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",le=\"+Inf\"} 4 # "
      "{trace_id=\"00f067aa0ba902b700f067aa0ba902b7\",span_id=\"00f067aa0ba902b7\"} 20 "
      "1700000000.5\n"
      "http_server_request_duration_seconds_sum{http_request_method=\"GET\"} 20.554\n"
      "http_server_request_duration_seconds_count{http_request_method=\"GET\"} 4\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"POST\",le=\"0.005\"} 0\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"POST\",le=\"0.1\"} 0\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"POST\",le=\"1.0\"} 0\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"POST\",le=\"10.0\"} 1\n"
      "http_server_request_duration_seconds_bucket{http_request_method=\"POST\",le=\"+Inf\"} 1\n"
      "http_server_request_duration_seconds_sum{http_request_method=\"POST\"} 2\n"
      "http_server_request_duration_seconds_count{http_request_method=\"POST\"} 1\n"
      "# TYPE loupe_conn_trackers gauge\n"
      "# HELP loupe_conn_trackers Trackers.\n"
      "loupe_conn_trackers 2.5\n"
      "# TYPE loupe_requests counter\n"
      "# HELP loupe_requests Requests \\\"served\\\".\\nSecond line \\\\ x\n"
      "loupe_requests_total{protocol=\"http1\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
      "loupe_requests_total{protocol=\"http2\",path=\"caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n"
      "# EOF\n");
}

TEST(OpenMetricsTest, TextFormatLeavesExemplarsOut) {
  metrics::Registry registry;
  registry.AddHistogram("x_seconds", "h", {}, {1})
      .WithLabels({})
      ->Observe(0.5, ExemplarRef{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
  EXPECT_EQ(RenderText(registry.Collect()),
            "# HELP x_seconds h\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"1\"} 1\nx_seconds_bucket{le=\"+Inf\"} 1\n"
            "x_seconds_sum 0.5\nx_seconds_count 1\n");
}

// Hubble's families carry Hubble's exemplar label (traceID, no span id); the others keep
// {trace_id, span_id}, in the same exposition.
TEST(OpenMetricsTest, ExemplarLabelNamesFollowTheFamily) {
  FakeClock clock(1'700'000'000'500'000'000);
  metrics::Registry registry(clock);
  auto& hubble =
      registry.AddHistogram("hubble_http_request_duration_seconds", "Hubble.", {"method"}, {0.1});
  hubble.SetExemplarLabels(metrics::ExemplarLabels::kHubble);
  hubble.WithLabels({"GET"})->Observe(
      0.012, ExemplarRef{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
  registry.AddHistogram("http_server_request_duration_seconds", "Beyla.", {}, {0.1})
      .WithLabels({})
      ->Observe(0.012, ExemplarRef{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
  const std::string text = RenderOpenMetrics(registry.Collect());
  EXPECT_EQ(text,
            "# TYPE http_server_request_duration_seconds histogram\n"
            "# HELP http_server_request_duration_seconds Beyla.\n"
            "http_server_request_duration_seconds_bucket{le=\"0.1\"} 1 # "
            "{trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"} 0.012 "
            "1700000000.5\n"
            "http_server_request_duration_seconds_bucket{le=\"+Inf\"} 1\n"
            "http_server_request_duration_seconds_sum 0.012\n"
            "http_server_request_duration_seconds_count 1\n"
            "# TYPE hubble_http_request_duration_seconds histogram\n"
            "# HELP hubble_http_request_duration_seconds Hubble.\n"
            "hubble_http_request_duration_seconds_bucket{method=\"GET\",le=\"0.1\"} 1 # "
            "{traceID=\"0af7651916cd43dd8448eb211c80319c\"} 0.012 1700000000.5\n"
            "hubble_http_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 1\n"
            "hubble_http_request_duration_seconds_sum{method=\"GET\"} 0.012\n"
            "hubble_http_request_duration_seconds_count{method=\"GET\"} 1\n"
            "# EOF\n");
  EXPECT_EQ(CheckOpenMetrics(text), std::vector<std::string>{});
  EXPECT_EQ(hubble.exemplar_labels(), metrics::ExemplarLabels::kHubble);
}

// The 128-character limit counts the label names actually written: "traceID" (7) + 121 id
// characters is kept for a Hubble family, where "trace_id" (8) + 121 is not.
TEST(OpenMetricsTest, HubbleExemplarLimitCountsItsOwnLabelName) {
  metrics::Sample sample;
  sample.bounds = {1};
  sample.bucket_counts = {1, 0};
  sample.count = 1;
  sample.sum = 0.5;
  sample.exemplars = {metrics::StoredExemplar{std::string(121, 'a'), "", 0.5, 1}, std::nullopt};
  FamilySnapshot hubble{
      "x_seconds", "h", MetricType::kHistogram, {sample}, metrics::ExemplarLabels::kHubble};
  FamilySnapshot beyla{"x_seconds", "h", MetricType::kHistogram, {sample}};
  EXPECT_NE(RenderOpenMetrics({hubble}).find("# {traceID=\"" + std::string(121, 'a') + "\"}"),
            std::string::npos);
  EXPECT_EQ(RenderOpenMetrics({beyla}).find(" # {"), std::string::npos);
}

TEST(OpenMetricsTest, CounterWithoutTotalSuffixGetsItOnSamples) {
  const std::vector<FamilySnapshot> families = {
      {"lost", "Lost.", MetricType::kCounter, {{{{"src", "a"}}, 2}}}};
  EXPECT_EQ(RenderOpenMetrics(families),
            "# TYPE lost counter\n# HELP lost Lost.\nlost_total{src=\"a\"} 2\n# EOF\n");
  EXPECT_EQ(RenderOpenMetrics({}), "# EOF\n");
}

TEST(OpenMetricsTest, ExemplarLabelSetOver128CharactersIsLeftOut) {
  metrics::Sample sample;
  sample.bounds = {1};
  sample.bucket_counts = {1, 1};
  sample.count = 2;
  sample.sum = 3;
  // trace_id (8) + 101 + span_id (7) + 12 = 128: kept. One more character: left out.
  sample.exemplars = {metrics::StoredExemplar{std::string(101, 'a'), std::string(12, 'b'), 0.5, 1},
                      metrics::StoredExemplar{std::string(102, 'a'), std::string(12, 'b'), 2, 1}};
  const std::string text =
      RenderOpenMetrics({{"x_seconds", "h", MetricType::kHistogram, {sample}}});
  EXPECT_NE(text.find("x_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"" + std::string(101, 'a')),
            std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_EQ(CheckOpenMetrics(text), std::vector<std::string>{});
}

TEST(OpenMetricsTest, CanonicalFloats) {
  EXPECT_EQ(FormatCanonicalFloat(1), "1.0");
  EXPECT_EQ(FormatCanonicalFloat(0.005), "0.005");
  EXPECT_EQ(FormatCanonicalFloat(2.5), "2.5");
  EXPECT_EQ(FormatCanonicalFloat(1e-7), "1e-07");
  EXPECT_EQ(FormatCanonicalFloat(INFINITY), "+Inf");
}

TEST(EscapingTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(SanitizeUtf8("ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82"), "a\xEF\xBF\xBD\xEF\xBF\xBD");                // truncated
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80").substr(0, 3), "\xEF\xBF\xBD");         // > U+10FFFF
  EXPECT_EQ(EscapeLabelValue(std::string("a\"b\\c\nd\x80", 8)), "a\\\"b\\\\c\\nd\xEF\xBF\xBD");
  EXPECT_EQ(EscapeHelp("a\"b\\c\nd"), "a\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelpOpenMetrics("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(NegotiationTest, AcceptHeader) {
  struct Case {
    const char* accept;
    Format want;
  };
  const Case cases[] = {
      {"", Format::kText},
      {"text/plain", Format::kText},
      {"*/*", Format::kText},
      {"application/openmetrics-text", Format::kOpenMetrics},
      // What Prometheus sends.
      {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
       "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
       Format::kOpenMetrics},
      {"Application/OpenMetrics-Text; version=1.0.0", Format::kOpenMetrics},
      {"application/openmetrics-text;q=0", Format::kText},
      {"text/plain;q=1, application/openmetrics-text;q=0.5", Format::kText},
      {"application/openmetrics-text;q=bogus", Format::kText},
      {"application/openmetrics-text;q=0.9,text/plain;q=0.9", Format::kOpenMetrics},
      {",,;;,", Format::kText},
  };
  for (const Case& c : cases) EXPECT_EQ(NegotiateFormat(c.accept), c.want) << c.accept;
  EXPECT_STREQ(ContentType(Format::kOpenMetrics),
               "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_STREQ(ContentType(Format::kText), "text/plain; version=0.0.4; charset=utf-8");
}

TEST(NegotiationTest, AcceptEncodingHeader) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("br, deflate"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("*, gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzipped"));
}

std::string Gunzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

TEST(GzipTest, RoundTrips) {
  metrics::Registry registry;
  Populate(&registry);
  const std::string text = RenderOpenMetrics(registry.Collect());
  absl::StatusOr<std::string> compressed = GzipCompress(text);
  ASSERT_TRUE(compressed.ok());
  EXPECT_EQ(compressed->substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(Gunzip(*compressed), text);
  EXPECT_EQ(Gunzip(GzipCompress("").value()), "");
}

TEST(OpenMetricsCheckerTest, AcceptsOurExposition) {
  metrics::Registry registry;
  Populate(&registry);
  registry.AddCounter("loupe_plain_total", "No labels.").WithLabels({})->Inc();
  EXPECT_EQ(CheckOpenMetrics(RenderOpenMetrics(registry.Collect())), std::vector<std::string>{});
}

TEST(OpenMetricsCheckerTest, FindsProblems) {
  const std::string ok = "# TYPE a counter\n# HELP a h\na_total 1\n# EOF\n";
  EXPECT_EQ(CheckOpenMetrics(ok), std::vector<std::string>{});
  const char* bad[] = {
      "# TYPE a counter\na_total 1\n",               // no # EOF
      "# TYPE a_total counter\na_total 1\n# EOF\n",  // family named _total
      "# TYPE a counter\na 1\n# EOF\n",              // counter sample without _total
      "# TYPE a gauge\na{x=\"\\t\"} 1\n# EOF\n",     // bad escape
      "# TYPE a gauge\na{x=\"\xFF\"} 1\n# EOF\n",    // invalid UTF-8
      "# TYPE a gauge\na one\n# EOF\n",              // bad value
      "# TYPE a gauge\na 1\n\n# EOF\n",              // empty line
      "# TYPE a gauge\na 1\n# EOF\na 2\n",           // after EOF
      "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n",  // family twice
      "# TYPE a gauge\na 1 # {t=\"x\"} 1\n# EOF\n",                         // exemplar on a gauge
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n",
      "# TYPE h histogram\nh_bucket{le=\"1.0\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n",
      "# TYPE h histogram\nh_bucket{le=\"1.0\"} 1\nh_count 1\n# EOF\n",   // no +Inf
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n# EOF\n",  // count != +Inf
      "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n# EOF\n",              // duplicate series
      "# random comment\n# EOF\n",
  };
  for (const char* text : bad) {
    EXPECT_FALSE(CheckOpenMetrics(text).empty()) << text;
  }
  const std::string long_exemplar = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {a=\"" +
                                    std::string(128, 'x') + "\"} 1\nh_count 1\n# EOF\n";
  EXPECT_FALSE(CheckOpenMetrics(long_exemplar).empty());
}

// Runs promtool (Debian package prometheus) on `text`; returns its exit code and output.
std::pair<int, std::string> Promtool(const std::string& text) {
  char path[] = "/tmp/loupe_promtool_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  const std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buf[512];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  const int status = pipe != nullptr ? pclose(pipe) : -1;
  unlink(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(PromtoolTest, TextExpositionHasNoProblems) {
  ASSERT_EQ(system("command -v promtool >/dev/null"), 0)
      << "promtool missing: run scripts/install-deps.sh (Debian package prometheus)";
  metrics::Registry registry;
  Populate(&registry);
  registry.SetDefaultFamilyOptions({.max_series = 1});
  registry.AddCounter("loupe_paths_total", "Paths.", {"path"})
      .Update({"/x"}, [](metrics::Counter& c) { c.Inc(); });
  registry.AddCounter("loupe_paths_total", "Paths.", {"path"})
      .Update({"/y"}, [](metrics::Counter& c) { c.Inc(); });  // → overflow series and counter
  const std::string text = RenderText(registry.Collect());
  ASSERT_NE(text.find("loupe_metrics_series_overflow_total{family=\"loupe_paths_total\"}"),
            std::string::npos);
  const auto [code, output] = Promtool(text);
  EXPECT_EQ(code, 0) << output << "\n" << text;
  EXPECT_EQ(output, "") << text;
}

TEST(PromtoolTest, PromtoolReportsProblemsItIsGiven) {
  ASSERT_EQ(system("command -v promtool >/dev/null"), 0);
  // The control: a counter without _total and a broken line are reported.
  auto [code, output] = Promtool("# HELP a h\n# TYPE a counter\na 1\n");
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("_total"), std::string::npos) << output;
  std::tie(code, output) = Promtool("# HELP a_total h\n# TYPE a_total counter\na_total{b=\"} 1\n");
  EXPECT_NE(code, 0) << output;
}

}  // namespace
}  // namespace loupe::prometheus
