// The configuration schema: every key Loupe accepts, its type, default, environment variables,
// allowed values and its Beyla/Hubble equivalent. One table drives validation, environment
// overrides, `loupe config print` and docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace loupe::config {

enum class ValueType { kBool, kInt, kString, kDuration, kStringList, kEnum, kSelectorList };

// One entry of a Beyla selector list (discovery.services, discovery.instrument, ...): field ->
// value. Map-valued fields (k8s_pod_labels, k8s_pod_annotations) are flattened to
// "field/key" -> value; list-valued fields (exports) are joined with commas.
using Selector = std::map<std::string, std::string>;
using SelectorList = std::vector<Selector>;

using Value = std::variant<bool, int64_t, std::string, std::chrono::nanoseconds,
                           std::vector<std::string>, SelectorList>;

struct KeySpec {
  std::string path;  // dotted YAML path, e.g. "prometheus_export.port"
  ValueType type;
  Value default_value;
  std::vector<std::string> env;      // environment variables, highest precedence first
  std::vector<std::string> allowed;  // kEnum: allowed values (matched case-insensitively);
                                     // kSelectorList: allowed fields of an entry
  int64_t min = INT64_MIN;           // kInt bounds, inclusive
  int64_t max = INT64_MAX;
  std::string doc;
  std::string equivalent;  // the Beyla or Hubble setting this corresponds to, if any
  // Extra validation after type conversion; returns InvalidArgument with the reason.
  std::function<absl::Status(const Value&)> validate;
};

// The full schema, in documentation order.
const std::vector<KeySpec>& Schema();

// Returns nullptr when `path` is not a key.
const KeySpec* FindKey(std::string_view path);

// Keys and sections directly below `section` ("" for the top level), sorted; used in error
// messages that list what is allowed.
std::vector<std::string> ChildrenOf(std::string_view section);
bool IsSection(std::string_view path);

const char* TypeName(ValueType type);
std::string FormatValue(const Value& value);

// Parses text (from YAML scalars or environment variables) into a value of the key's type.
// Lists from text are comma-separated. Errors name the key and what is allowed.
absl::Status ParseText(const KeySpec& spec, std::string_view text, Value* out);
// "80,443,8000-8999" -> {(80,80), (443,443), (8000,8999)}. `out` may be null (validation).
bool ParsePortRanges(std::string_view text, std::vector<std::pair<uint16_t, uint16_t>>* out);
// Go-style durations: "300ms", "5s", "1m30s", "2h". Also a plain number of seconds.
bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out);

}  // namespace loupe::config
