#include "src/export/prometheus/exposition.h"

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
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  return buf;
}

std::string RenderText(const std::vector<metrics::FamilySnapshot>& families) {
  std::string out;
  for (const auto& family : families) {
    absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n# TYPE ",
                    family.name, " ",
                    family.type == metrics::MetricType::kCounter ? "counter" : "gauge", "\n");
    for (const auto& sample : family.samples) {
      out += family.name;
      if (!sample.labels.empty()) {
        out += '{';
        bool first = true;
        for (const auto& [name, value] : sample.labels) {
          if (!first) out += ',';
          first = false;
          absl::StrAppend(&out, name, "=\"", EscapeLabelValue(value), "\"");
        }
        out += '}';
      }
      absl::StrAppend(&out, " ", FormatSampleValue(sample.value), "\n");
    }
  }
  return out;
}

}  // namespace loupe::prometheus
