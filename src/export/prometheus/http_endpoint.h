// The agent's HTTP endpoint: metrics on the configured path and /healthz. The metrics path
// negotiates the format on Accept (OpenMetrics 1.0 or Prometheus text 0.0.4) and gzips on
// Accept-Encoding. Serves from its own thread pool; Start/Stop from the control thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "src/metrics/registry.h"

namespace httplib {
class Server;
}

namespace loupe::prometheus {

struct HealthReport {
  bool healthy = true;
  std::string json;  // body of /healthz
};

// The endpoint's self-metric: how long the last scrape took to collect, render and compress.
inline constexpr char kScrapeDurationMetric[] = "loupe_scrape_duration_seconds";

class HttpEndpoint {
 public:
  // Serves `registry` without self-metrics.
  HttpEndpoint(const metrics::Registry& registry, std::function<HealthReport()> health);
  // Also exports loupe_scrape_duration_seconds through a collector on `registry` (removed when
  // the endpoint is destroyed).
  HttpEndpoint(metrics::Registry& registry, std::function<HealthReport()> health);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds and starts serving. Fails (FailedPrecondition) when the address cannot be bound, e.g.
  // the port is taken. Port 0 binds any free port (see port()).
  [[nodiscard]] absl::Status Start(const std::string& address, int port,
                                   const std::string& metrics_path);
  void Stop();
  int port() const { return port_; }
  // Seconds the last scrape took (0 before the first).
  double last_scrape_seconds() const { return last_scrape_seconds_.load(); }

 private:
  const metrics::Registry& registry_;
  metrics::Registry* collector_registry_ = nullptr;
  int collector_id_ = 0;
  std::function<HealthReport()> health_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<double> last_scrape_seconds_{0};
};

}  // namespace loupe::prometheus
