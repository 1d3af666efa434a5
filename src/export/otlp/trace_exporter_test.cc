#include "src/export/otlp/trace_exporter.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace loupe::otlp {
namespace {

using namespace std::chrono_literals;

// Records what it receives; answers with a scripted outcome; can block until released.
class FakeTransport final : public Transport {
 public:
  SendResult Send(const TraceRequest& request) override {
    std::unique_lock<std::mutex> lock(mu);
    ++calls;
    cv.notify_all();
    cv.wait(lock, [this] { return !blocked; });
    SendResult r;
    r.outcome = outcome;
    r.bytes = request.ByteSizeLong();
    if (outcome == SendResult::Outcome::kOk) {
      for (const auto& rs : request.resource_spans()) {
        for (const auto& ss : rs.scope_spans()) {
          spans += static_cast<size_t>(ss.spans_size());
          batch_sizes.push_back(static_cast<size_t>(ss.spans_size()));
        }
      }
    }
    return r;
  }
  SendResult Send(const MetricsRequest&) override { return {}; }

  void WaitCalls(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, 5s, [&] { return calls >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    blocked = false;
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false;
  int calls = 0;
  size_t spans = 0;
  std::vector<size_t> batch_sizes;
  SendResult::Outcome outcome = SendResult::Outcome::kOk;
};

tracing::Span Span() {
  tracing::Span s;
  s.name = "GET /";
  s.trace_id[15] = 1;
  s.span_id[7] = 1;
  return s;
}

struct Fixture {
  explicit Fixture(size_t queue, size_t batch, std::chrono::milliseconds timeout = 20ms) {
    options.queue_size = queue;
    options.batch_size = batch;
    options.batch_timeout = timeout;
    options.backoff_initial = 5ms;
    options.backoff_max = 20ms;
    options.backoff_max_elapsed = 200ms;
    auto t = std::make_unique<FakeTransport>();
    transport = t.get();
    exporter = std::make_unique<TraceExporter>(options, std::move(t), &self);
  }
  double Counter(const std::string& name, const std::string& signal, const std::string& label) {
    for (const auto& f : registry.Collect()) {
      if (f.name != name) continue;
      for (const auto& s : f.samples) {
        if (s.labels.size() == 2 && s.labels[0].second == signal && s.labels[1].second == label) {
          return s.value;
        }
      }
    }
    return -1;
  }
  metrics::Registry registry;
  SelfMetrics self{&registry};
  OtlpOptions options;
  FakeTransport* transport = nullptr;
  std::unique_ptr<TraceExporter> exporter;
};

TEST(TraceExporterTest, BatchesBySizeAndTimeout) {
  Fixture f(100, 10, 50ms);
  f.exporter->Start();
  for (int i = 0; i < 25; ++i) EXPECT_TRUE(f.exporter->Enqueue(Span()));
  f.exporter->Stop(2s);
  EXPECT_EQ(f.transport->spans, 25u);
  for (size_t n : f.transport->batch_sizes) EXPECT_LE(n, 10u);
  EXPECT_EQ(f.Counter("loupe_otlp_exports_total", "traces", "failed"), 0);
}

TEST(TraceExporterTest, PartialBatchGoesAfterTimeout) {
  Fixture f(100, 10, 30ms);
  f.exporter->Start();
  f.exporter->Enqueue(Span());
  f.transport->WaitCalls(1);
  EXPECT_EQ(f.transport->calls, 1);
  f.exporter->Stop(1s);
  EXPECT_EQ(f.transport->spans, 1u);
}

TEST(TraceExporterTest, FullQueueDropsAndCountsWithoutBlocking) {
  Fixture f(20, 5);
  f.transport->blocked = true;
  f.exporter->Start();
  for (int i = 0; i < 5; ++i) f.exporter->Enqueue(Span());
  f.transport->WaitCalls(1);  // the exporter is stuck in Send with 5 spans in flight
  const auto t0 = std::chrono::steady_clock::now();
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += f.exporter->Enqueue(Span()) ? 1 : 0;
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(accepted, 15);  // 20 - 5 in flight
  EXPECT_EQ(f.exporter->QueueLength(), 20u);
  EXPECT_LT(elapsed, 100ms);  // never waited for the stuck transport
  EXPECT_EQ(f.Counter("loupe_otlp_dropped_total", "traces", "queue_full"), 985);
  f.transport->Release();
  f.exporter->Stop(2s);
  EXPECT_EQ(f.transport->spans, 20u);
}

TEST(TraceExporterTest, RetryableFailuresAreRetriedThenDropped) {
  Fixture f(100, 10);
  f.transport->outcome = SendResult::Outcome::kRetryable;
  f.exporter->Start();
  for (int i = 0; i < 10; ++i) f.exporter->Enqueue(Span());
  f.transport->WaitCalls(3);
  f.exporter->Stop(2s);
  EXPECT_GE(f.transport->calls, 3);
  EXPECT_EQ(f.Counter("loupe_otlp_exports_total", "traces", "retried"), f.transport->calls - 1);
  EXPECT_EQ(f.Counter("loupe_otlp_exports_total", "traces", "failed"), 1);
  EXPECT_EQ(f.Counter("loupe_otlp_dropped_total", "traces", "export_failed"), 10);
}

TEST(TraceExporterTest, FinalFailureIsNotRetried) {
  Fixture f(100, 10);
  f.transport->outcome = SendResult::Outcome::kFailed;
  f.exporter->Start();
  for (int i = 0; i < 10; ++i) f.exporter->Enqueue(Span());
  f.exporter->Stop(2s);
  EXPECT_EQ(f.transport->calls, 1);
  EXPECT_EQ(f.Counter("loupe_otlp_exports_total", "traces", "retried"), 0);
  EXPECT_EQ(f.Counter("loupe_otlp_dropped_total", "traces", "export_failed"), 10);
}

TEST(TraceExporterTest, StopDropsWhatItCannotFlush) {
  Fixture f(100, 10);
  f.transport->outcome = SendResult::Outcome::kRetryable;
  f.exporter->Start();
  for (int i = 0; i < 30; ++i) f.exporter->Enqueue(Span());
  f.transport->WaitCalls(1);
  f.exporter->Stop(50ms);
  EXPECT_FALSE(f.exporter->Enqueue(Span()));
  const double lost = f.Counter("loupe_otlp_dropped_total", "traces", "export_failed") +
                      f.Counter("loupe_otlp_dropped_total", "traces", "shutdown");
  EXPECT_EQ(lost, 30);
}

}  // namespace
}  // namespace loupe::otlp
