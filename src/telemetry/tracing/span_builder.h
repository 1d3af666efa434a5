// Request -> Span: name, kind, times, status and attributes per the OpenTelemetry semantic
// conventions as Beyla applies them (reference/beyla.md §5.1-5.3). Ids are not set here (the
// Tracer decides them).
//
// HTTP server:  "<METHOD> <route>" (just the method without a route), SERVER, ERROR when the
//               status is >= 500 or 0.
// HTTP client:  same name, CLIENT, ERROR when the status is >= 400 or 0.
// gRPC:         the full method ("/pkg.Service/Method"); server ERROR for UNKNOWN,
//               DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS; client ERROR
//               for any code but OK. Without a grpc-status the HTTP rule applies to :status.
//
// Thread expectations: stateless free function, thread-safe.
#pragma once

#include <string_view>

#include "src/telemetry/request.h"
#include "src/telemetry/tracing/span.h"

namespace loupe::tracing {

// `route` is the low-cardinality route of the request ("" when none is known). Leaves ids,
// trace flags and resource untouched; overwrites every other field of `out`.
void BuildSpan(const telemetry::Request& request, std::string_view route, Span* out);

// "OK", "CANCELLED", ... "UNAUTHENTICATED"; "" for codes outside 0..16.
std::string_view GrpcStatusName(int32_t code);

}  // namespace loupe::tracing
