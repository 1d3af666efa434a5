// Metrics exposition: Prometheus text format 0.0.4 and OpenMetrics 1.0 text, content
// negotiation on the Accept header and gzip. Pure functions of a Collect() result; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/utf8.h"
#include "src/metrics/registry.h"

namespace loupe::prometheus {

inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr char kOpenMetricsContentType[] =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
// OpenMetrics: the combined length of an exemplar's label names and values, in UTF-8 characters.
inline constexpr size_t kMaxExemplarLabelSetChars = 128;

enum class Format { kText, kOpenMetrics };

// Text 0.0.4. Exemplars are not part of this format and are left out.
std::string RenderText(const std::vector<metrics::FamilySnapshot>& families);
// OpenMetrics 1.0: counters as `# TYPE <name without _total> counter` with `<name>_total`
// samples, canonical `le` values, exemplars on buckets, `# EOF` at the end.
std::string RenderOpenMetrics(const std::vector<metrics::FamilySnapshot>& families);
std::string Render(Format format, const std::vector<metrics::FamilySnapshot>& families);
const char* ContentType(Format format);

// OpenMetrics when the Accept header lists application/openmetrics-text with a q-value above 0
// and not below the best of text/plain, text/* and */*; the text format otherwise (also for an
// empty or malformed header).
Format NegotiateFormat(std::string_view accept);
// True when Accept-Encoding lists gzip (or *) with a q-value above 0.
bool AcceptsGzip(std::string_view accept_encoding);
// gzip (RFC 1952) at zlib's fastest level.
absl::StatusOr<std::string> GzipCompress(std::string_view data);

// Escaping rules of the formats, exposed for tests. Label values and help text are also made
// valid UTF-8 (each invalid byte becomes U+FFFD): Prometheus rejects a whole scrape otherwise,
// and label values come from packets.
std::string EscapeLabelValue(const std::string& value);
std::string EscapeHelp(const std::string& help);
std::string EscapeHelpOpenMetrics(const std::string& help);
std::string FormatSampleValue(double value);
// OpenMetrics canonical number for `le`: a float always has a "." or an exponent ("1.0").
std::string FormatCanonicalFloat(double value);

}  // namespace loupe::prometheus
