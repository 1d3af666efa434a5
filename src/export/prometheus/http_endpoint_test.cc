// The metrics endpoint over real HTTP: format negotiation, gzip (exactly once), the self-metric.
#include "src/export/prometheus/http_endpoint.h"

#include <httplib.h>
#include <zlib.h>

#include <string>

#include "gtest/gtest.h"
#include "src/export/prometheus/exposition.h"
#include "src/export/prometheus/openmetrics_checker.h"

namespace loupe::prometheus {
namespace {

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

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("loupe_requests_total", "Requests.", {"protocol"})
        .WithLabels({"http1"})
        ->Inc(7);
    registry_.AddHistogram("x_seconds", "X.", {}, {1})
        .WithLabels({})
        ->Observe(0.5,
                  metrics::ExemplarRef{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"});
    endpoint_ = std::make_unique<HttpEndpoint>(registry_, [] { return HealthReport{true, "{}"}; });
    ASSERT_TRUE(endpoint_->Start("127.0.0.1", 0, "/metrics").ok());
    ASSERT_GT(endpoint_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", endpoint_->port());
    client_->set_decompress(false);  // see the bytes on the wire
  }

  httplib::Result Get(const httplib::Headers& headers) { return client_->Get("/metrics", headers); }

  metrics::Registry registry_;
  std::unique_ptr<HttpEndpoint> endpoint_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpEndpointTest, ServesTextByDefault) {
  auto res = Get({});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), kTextContentType);
  EXPECT_FALSE(res->has_header("Content-Encoding"));
  EXPECT_NE(res->body.find("\nloupe_requests_total{protocol=\"http1\"} 7\n"), std::string::npos)
      << res->body;
  EXPECT_EQ(res->body.find("# EOF"), std::string::npos);
  EXPECT_EQ(res->body.find("trace_id"), std::string::npos);
}

TEST_F(HttpEndpointTest, ServesOpenMetricsWhenAccepted) {
  auto res = Get(
      {{"Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_NE(res->body.find("# TYPE loupe_requests counter\n"), std::string::npos);
  EXPECT_NE(res->body.find("x_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\""), std::string::npos);
  EXPECT_TRUE(res->body.ends_with("# EOF\n"));
  EXPECT_EQ(CheckOpenMetrics(res->body), std::vector<std::string>{}) << res->body;
}

TEST_F(HttpEndpointTest, GzipsExactlyOnceForBothFormats) {
  for (const char* accept : {"text/plain", "application/openmetrics-text"}) {
    auto res = Get({{"Accept", accept}, {"Accept-Encoding", "gzip"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->get_header_value_count("Content-Encoding"), 1u) << accept;
    EXPECT_EQ(res->get_header_value("Content-Encoding"), "gzip");
    const std::string body = Gunzip(res->body);
    EXPECT_TRUE(body.starts_with("# ")) << accept << ": " << body.substr(0, 40);
    EXPECT_NE(body.find("loupe_requests_total{protocol=\"http1\"} 7\n"), std::string::npos);
  }
}

TEST_F(HttpEndpointTest, OtherEncodingsAreNotApplied) {
  auto res = Get({{"Accept-Encoding", "br, deflate"}});
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->has_header("Content-Encoding"));
  EXPECT_NE(res->body.find("loupe_requests_total"), std::string::npos);
}

TEST_F(HttpEndpointTest, ExportsTheLastScrapeDuration) {
  EXPECT_EQ(endpoint_->last_scrape_seconds(), 0);
  ASSERT_TRUE(Get({}));
  const double first = endpoint_->last_scrape_seconds();
  EXPECT_GT(first, 0);
  EXPECT_LT(first, 1);
  auto res = Get({});
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("# TYPE loupe_scrape_duration_seconds gauge\n"
                           "loupe_scrape_duration_seconds "),
            std::string::npos)
      << res->body;
  endpoint_.reset();  // removes its collector
  for (const auto& family : registry_.Collect()) EXPECT_NE(family.name, kScrapeDurationMetric);
}

TEST(HttpEndpointConstTest, ConstRegistryServesWithoutSelfMetric) {
  metrics::Registry registry;
  registry.AddGauge("g", "G.").WithLabels({})->Set(1);
  const metrics::Registry& const_registry = registry;
  HttpEndpoint endpoint(const_registry, [] { return HealthReport{}; });
  ASSERT_TRUE(endpoint.Start("127.0.0.1", 0, "/m").ok());
  httplib::Client client("127.0.0.1", endpoint.port());
  auto res = client.Get("/m");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "# HELP g G.\n# TYPE g gauge\ng 1\n");
}

}  // namespace
}  // namespace loupe::prometheus
