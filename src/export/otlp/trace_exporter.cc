#include "src/export/otlp/trace_exporter.h"

#include <algorithm>

#include "src/base/logging.h"
#include "src/export/otlp/trace_encoder.h"

namespace loupe::otlp {

TraceExporter::TraceExporter(const OtlpOptions& options, std::unique_ptr<Transport> transport,
                             SelfMetrics* self_metrics)
    : queue_size_(options.queue_size),
      batch_size_(std::max<size_t>(1, options.batch_size)),
      batch_timeout_(options.batch_timeout),
      retry_{options.backoff_initial, options.backoff_max, options.backoff_max_elapsed},
      transport_(std::move(transport)),
      metrics_(&self_metrics->For(Signal::kTraces)) {
  queue_.reserve(std::min<size_t>(queue_size_, 65536));
}

TraceExporter::~TraceExporter() { Stop(std::chrono::milliseconds(0)); }

void TraceExporter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void TraceExporter::Stop(std::chrono::milliseconds flush_timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ms_ = MonotonicMs() + flush_timeout.count();
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (!queue_.empty()) {
    metrics_->dropped_shutdown->Inc(queue_.size());
    queue_.clear();
  }
  metrics_->queue_length->Set(0);
}

bool TraceExporter::Enqueue(tracing::Span&& span) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() + in_flight_.load(std::memory_order_relaxed) >= queue_size_) {
      metrics_->dropped_queue_full->Inc();
      return false;
    }
    if (queue_.empty()) oldest_ms_ = MonotonicMs();
    queue_.push_back(std::move(span));
    wake = queue_.size() == batch_size_;
  }
  if (wake) cv_.notify_one();
  return true;
}

size_t TraceExporter::QueueLength() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + in_flight_.load(std::memory_order_relaxed);
}

bool TraceExporter::SleepUnlessStopping(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t until = MonotonicMs() + delay.count();
  while (true) {
    const int64_t now = MonotonicMs();
    if (stopping_ && now >= stop_deadline_ms_) return false;
    if (now >= until) return true;
    int64_t wait = until - now;
    if (stopping_) wait = std::min(wait, stop_deadline_ms_ - now);
    // Wake at least once a second to refresh the queue-length gauge.
    wait = std::min<int64_t>(wait, 1000);
    metrics_->queue_length->Set(static_cast<double>(queue_.size() + in_flight_.load()));
    cv_.wait_for(lock, std::chrono::milliseconds(wait));
  }
}

void TraceExporter::ExportBatch(std::vector<tracing::Span>* spans, size_t begin, size_t end) {
  // One request object, cleared between batches: protobuf keeps the cleared sub-messages and
  // their strings' capacity, so steady-state encoding allocates almost nothing.
  TraceRequest* request = &request_;
  request->Clear();
  EncodeSpans(std::span<const tracing::Span>(spans->data() + begin, end - begin), request);
  int64_t deadline = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) deadline = stop_deadline_ms_;
  }
  const SendResult result = SendWithRetry(
      retry_, [&] { return transport_->Send(*request); },
      [this](std::chrono::milliseconds d) { return SleepUnlessStopping(d); },
      [this](const SendResult&) { metrics_->exports_retried->Inc(); }, deadline);
  const size_t n = end - begin;
  if (result.outcome == SendResult::Outcome::kOk) {
    metrics_->exports_success->Inc();
    metrics_->exported_items->Inc(n);
    metrics_->sent_bytes->Inc(result.bytes);
  } else {
    metrics_->exports_failed->Inc();
    metrics_->dropped_export_failed->Inc(n);
    LOG_EVERY_SECONDS(warn, 30, "OTLP trace export failed, {} spans dropped: {}", n, result.detail);
  }
  in_flight_.fetch_sub(n, std::memory_order_relaxed);
}

void TraceExporter::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (true) {
        metrics_->queue_length->Set(static_cast<double>(queue_.size()));
        if (stopping_ || queue_.size() >= batch_size_) break;
        const int64_t now = MonotonicMs();
        if (!queue_.empty() && now >= oldest_ms_ + batch_timeout_.count()) break;
        int64_t wait = 1000;
        if (!queue_.empty()) wait = std::min(wait, oldest_ms_ + batch_timeout_.count() - now);
        cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait, 1)));
      }
      if (stopping_ && (queue_.empty() || MonotonicMs() >= stop_deadline_ms_)) return;
      batch_.clear();
      batch_.swap(queue_);
      in_flight_.store(batch_.size(), std::memory_order_relaxed);
    }
    for (size_t begin = 0; begin < batch_.size(); begin += batch_size_) {
      const size_t end = std::min(batch_.size(), begin + batch_size_);
      bool give_up = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        give_up = stopping_ && MonotonicMs() >= stop_deadline_ms_;
      }
      if (give_up) {
        metrics_->dropped_shutdown->Inc(end - begin);
        in_flight_.fetch_sub(end - begin, std::memory_order_relaxed);
        continue;
      }
      ExportBatch(&batch_, begin, end);
    }
    batch_.clear();
  }
}

}  // namespace loupe::otlp
