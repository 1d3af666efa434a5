#include "src/export/otlp/metrics_exporter.h"

#include <google/protobuf/arena.h>

#include <algorithm>

#include "src/base/clock.h"
#include "src/base/logging.h"

namespace loupe::otlp {

MetricsExporter::MetricsExporter(const OtlpOptions& options, std::unique_ptr<Transport> transport,
                                 const metrics::Registry* registry, SelfMetrics* self_metrics,
                                 std::shared_ptr<const tracing::Resource> agent_resource,
                                 MetricsEncoder::ServiceResourceFn service_resource)
    : interval_(options.interval),
      retry_{options.backoff_initial, options.backoff_max, options.backoff_max_elapsed},
      transport_(std::move(transport)),
      registry_(registry),
      metrics_(&self_metrics->For(Signal::kMetrics)),
      encoder_(options.temporality, std::move(agent_resource), RealClock::Get().NowRealtimeNs(),
               std::move(service_resource)) {}

MetricsExporter::~MetricsExporter() { Stop(std::chrono::milliseconds(0)); }

void MetricsExporter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void MetricsExporter::Stop(std::chrono::milliseconds flush_timeout) {
  bool was_running = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_deadline_ms_ = MonotonicMs() + flush_timeout.count();
    was_running = thread_.joinable();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (was_running && flush_timeout.count() > 0) ExportNow(stop_deadline_ms_);
}

bool MetricsExporter::SleepUnlessStopping(std::chrono::milliseconds delay, bool for_retry) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t until = MonotonicMs() + delay.count();
  while (true) {
    if (stopping_ && (!for_retry || MonotonicMs() >= stop_deadline_ms_)) return false;
    const int64_t now = MonotonicMs();
    if (now >= until) return true;
    cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(until - now, 1000)));
  }
}

bool MetricsExporter::ExportNow(int64_t deadline_ms) {
  std::lock_guard<std::mutex> export_lock(export_mu_);
  const auto families = registry_->Collect();
  google::protobuf::Arena arena;
  auto* request = google::protobuf::Arena::CreateMessage<MetricsRequest>(&arena);
  MetricsEncoder::Pending pending;
  const size_t points =
      encoder_.Encode(families, RealClock::Get().NowRealtimeNs(), request, &pending);
  metrics_->queue_length->Set(1);
  const SendResult result = SendWithRetry(
      retry_, [&] { return transport_->Send(*request); },
      [this](std::chrono::milliseconds d) { return SleepUnlessStopping(d, true); },
      [this](const SendResult&) { metrics_->exports_retried->Inc(); }, deadline_ms);
  metrics_->queue_length->Set(0);
  if (result.outcome == SendResult::Outcome::kOk) {
    encoder_.Commit(std::move(pending));
    metrics_->exports_success->Inc();
    metrics_->exported_items->Inc(points);
    metrics_->sent_bytes->Inc(result.bytes);
    return true;
  }
  metrics_->exports_failed->Inc();
  metrics_->dropped_export_failed->Inc(points);
  LOG_EVERY_SECONDS(warn, 30, "OTLP metrics export failed, {} data points dropped: {}", points,
                    result.detail);
  return false;
}

void MetricsExporter::Run() {
  int64_t next = MonotonicMs() + interval_.count();
  while (true) {
    const int64_t now = MonotonicMs();
    if (now < next && !SleepUnlessStopping(std::chrono::milliseconds(next - now), false)) return;
    // Retries of this collection stop when the next one is due.
    next += interval_.count();
    if (next <= MonotonicMs()) next = MonotonicMs() + interval_.count();
    ExportNow(next);
  }
}

}  // namespace loupe::otlp
