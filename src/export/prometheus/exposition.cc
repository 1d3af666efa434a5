#include "src/export/prometheus/exposition.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "src/base/strings.h"

namespace loupe::prometheus {

namespace {

// Appends `text` made valid UTF-8, escaping backslash, newline and (when `quote`) '"'.
void AppendEscaped(std::string_view text, bool quote, std::string* out) {
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && quote) {
      *out += "\\\"";
    } else if (static_cast<unsigned char>(c) < 0x80) {
      *out += c;
    } else {
      const size_t length = Utf8SequenceLength(text, i);
      if (length == 0) {
        *out += kUtf8ReplacementCharacter;
        ++i;
      } else {
        out->append(text.data() + i, length);
        i += length;
      }
      continue;
    }
    ++i;
  }
}

size_t Utf8Chars(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

const char* TypeName(metrics::MetricType type) {
  switch (type) {
    case metrics::MetricType::kCounter:
      return "counter";
    case metrics::MetricType::kGauge:
      return "gauge";
    case metrics::MetricType::kHistogram:
      return "histogram";
  }
  return "unknown";
}

// Appends `{a="x",b="y",extra}` for the sample's labels plus `extra` (nothing when both empty).
void AppendLabels(const metrics::Labels& labels, std::string_view extra, std::string* out) {
  if (labels.empty() && extra.empty()) return;
  *out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) *out += ',';
    first = false;
    *out += name;
    *out += "=\"";
    AppendEscaped(value, /*quote=*/true, out);
    *out += '"';
  }
  if (!extra.empty()) {
    if (!first) *out += ',';
    out->append(extra.data(), extra.size());
  }
  *out += '}';
}

// ` # {trace_id="..",span_id=".."} value timestamp` (Hubble's families: ` # {traceID=".."} ...`),
// or nothing when the label set is too long.
void AppendExemplar(const metrics::StoredExemplar& exemplar, metrics::ExemplarLabels labels,
                    std::string* out) {
  const bool hubble = labels == metrics::ExemplarLabels::kHubble;
  const std::string_view trace_label = hubble ? "traceID" : "trace_id";
  // Hubble's exemplars name the trace only.
  const bool with_span = !hubble && !exemplar.span_id.empty();
  size_t chars = Utf8Chars(trace_label) + Utf8Chars(exemplar.trace_id);
  if (with_span) chars += Utf8Chars("span_id") + Utf8Chars(exemplar.span_id);
  if (chars > kMaxExemplarLabelSetChars) return;
  *out += " # {";
  out->append(trace_label.data(), trace_label.size());
  *out += "=\"";
  AppendEscaped(exemplar.trace_id, /*quote=*/true, out);
  *out += '"';
  if (with_span) {
    *out += ",span_id=\"";
    AppendEscaped(exemplar.span_id, /*quote=*/true, out);
    *out += '"';
  }
  absl::StrAppend(out, "} ", FormatSampleValue(exemplar.value), " ",
                  FormatSampleValue(exemplar.timestamp));
}

void RenderHistogram(const std::string& name, const metrics::Sample& sample, bool openmetrics,
                     metrics::ExemplarLabels exemplar_labels, std::string* out) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < sample.bucket_counts.size(); ++i) {
    cumulative += sample.bucket_counts[i];
    std::string le = "+Inf";
    if (i < sample.bounds.size()) {
      le = openmetrics ? FormatCanonicalFloat(sample.bounds[i])
                       : FormatSampleValue(sample.bounds[i]);
    }
    absl::StrAppend(out, name, "_bucket");
    AppendLabels(sample.labels, absl::StrCat("le=\"", le, "\""), out);
    absl::StrAppend(out, " ", cumulative);
    if (openmetrics && i < sample.exemplars.size() && sample.exemplars[i].has_value()) {
      AppendExemplar(*sample.exemplars[i], exemplar_labels, out);
    }
    *out += '\n';
  }
  absl::StrAppend(out, name, "_sum");
  AppendLabels(sample.labels, "", out);
  absl::StrAppend(out, " ", FormatSampleValue(sample.sum), "\n", name, "_count");
  AppendLabels(sample.labels, "", out);
  absl::StrAppend(out, " ", sample.count, "\n");
}

// The q-value of one media range or coding ("a/b;q=0.5" → 0.5); 1 when absent, 0 when malformed.
double QValue(std::string_view params) {
  double q = 1;
  while (!params.empty()) {
    const size_t semicolon = params.find(';');
    std::string_view param = StripWhitespace(params.substr(0, semicolon));
    params = semicolon == std::string_view::npos ? "" : params.substr(semicolon + 1);
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') continue;
    param.remove_prefix(2);
    double value = 0;
    const auto [ptr, ec] = std::from_chars(param.data(), param.data() + param.size(), value);
    if (ec != std::errc() || ptr != param.data() + param.size() || value < 0 || value > 1) {
      return 0;
    }
    q = value;
  }
  return q;
}

