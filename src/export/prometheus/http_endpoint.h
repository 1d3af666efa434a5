// The agent's HTTP endpoint: Prometheus exposition on the configured path and /healthz.
// Serves from its own thread pool; Start/Stop from the control thread.
#pragma once

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

class HttpEndpoint {
 public:
  HttpEndpoint(const metrics::Registry& registry, std::function<HealthReport()> health);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds and starts serving. Fails (FailedPrecondition) when the address cannot be bound, e.g.
  // the port is taken.
  [[nodiscard]] absl::Status Start(const std::string& address, int port,
                                   const std::string& metrics_path);
  void Stop();
  int port() const { return port_; }

 private:
  const metrics::Registry& registry_;
  std::function<HealthReport()> health_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace loupe::prometheus
