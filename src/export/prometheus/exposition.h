// Prometheus text exposition format 0.0.4.
#pragma once

#include <string>
#include <vector>

#include "src/metrics/registry.h"

namespace loupe::prometheus {

inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string RenderText(const std::vector<metrics::FamilySnapshot>& families);

// Escaping rules of the text format, exposed for tests.
std::string EscapeLabelValue(const std::string& value);
std::string EscapeHelp(const std::string& help);
std::string FormatSampleValue(double value);

}  // namespace loupe::prometheus