// Calls fn(token, q) for each comma-separated element of a header, token lower-cased.
template <typename Fn>
void ForEachElement(std::string_view header, Fn fn) {
  while (!header.empty()) {
    const size_t comma = header.find(',');
    const std::string_view element = header.substr(0, comma);
    header = comma == std::string_view::npos ? "" : header.substr(comma + 1);
    const size_t semicolon = element.find(';');
    const std::string token = AsciiLower(StripWhitespace(element.substr(0, semicolon)));
    if (token.empty()) continue;
    fn(token, semicolon == std::string_view::npos ? 1.0 : QValue(element.substr(semicolon + 1)));
  }
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  AppendEscaped(value, /*quote=*/true, &out);
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  AppendEscaped(help, /*quote=*/false, &out);
  return out;
}

std::string EscapeHelpOpenMetrics(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  AppendEscaped(help, /*quote=*/true, &out);
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // Shortest text that reads back as the same double ("0.1", not "0.10000000000000001").
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

std::string FormatCanonicalFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  std::string out(buf, result.ptr);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

std::string RenderText(const std::vector<metrics::FamilySnapshot>& families) {
  std::string out;
  for (const auto& family : families) {
    absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n# TYPE ",
                    family.name, " ", TypeName(family.type), "\n");
    for (const auto& sample : family.samples) {
      if (family.type == metrics::MetricType::kHistogram) {
        RenderHistogram(family.name, sample, /*openmetrics=*/false, family.exemplar_labels, &out);
        continue;
      }
      out += family.name;
      AppendLabels(sample.labels, "", &out);
      absl::StrAppend(&out, " ", FormatSampleValue(sample.value), "\n");
    }
  }
  return out;
}

std::string RenderOpenMetrics(const std::vector<metrics::FamilySnapshot>& families) {
  std::string out;
  for (const auto& family : families) {
    std::string name = family.name;
    std::string sample_name = family.name;
    if (family.type == metrics::MetricType::kCounter) {
      // OpenMetrics names the counter family without the suffix its samples carry.
      constexpr std::string_view kTotal = "_total";
      if (name.size() > kTotal.size() && name.ends_with(kTotal)) {
        name.resize(name.size() - kTotal.size());
      } else {
        sample_name += kTotal;
      }
    }
    absl::StrAppend(&out, "# TYPE ", name, " ", TypeName(family.type), "\n# HELP ", name, " ",
                    EscapeHelpOpenMetrics(family.help), "\n");
    for (const auto& sample : family.samples) {
      if (family.type == metrics::MetricType::kHistogram) {
        RenderHistogram(name, sample, /*openmetrics=*/true, family.exemplar_labels, &out);
        continue;
      }
      out += sample_name;
      AppendLabels(sample.labels, "", &out);
      absl::StrAppend(&out, " ", FormatSampleValue(sample.value), "\n");
    }
  }
  out += "# EOF\n";
  return out;
}

std::string Render(Format format, const std::vector<metrics::FamilySnapshot>& families) {
  return format == Format::kOpenMetrics ? RenderOpenMetrics(families) : RenderText(families);
}

const char* ContentType(Format format) {
  return format == Format::kOpenMetrics ? kOpenMetricsContentType : kTextContentType;
}

Format NegotiateFormat(std::string_view accept) {
  double openmetrics_q = 0;
  double text_q = 0;
  ForEachElement(accept, [&](const std::string& type, double q) {
    if (type == "application/openmetrics-text") {
      openmetrics_q = std::max(openmetrics_q, q);
    } else if (type == "text/plain" || type == "text/*" || type == "*/*") {
      text_q = std::max(text_q, q);
    }
  });
  return openmetrics_q > 0 && openmetrics_q >= text_q ? Format::kOpenMetrics : Format::kText;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  double gzip_q = -1;
  double any_q = -1;
  ForEachElement(accept_encoding, [&](const std::string& coding, double q) {
    if (coding == "gzip" || coding == "x-gzip") gzip_q = std::max(gzip_q, q);
    if (coding == "*") any_q = std::max(any_q, q);
  });
  // An explicit gzip entry wins over "*".
  return gzip_q >= 0 ? gzip_q > 0 : any_q > 0;
}

absl::StatusOr<std::string> GzipCompress(std::string_view data) {
  z_stream stream{};
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("deflateInit2 failed");
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())), '\0');
  // zlib's API is not const-correct; deflate() only reads next_in.
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  const size_t written = stream.total_out;
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("deflate failed: ", rc));
  out.resize(written);
  return out;
}

}  // namespace loupe::prometheus
