// The exporters' own metrics, registered once in the agent's registry (so they also reach the
// Prometheus endpoint and, through the metrics exporter, OTLP):
//   loupe_otlp_exports_total{signal,result}    export requests: result="success" | "failed"
//                                              (given up: not retryable or retries exhausted)
//                                              | "retried" (one per failed attempt retried)
//   loupe_otlp_dropped_total{signal,reason}    spans / data points lost: reason="queue_full" |
//                                              "export_failed" | "shutdown"
//   loupe_otlp_queue_length{signal}            spans (traces) or requests (metrics) waiting
//   loupe_otlp_exported_items_total{signal}    spans / data points the receiver accepted
//   loupe_otlp_sent_bytes_total{signal}        protobuf bytes of accepted requests
//
// Thread expectations: pointers are fixed at construction; updates are lock-free.
#pragma once

#include "src/export/otlp/options.h"
#include "src/metrics/registry.h"

namespace loupe::otlp {

struct SignalMetrics {
  metrics::Counter* exports_success = nullptr;
  metrics::Counter* exports_failed = nullptr;
  metrics::Counter* exports_retried = nullptr;
  metrics::Counter* dropped_queue_full = nullptr;
  metrics::Counter* dropped_export_failed = nullptr;
  metrics::Counter* dropped_shutdown = nullptr;
  metrics::Gauge* queue_length = nullptr;
  metrics::Counter* exported_items = nullptr;
  metrics::Counter* sent_bytes = nullptr;
};

class SelfMetrics {
 public:
  explicit SelfMetrics(metrics::Registry* registry);
  SignalMetrics& For(Signal signal) { return signal == Signal::kTraces ? traces_ : metrics_; }

 private:
  SignalMetrics traces_;
  SignalMetrics metrics_;
};

}  // namespace loupe::otlp
