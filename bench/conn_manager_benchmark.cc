// Heap held by the L7 engine's closed connections while they wait out their 1 s death countdown:
// under connection churn the 16 384-tracker table is mostly closed connections
// (docs/performance.md, "Connection churn"). Each iteration fills a ConnManager with 16 384
// connections of one HTTP/1 exchange each (whole messages, or each split in two, which makes the
// parser buffer), closes them, and reports the heap still held per connection (glibc's
// mallinfo2: bytes in use), the sink's records excluded.
#include <malloc.h>

#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/ingest/conn_manager.h"

namespace loupe::ingest {
namespace {

class CountingSink : public RequestSink {
 public:
  void OnRequest(telemetry::Request&&) override { ++requests; }
  uint64_t requests = 0;
};

const std::string kRequest = "GET /items/1 HTTP/1.1\r\nHost: shop\r\nUser-Agent: bench\r\n\r\n";
const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

void Send(ConnManager& manager, const sensors::ConnId& id, sensors::DataDirection dir,
          const std::string& text, uint64_t position, int64_t now) {
  sensors::SocketDataEvent e;
  e.id = id;
  e.time_ns = now;
  e.direction = dir;
  e.role = sensors::ConnRole::kServer;
  e.position = position;
  e.original_size = static_cast<uint32_t>(text.size());
  e.data = {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  manager.OnData(e);
}

void BM_ClosedTrackerHeap(benchmark::State& state) {
  const bool split = state.range(0) != 0;
  constexpr int kConnections = 16384;
  double per_connection = 0;
  for (auto _ : state) {
    metrics::Registry registry;
    CountingSink sink;
    ConnManagerOptions options;
    options.closed_linger_ns = INT64_MAX / 2;  // nothing is reaped while measuring
    const size_t before = mallinfo2().uordblks;
    {
      ConnManager manager(options, sink, registry);
      int64_t now = 1'000'000'000;
      for (int i = 0; i < kConnections; ++i) {
        const sensors::ConnId id{4242, i + 10, 1};
        sensors::SocketOpenEvent open;
        open.id = id;
        open.time_ns = ++now;
        open.role = sensors::ConnRole::kServer;
        manager.OnOpen(open);
        for (const auto& [dir, text] : {std::pair{sensors::DataDirection::kIngress, &kRequest},
                                        std::pair{sensors::DataDirection::kEgress, &kResponse}}) {
          if (split) {
            Send(manager, id, dir, text->substr(0, 20), 0, ++now);
            Send(manager, id, dir, text->substr(20), 20, ++now);
          } else {
            Send(manager, id, dir, *text, 0, ++now);
          }
        }
        sensors::SocketCloseEvent close;
        close.id = id;
        close.time_ns = ++now;
        manager.OnClose(close);
      }
      per_connection = static_cast<double>(mallinfo2().uordblks - before) / kConnections;
      if (manager.connections() != kConnections || sink.requests != kConnections) {
        state.SkipWithError("the connections were not all tracked and reported");
      }
    }
  }
  state.counters["heap_bytes_per_closed_connection"] = per_connection;
}
BENCHMARK(BM_ClosedTrackerHeap)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace loupe::ingest
