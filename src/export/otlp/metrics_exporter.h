// OTLP metrics exporter: every `interval` collects the registry (the data the Prometheus
// endpoint shows), encodes it (MetricsEncoder) and sends it, retrying retryable failures until
// the next interval is due. A collection that could not be delivered by then is dropped and
// counted (loupe_otlp_dropped_total{signal="metrics",reason="export_failed"}, in data points);
// with cumulative temporality the next one carries the totals, with delta temporality the next
// delta is taken against the last delivered collection, so no increment is lost.
//
// Thread expectations: Start/Stop/ExportNow from the owner; the registry is read concurrently
// with its updates (Registry::Collect is thread-safe).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "src/export/otlp/metrics_encoder.h"
#include "src/export/otlp/options.h"
#include "src/export/otlp/retry.h"
#include "src/export/otlp/self_metrics.h"
#include "src/export/otlp/transport.h"
#include "src/metrics/registry.h"

namespace loupe::otlp {

class MetricsExporter {
 public:
  MetricsExporter(const OtlpOptions& options, std::unique_ptr<Transport> transport,
                  const metrics::Registry* registry, SelfMetrics* self_metrics,
                  std::shared_ptr<const tracing::Resource> agent_resource,
                  MetricsEncoder::ServiceResourceFn service_resource = nullptr);
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  void Start();
  // Sends one last collection (for at most `flush_timeout`), then stops. Idempotent.
  void Stop(std::chrono::milliseconds flush_timeout = std::chrono::seconds(10));

  // One collection and export on the caller's thread (retrying until `deadline_ms`, monotonic
  // ms; 0 = the retry policy's limit). For tests and shutdown. True when delivered.
  bool ExportNow(int64_t deadline_ms = 0);

 private:
  void Run();
  bool SleepUnlessStopping(std::chrono::milliseconds delay, bool for_retry);

  const std::chrono::milliseconds interval_;
  const RetryPolicy retry_;
  std::unique_ptr<Transport> transport_;
  const metrics::Registry* registry_;
  SignalMetrics* metrics_;
  MetricsEncoder encoder_;
  std::mutex export_mu_;  // one export at a time (thread and ExportNow)

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  std::thread thread_;
};

}  // namespace loupe::otlp
