// Trace and span ids: generation (a thread-local xoshiro256** generator seeded once per thread
// from the OS) and conversion to and from the lower-case hex of W3C traceparent.
//
// Thread expectations: every function is thread-safe; generators are per thread, lock-free.
#pragma once

#include <string>
#include <string_view>

#include "src/telemetry/tracing/span.h"

namespace loupe::tracing {

// Random, never all-zero ids (an all-zero id is invalid in W3C Trace Context and OTLP).
TraceId NewTraceId();
SpanId NewSpanId();

// Lower-case hex: 32 characters for a trace id, 16 for a span id.
std::string ToHex(const TraceId& id);
std::string ToHex(const SpanId& id);
// Parses exactly 32 (16) hex characters, either case; false on any other input, and for the
// invalid all-zero id.
bool ParseTraceId(std::string_view hex, TraceId* out);
bool ParseSpanId(std::string_view hex, SpanId* out);

bool IsZero(const TraceId& id);
bool IsZero(const SpanId& id);

}  // namespace loupe::tracing
