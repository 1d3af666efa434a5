// Spans -> ExportTraceServiceRequest (official OTLP protos): one ResourceSpans per Resource
// object (in order of first appearance), one ScopeSpans (scope "loupe", the agent's version)
// each.
//
// Thread expectations: stateless, thread-safe.
#pragma once

#include <span>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/telemetry/tracing/span.h"

namespace loupe::otlp {

// Appends `spans` to `out` (which may come from an Arena).
void EncodeSpans(std::span<const tracing::Span> spans,
                 opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* out);

}  // namespace loupe::otlp
