#include "src/telemetry/tracing/tracer.h"

#include <utility>

#include "src/telemetry/tracing/ids.h"
#include "src/telemetry/tracing/span_builder.h"

namespace loupe::tracing {
namespace {

uint64_t ThreadKey(uint32_t pid, uint32_t tid) { return (static_cast<uint64_t>(pid) << 32) | tid; }

bool Overlaps(int64_t a_start, int64_t a_end, int64_t b_start, int64_t b_end) {
  return a_start < b_end && b_start < a_end;
}

}  // namespace

Tracer::Tracer(Sampler sampler, TracerOptions options, Sink sink)
    : sampler_(std::move(sampler)), options_(options), sink_(std::move(sink)) {
  if (options_.recent_servers_per_thread == 0) options_.recent_servers_per_thread = 1;
}

void Tracer::Emit(Span&& span, bool sampled) {
  ++stats_.spans;
  if (!sampled) return;
  ++stats_.sampled;
  span.trace_flags |= 0x01;
  sink_(std::move(span));
}

void Tracer::DecideServer(Span* span, const telemetry::TraceContext& header, bool* sampled) {
  span->span_id = NewSpanId();
  ParentInfo parent;
  if (ParseTraceId(header.trace_id, &span->trace_id) &&
      ParseSpanId(header.parent_span_id, &span->parent_span_id)) {
    parent.kind = ParentInfo::Kind::kRemote;
    parent.sampled = (header.flags & 0x01) != 0;
  } else {
    span->trace_id = NewTraceId();
    span->parent_span_id = SpanId{};
  }
  span->trace_flags = 0;
  *sampled = sampler_.ShouldSample(parent, span->trace_id);
}

void Tracer::EmitUnlinkedClient(PendingClient&& client) {
  ++stats_.unlinked_clients;
  Span& span = client.span;
  ParentInfo parent;
  TraceId trace_id;
  SpanId header_span;
  if (ParseTraceId(client.header.trace_id, &trace_id) &&
      ParseSpanId(client.header.parent_span_id, &header_span)) {
    // The header names the span the callee sees as its parent: that is this client span.
    span.trace_id = trace_id;
    span.span_id = header_span;
    parent.kind = ParentInfo::Kind::kRemote;
    parent.sampled = (client.header.flags & 0x01) != 0;
  } else {
    span.trace_id = NewTraceId();
    span.span_id = NewSpanId();
  }
  span.parent_span_id = SpanId{};
  const bool sampled = sampler_.ShouldSample(parent, span.trace_id);
  Emit(std::move(span), sampled);
}

void Tracer::EmitLinkedClient(PendingClient&& client, const ServerRecord& server) {
  ++stats_.linked_clients;
  Span& span = client.span;
  span.trace_id = server.trace_id;
  span.parent_span_id = server.span_id;
  SpanId header_span;
  if (!client.header.trace_id.empty() && ParseSpanId(client.header.parent_span_id, &header_span)) {
    span.span_id = header_span;
  } else {
    span.span_id = NewSpanId();
  }
  const ParentInfo parent{ParentInfo::Kind::kLocal, server.sampled};
  const bool sampled = sampler_.ShouldSample(parent, span.trace_id);
  Emit(std::move(span), sampled);
}

bool Tracer::Contains(const ServerRecord& server, const Span& client) {
  return client.start_ns >= server.start_ns && client.end_ns <= server.end_ns;
}

bool Tracer::HeaderAllows(const PendingClient& client, const ServerRecord& server) const {
  TraceId header_trace;
  if (!ParseTraceId(client.header.trace_id, &header_trace)) return true;
  return header_trace == server.trace_id;
}

std::optional<SampledSpanIds> Tracer::Process(const telemetry::Request& request,
                                              std::string_view route,
                                              const std::shared_ptr<const Resource>& resource) {
  // Built in a reused object: when the exporter drops the span (queue full) its buffers stay
  // here for the next request instead of being freed and allocated again on the ingest path.
  Span& span = scratch_;
  BuildSpan(request, route, &span);
  span.resource = resource;
  span.trace_flags = 0;

  ThreadState* state = nullptr;
  if (request.tid != 0) {
    const uint64_t key = ThreadKey(request.pid, request.tid);
    auto it = threads_.find(key);
    if (it == threads_.end()) {
      if (threads_.size() >= options_.max_threads) {
        ++stats_.thread_overflow;
      } else {
        it = threads_.emplace(key, ThreadState{}).first;
      }
    }
    if (it != threads_.end()) state = &it->second;
  }

  if (request.role == telemetry::Role::kServer) {
    bool sampled = false;
    DecideServer(&span, request.trace, &sampled);
    std::optional<SampledSpanIds> ids;
    if (sampled) ids = SampledSpanIds{ToHex(span.trace_id), ToHex(span.span_id)};
    if (state != nullptr) {
      ServerRecord record{span.start_ns, span.end_ns, span.trace_id, span.span_id, sampled};
      for (const auto& other : state->recent) {
        if (!state->multiplexed &&
            Overlaps(other.start_ns, other.end_ns, record.start_ns, record.end_ns)) {
          state->multiplexed = true;
          ++stats_.multiplexed_threads;
        }
      }
      state->last_end_ns = std::max(state->last_end_ns, span.end_ns);
      // Link the held clients this server span contains (all of them, or none when the thread
      // is multiplexed: those go out unlinked at once).
      auto& pending = state->pending;
      for (size_t i = 0; i < pending.size();) {
        const bool contained = Contains(record, pending[i].span);
        if (state->multiplexed || (contained && HeaderAllows(pending[i], record))) {
          PendingClient client = std::move(pending[i]);
          pending[i] = std::move(pending.back());
          pending.pop_back();
          --pending_count_;
          if (state->multiplexed) {
            EmitUnlinkedClient(std::move(client));
          } else {
            EmitLinkedClient(std::move(client), record);
          }
        } else {
          ++i;
        }
      }
      if (state->recent.size() < options_.recent_servers_per_thread) {
        state->recent.push_back(record);
      } else {
        state->recent[state->next_recent] = record;
        state->next_recent = (state->next_recent + 1) % state->recent.size();
      }
    }
    Emit(std::move(span), sampled);
    return ids;
  }

  PendingClient client{std::move(span), request.trace};
  if (state == nullptr || state->multiplexed) {
    EmitUnlinkedClient(std::move(client));
    return std::nullopt;
  }
  state->last_end_ns = std::max(state->last_end_ns, client.span.end_ns);
  // A server span already seen that contains this client (records of one thread can arrive out
  // of order when several shards feed one tracer).
  const ServerRecord* container = nullptr;
  int containers = 0;
  for (const auto& record : state->recent) {
    if (Contains(record, client.span)) {
      container = &record;
      ++containers;
    }
  }
  if (containers == 1 && HeaderAllows(client, *container)) {
    EmitLinkedClient(std::move(client), *container);
    return std::nullopt;
  }
  if (containers > 1 || pending_count_ >= options_.max_pending_clients) {
    if (containers <= 1) ++stats_.pending_overflow;
    EmitUnlinkedClient(std::move(client));
    return std::nullopt;
  }
  state->pending.push_back(std::move(client));
  ++pending_count_;
  return std::nullopt;
}

void Tracer::Flush(int64_t now_ns) {
  const int64_t cutoff =
      now_ns > INT64_MIN + options_.link_hold_ns ? now_ns - options_.link_hold_ns : INT64_MIN;
  for (auto it = threads_.begin(); it != threads_.end();) {
    ThreadState& state = it->second;
    auto& pending = state.pending;
    for (size_t i = 0; i < pending.size();) {
      if (pending[i].span.end_ns < cutoff || now_ns == INT64_MAX) {
        PendingClient client = std::move(pending[i]);
        pending[i] = std::move(pending.back());
        pending.pop_back();
        --pending_count_;
        EmitUnlinkedClient(std::move(client));
      } else {
        ++i;
      }
    }
    // Multiplexed threads are remembered while active, so their clients keep going out at once.
    if (pending.empty() && state.last_end_ns < cutoff) {
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace loupe::tracing
