// Tracer: completed Requests -> sampled Spans, with trace ids, parents and the sampling decision.
//
// Ids. A server request that carried a valid `traceparent` continues that trace: its trace id,
// the caller's span id as parent, and (parentbased_*) the caller's sampled flag. Any other
// server request starts a new trace.
//
// Parent rule (client inside server). A client request made while a server request of the same
// process and thread was in flight becomes that server span's child (same trace, parent = the
// server span, sampled as its local parent) when the evidence supports it:
//   1. both records carry the same pid and a non-zero tid;
//   2. the client's [start, end] lies within the server's [start, end];
//   3. exactly one server request of that pid+tid contains it, and that thread has never been
//      seen serving two requests at overlapping times (event-loop servers - Node.js, nginx,
//      Netty, asyncio - multiplex requests on one thread: once an overlap is seen the thread is
//      marked multiplexed and its clients are no longer linked, because the thread no longer
//      says which request made the call);
//   4. if the client request itself carries a traceparent, its trace id equals the server's.
// Records arrive when requests complete, so a client (which completes first) waits up to
// `link_hold` for its server; then it is exported on its own. Limits: calls handed to another
// thread (worker pools, async clients) and server requests longer than `link_hold` are not
// linked; a thread reused by an event loop links wrongly until its first overlap is seen.
//
// A client span that is not linked continues the trace of its own traceparent when it has one
// (with the header's parent id as its span id, so the callee's server span becomes its child);
// otherwise it starts a new trace.
//
// Thread expectations: one Tracer per ingest shard; not thread-safe. The sink is called on the
// caller's thread from Process and Flush.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/telemetry/request.h"
#include "src/telemetry/tracing/sampler.h"
#include "src/telemetry/tracing/span.h"

namespace loupe::tracing {

struct TracerOptions {
  int64_t link_hold_ns = 5'000'000'000;  // how long a client span waits for its server span
  size_t max_pending_clients = 8192;     // client spans waiting; past it they go out unlinked
  size_t max_threads = 16384;            // pid+tid entries tracked; past it no linking
  size_t recent_servers_per_thread = 8;  // completed server spans remembered per thread
};

struct TracerStats {
  uint64_t spans = 0;           // spans built (sampled or not)
  uint64_t sampled = 0;         // spans handed to the sink
  uint64_t linked_clients = 0;  // client spans that got a server parent
  uint64_t unlinked_clients = 0;
  uint64_t multiplexed_threads = 0;
  uint64_t pending_overflow = 0;  // clients not held because max_pending_clients was reached
  uint64_t thread_overflow = 0;   // requests not tracked because max_threads was reached
};

// Ids of a span decided by Process, for exemplars of the request's duration histogram.
struct SampledSpanIds {
  std::string trace_id;  // 32 lower-case hex
  std::string span_id;   // 16 lower-case hex
};

class Tracer {
 public:
  using Sink = std::function<void(Span&&)>;

  Tracer(Sampler sampler, TracerOptions options, Sink sink);

  // Builds the request's span. Server spans (and clients that cannot be linked) are decided and,
  // when sampled, handed to the sink now; their ids are returned when sampled. A client that may
  // still get a parent is held; nullopt is returned for it.
  std::optional<SampledSpanIds> Process(const telemetry::Request& request, std::string_view route,
                                        const std::shared_ptr<const Resource>& resource);

  // Releases held client spans whose end is more than link_hold before `now_ns` (wall clock)
  // and forgets idle threads. Call periodically (e.g. every second) and with INT64_MAX at
  // shutdown.
  void Flush(int64_t now_ns);

  const TracerStats& stats() const { return stats_; }
  size_t pending_clients() const { return pending_count_; }
  const Sampler& sampler() const { return sampler_; }

 private:
  struct ServerRecord {
    int64_t start_ns;
    int64_t end_ns;
    TraceId trace_id;
    SpanId span_id;
    bool sampled;
  };
  struct PendingClient {
    Span span;
    telemetry::TraceContext header;
  };
  struct ThreadState {
    std::vector<ServerRecord> recent;  // ring, at most recent_servers_per_thread
    size_t next_recent = 0;
    std::vector<PendingClient> pending;
    bool multiplexed = false;
    int64_t last_end_ns = 0;
  };

  void Emit(Span&& span, bool sampled);
  void DecideServer(Span* span, const telemetry::TraceContext& header, bool* sampled);
  void EmitUnlinkedClient(PendingClient&& client);
  void EmitLinkedClient(PendingClient&& client, const ServerRecord& server);
  static bool Contains(const ServerRecord& server, const Span& client);
  bool HeaderAllows(const PendingClient& client, const ServerRecord& server) const;

  Sampler sampler_;
  TracerOptions options_;
  Sink sink_;
  TracerStats stats_;
  size_t pending_count_ = 0;
  std::unordered_map<uint64_t, ThreadState> threads_;
  Span scratch_;
};

}  // namespace loupe::tracing
