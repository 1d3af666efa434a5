// Attribute selection as Beyla's `attributes.select`: a map from metric names (OpenTelemetry or
// Prometheus form, or globs) to include/exclude lists of attribute names (either form, globs).
// Everything here runs once at start-up; the per-request path only reads the resolved flags.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe::metrics::app {

// A compiled glob in the gobwas/glob dialect Beyla uses: `*` (any run, also across dots), `?`
// (one character), `[abc]`, `[a-z]`, `[!abc]` and `{alt1,alt2}` alternatives.
class Glob {
 public:
  static absl::StatusOr<Glob> Compile(std::string_view pattern);
  bool Match(std::string_view text) const;
  bool HasWildcards() const { return has_wildcards_; }
  const std::string& pattern() const { return pattern_; }
  // How many literal characters the pattern has: more literal = more specific.
  size_t LiteralLength() const { return literal_length_; }

 private:
  std::string pattern_;
  std::vector<std::string> alternatives_;  // `{a,b}` expanded; each has only * ? [..]
  bool has_wildcards_ = false;
  size_t literal_length_ = 0;
};

// Beyla's normalisation of a metric name for `attributes.select` keys: `_` becomes `.`, then a
// trailing `.bucket`, `.sum`, `.count`, `.total` or `.ratio` and then `.bytes` or `.seconds` are
// removed. "http_server_request_duration_seconds_count" -> "http.server.request.duration".
std::string NormalizeMetricName(std::string_view name);
// Attribute names compare in their dotted form: "k8s_src_namespace" -> "k8s.src.namespace".
std::string NormalizeAttributeName(std::string_view name);

struct AttributeSelection {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
};

// One attribute a metric can carry: its OpenTelemetry name and whether Beyla reports it by
// default.
struct AttributeDef {
  std::string otel_name;
  bool default_enabled = true;
};

// The compiled `attributes.select` section.
class AttributeSelector {
 public:
  // Fails on a glob that does not compile (names the key and the pattern).
  static absl::StatusOr<AttributeSelector> Create(
      const std::map<std::string, AttributeSelection>& select);

  // Which of `attributes` the metric reports. `metric_section` is the normalised metric name
  // (NormalizeMetricName of either form). Entries whose key matches are applied from the least
  // specific (a glob with fewer literal characters) to the most specific (an exact name): an
  // entry's include list turns attributes on, its exclude list turns them off. When no matching
  // entry has an include list, the starting set is the attributes' defaults, otherwise empty.
  std::vector<bool> Resolve(std::string_view metric_section,
                            const std::vector<AttributeDef>& attributes) const;

 private:
  struct Entry {
    Glob key;
    bool exact = false;
    std::vector<Glob> include;
    std::vector<Glob> exclude;
  };
  std::vector<Entry> entries_;
};

}  // namespace loupe::metrics::app
