// Hubble's filter flags → FlowFilters, as `hubble observe` builds them: flags are applied in
// command-line order; either-direction flags (--ip, --pod, --port, ...) produce a source-side and
// a destination-side filter OR'ed in the allowlist; --not sends the next filter flag to the
// denylist; --allowlist/--denylist add raw JSON FlowFilters.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "flow/flow.pb.h"
#include "src/api/convert.h"  // flowpb

namespace loupe::cli {

// One filter flag occurrence: long name without dashes ("from-ip", "not", "ipv4") and its value
// ("" for boolean flags).
using FilterFlag = std::pair<std::string, std::string>;

struct FlowFilters {
  std::vector<flowpb::FlowFilter> allowlist;
  std::vector<flowpb::FlowFilter> denylist;
};

// Every filter flag `loupe observe` accepts: long name, short name ("" if none), takes a value.
struct FilterFlagSpec {
  const char* name;
  const char* short_name;
  bool takes_value;
  const char* help;
};
const std::vector<FilterFlagSpec>& FilterFlagSpecs();

// The filter flags of a command line, in order (accepts --flag value, --flag=value, -x value).
std::vector<FilterFlag> ExtractFilterFlags(const std::vector<std::string>& args);

// InvalidArgument naming the flag for a bad value.
absl::StatusOr<FlowFilters> BuildFlowFilters(const std::vector<FilterFlag>& flags);

// `--print-raw-filters` output (YAML, as hubble prints it).
std::string RawFiltersYaml(const FlowFilters& filters);

}  // namespace loupe::cli
