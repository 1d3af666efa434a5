#include "src/export/prometheus/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace loupe::prometheus {

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
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

namespace {

const char* TypeName(metrics::MetricType type) {
  switch (type) {
    case metrics::MetricType::kCounter:
      return "counter";
    case metrics::MetricType::kGauge:
      return "gauge";
    case metrics::MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Appends `{a="x",b="y"` (no closing brace) for the sample's labels plus `extra`.
void AppendLabels(const metrics::Labels& labels, const std::string& extra, std::string* out) {
  if (labels.empty() && extra.empty()) return;
  *out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) *out += ',';
    first = false;
    absl::StrAppend(out, name, "=\"", EscapeLabelValue(value), "\"");
  }
  if (!extra.empty()) {
    if (!first) *out += ',';
    *out += extra;
  }
  *out += '}';
}

void RenderHistogram(const std::string& name, const metrics::Sample& sample, std::string* out) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < sample.bucket_counts.size(); ++i) {
    cumulative += sample.bucket_counts[i];
    const std::string le =
        i < sample.bounds.size() ? FormatSampleValue(sample.bounds[i]) : std::string("+Inf");
    absl::StrAppend(out, name, "_bucket");
    AppendLabels(sample.labels, absl::StrCat("le=\"", le, "\""), out);
    absl::StrAppend(out, " ", cumulative, "\n");
  }
  absl::StrAppend(out, name, "_sum");
  AppendLabels(sample.labels, "", out);
  absl::StrAppend(out, " ", FormatSampleValue(sample.sum), "\n", name, "_count");
  AppendLabels(sample.labels, "", out);
  absl::StrAppend(out, " ", sample.count, "\n");
}

}  // namespace

std::string RenderText(const std::vector<metrics::FamilySnapshot>& families) {
  std::string out;
  for (const auto& family : families) {
    absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n# TYPE ",
                    family.name, " ", TypeName(family.type), "\n");
    for (const auto& sample : family.samples) {
      if (family.type == metrics::MetricType::kHistogram) {
        RenderHistogram(family.name, sample, &out);
        continue;
      }
      out += family.name;
      AppendLabels(sample.labels, "", &out);
      absl::StrAppend(&out, " ", FormatSampleValue(sample.value), "\n");
    }
  }
  return out;
}

}  // namespace loupe::prometheus
