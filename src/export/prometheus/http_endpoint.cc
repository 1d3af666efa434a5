#include "src/export/prometheus/http_endpoint.h"

#include <httplib.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "src/base/errno_string.h"
#include "src/export/prometheus/exposition.h"

namespace loupe::prometheus {

HttpEndpoint::HttpEndpoint(const metrics::Registry& registry, std::function<HealthReport()> health)
    : registry_(registry), health_(std::move(health)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start(const std::string& address, int port,
                                 const std::string& metrics_path) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Get(metrics_path, [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderText(registry_.Collect()), kTextContentType);
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    HealthReport report = health_();
    res.status = report.healthy ? 200 : 503;
    res.set_content(report.json, "application/json");
  });
  if (!server_->bind_to_port(address.c_str(), port)) {
    const int err = errno;
    server_.reset();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen on ", address, ":", port, " for metrics and health (", ErrnoDescription(err),
        "); is another process using the port? Set "
        "prometheus_export.port (BEYLA_PROMETHEUS_PORT) to a free port"));
  }
  port_ = port;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace loupe::prometheus
