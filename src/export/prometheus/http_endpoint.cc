#include "src/export/prometheus/http_endpoint.h"

#include <httplib.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "src/base/errno_string.h"
#include "src/base/logging.h"
#include "src/export/prometheus/exposition.h"

namespace loupe::prometheus {

HttpEndpoint::HttpEndpoint(const metrics::Registry& registry, std::function<HealthReport()> health)
    : registry_(registry), health_(std::move(health)) {}

HttpEndpoint::HttpEndpoint(metrics::Registry& registry, std::function<HealthReport()> health)
    : HttpEndpoint(static_cast<const metrics::Registry&>(registry), std::move(health)) {
  collector_registry_ = &registry;
  collector_id_ = registry.AddCollector([this](std::vector<metrics::FamilySnapshot>* out) {
    out->push_back({kScrapeDurationMetric,
                    "Seconds the last scrape of the metrics endpoint took to collect, render and "
                    "compress the metrics.",
                    metrics::MetricType::kGauge,
                    {{{}, last_scrape_seconds_.load()}}});
  });
}

HttpEndpoint::~HttpEndpoint() {
  Stop();
  if (collector_registry_ != nullptr) collector_registry_->RemoveCollector(collector_id_);
}

absl::Status HttpEndpoint::Start(const std::string& address, int port,
                                 const std::string& metrics_path) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Get(metrics_path, [this](const httplib::Request& req, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    const Format format = NegotiateFormat(req.get_header_value("Accept"));
    const bool gzip = AcceptsGzip(req.get_header_value("Accept-Encoding"));
    // Debian's httplib is built with zlib and brotli and compresses text/* responses itself when
    // the request allows it, also over a Content-Encoding we set. Compression is ours (the same
    // for both formats, timed in the self-metric), so hide the header from httplib. The request
    // object is httplib's own non-const local; the handler only sees it through const&.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    std::string body = Render(format, registry_.Collect());
    if (gzip) {
      absl::StatusOr<std::string> compressed = GzipCompress(body);
      if (compressed.ok()) {
        body = std::move(compressed).value();
        res.set_header("Content-Encoding", "gzip");
      } else {
        LOG_EVERY_SECONDS(warn, 60, "metrics endpoint: {}; serving uncompressed",
                          compressed.status().ToString());
      }
    }
    res.set_header("Vary", "Accept, Accept-Encoding");
    res.set_header("Content-Type", ContentType(format));
    res.body = std::move(body);
    last_scrape_seconds_.store(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    HealthReport report = health_();
    res.status = report.healthy ? 200 : 503;
    res.set_content(report.json, "application/json");
  });
  // Port 0: any free port (tests); port() tells which.
  const int bound = port == 0 ? server_->bind_to_any_port(address.c_str())
                              : (server_->bind_to_port(address.c_str(), port) ? port : -1);
  if (bound < 0) {
    const int err = errno;
    server_.reset();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen on ", address, ":", port, " for metrics and health (", ErrnoDescription(err),
        "); is another process using the port? Set "
        "prometheus_export.port (BEYLA_PROMETHEUS_PORT) to a free port"));
  }
  port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace loupe::prometheus
