// W3C Trace Context `traceparent` header parsing (https://www.w3.org/TR/trace-context/), shared by
// the HTTP/1 and HTTP/2 parsers.
#pragma once

#include <string_view>

#include "src/telemetry/request.h"

namespace loupe::protocols {

// Parses "version-traceid-parentid-flags" (e.g. "00-4bf9...-00f0...-01"). Rejects: version "ff"
// or non-hex, upper-case hex, all-zero trace or parent ids, wrong field lengths, and for version
// 00 anything after the flags. Later versions may append "-..." fields, which are ignored.
// Returns false and leaves `out` untouched when the value is invalid.
bool ParseTraceparent(std::string_view value, telemetry::TraceContext* out);

}  // namespace loupe::protocols
