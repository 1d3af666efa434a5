// OTLP trace exporter: a bounded queue of spans and one export thread that batches them
// (batch_size spans, or whatever waited batch_timeout), encodes them with the official protos
// and sends them, retrying retryable failures with exponential backoff.
//
// Enqueue never waits for the network: it takes a mutex held only for a push or a vector swap,
// and when queue_size spans are already waiting (queued + being exported) the span is dropped
// and counted in loupe_otlp_dropped_total{signal="traces",reason="queue_full"}. Memory is
// bounded by queue_size spans plus one encoded batch.
//
// Thread expectations: Enqueue from any thread; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "src/export/otlp/options.h"
#include "src/export/otlp/retry.h"
#include "src/export/otlp/self_metrics.h"
#include "src/export/otlp/transport.h"
#include "src/telemetry/tracing/span.h"

namespace loupe::otlp {

class TraceExporter {
 public:
  TraceExporter(const OtlpOptions& options, std::unique_ptr<Transport> transport,
                SelfMetrics* self_metrics);
  ~TraceExporter();
  TraceExporter(const TraceExporter&) = delete;
  TraceExporter& operator=(const TraceExporter&) = delete;

  void Start();
  // Exports what is queued, for at most `flush_timeout` (retries included); what is left then
  // is dropped (reason "shutdown"). Idempotent.
  void Stop(std::chrono::milliseconds flush_timeout = std::chrono::seconds(10));

  // O(1); false when the span was dropped because the queue is full.
  bool Enqueue(tracing::Span&& span);

  size_t QueueLength() const;

 private:
  void Run();
  void ExportBatch(std::vector<tracing::Span>* spans, size_t begin, size_t end);
  bool SleepUnlessStopping(std::chrono::milliseconds delay);

  const size_t queue_size_;
  const size_t batch_size_;
  const std::chrono::milliseconds batch_timeout_;
  const RetryPolicy retry_;
  std::unique_ptr<Transport> transport_;
  SignalMetrics* metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<tracing::Span> queue_;
  int64_t oldest_ms_ = 0;  // when the queue last became non-empty
  std::atomic<size_t> in_flight_{0};
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  std::thread thread_;
  std::vector<tracing::Span> batch_;  // export thread only
  TraceRequest request_;              // export thread only, reused
};

}  // namespace loupe::otlp
