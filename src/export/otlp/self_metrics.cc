#include "src/export/otlp/self_metrics.h"

#include <string>

namespace loupe::otlp {

SelfMetrics::SelfMetrics(metrics::Registry* registry) {
  auto& exports =
      registry->AddCounter("loupe_otlp_exports_total", "OTLP export requests by signal and result",
                           {"signal", "result"});
  auto& dropped = registry->AddCounter("loupe_otlp_dropped_total",
                                       "Spans or metric data points the OTLP exporter dropped",
                                       {"signal", "reason"});
  auto& queue =
      registry->AddGauge("loupe_otlp_queue_length",
                         "Spans (traces) or requests (metrics) waiting for export", {"signal"});
  auto& items =
      registry->AddCounter("loupe_otlp_exported_items_total",
                           "Spans or metric data points accepted by the receiver", {"signal"});
  auto& bytes =
      registry->AddCounter("loupe_otlp_sent_bytes_total",
                           "Protobuf bytes of export requests the receiver accepted", {"signal"});
  for (Signal signal : {Signal::kTraces, Signal::kMetrics}) {
    const std::string name(SignalName(signal));
    SignalMetrics& m = For(signal);
    m.exports_success = exports.WithLabels({name, "success"});
    m.exports_failed = exports.WithLabels({name, "failed"});
    m.exports_retried = exports.WithLabels({name, "retried"});
    m.dropped_queue_full = dropped.WithLabels({name, "queue_full"});
    m.dropped_export_failed = dropped.WithLabels({name, "export_failed"});
    m.dropped_shutdown = dropped.WithLabels({name, "shutdown"});
    m.queue_length = queue.WithLabels({name});
    m.exported_items = items.WithLabels({name});
    m.sent_bytes = bytes.WithLabels({name});
  }
}

}  // namespace loupe::otlp
