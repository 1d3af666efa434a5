// Time values of `loupe observe` as the hubble CLI reads and prints them: relative durations in
// Go syntax ("3s", "1h43m", "1.5h") meaning that long ago, and absolute times in StampMilli
// ("Jan  2 15:04:05.000", current year), "2006-01-02", RFC3339[Milli|Micro|Nano] and RFC1123Z.
// All times are UTC, as the hubble CLI prints them.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace loupe::cli {

// Go's time.ParseDuration: InvalidArgument on anything else.
absl::StatusOr<int64_t> ParseGoDurationNs(const std::string& text);

// A --since/--until value, relative to `now_ns` (wall clock, ns since the epoch).
absl::StatusOr<int64_t> ParseTimeArg(const std::string& text, int64_t now_ns);

// Formats `ns` with one of the hubble --time-format layouts: "StampMilli" (default), "Stamp",
// "RFC3339", "RFC3339Milli", "RFC3339Micro", "RFC3339Nano", "RFC1123Z". Unknown names fall back
// to StampMilli.
std::string FormatTime(int64_t ns, const std::string& layout = "StampMilli");

bool IsKnownTimeFormat(const std::string& layout);

}  // namespace loupe::cli
