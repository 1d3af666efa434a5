// HTTP route decoration as Beyla's `routes` section: turns a request path into a low-cardinality
// route for the `http.route` attribute (and span names), and decides which paths are ignored.
//
// Pattern syntax (`patterns`, `ignored_patterns`): segments separated by '/'. A segment
// `{name}` or `:name` matches exactly one non-empty segment; a segment `*` matches exactly one
// segment, except as the last segment where it (like `**`) matches one or more trailing
// segments. Everything else matches literally. When several patterns match, literal segments
// win over placeholders and placeholders over a trailing wildcard, segment by segment.
//
// Unmatched paths (`unmatched`): `unset` leaves the route empty, `path` copies the path,
// `wildcard` reports `/**`, `heuristic` replaces ID-like segments (see IsIdLikeSegment) with
// the wildcard character.
//
// Thread expectations: a RouteMatcher is immutable after Create(); Match() is const, lock-free
// and allocation-free (heuristic routes are written into the caller's RouteBuffer). RouteScope
// is per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe::metrics::app {

enum class UnmatchedRoutes { kUnset, kPath, kWildcard, kHeuristic };
enum class IgnoreMode { kAll, kMetrics, kTraces };

struct RoutesOptions {
  std::vector<std::string> patterns;
  std::vector<std::string> ignored_patterns;
  IgnoreMode ignore_mode = IgnoreMode::kAll;
  UnmatchedRoutes unmatched = UnmatchedRoutes::kHeuristic;
  char wildcard_char = '*';
  // Heuristic: a hexadecimal segment (with at least one digit) of this many characters or more
  // is an ID.
  size_t heuristic_min_hex_length = 8;
  // Heuristic: a segment of this many characters or more that mixes letters and digits is an ID.
  size_t heuristic_min_token_length = 16;
};

// Scratch space for a heuristic route; paths longer than this end in "/<wildcard>".
struct RouteBuffer {
  std::array<char, 512> data;
};

struct RouteResult {
  std::string_view route;  // into the matcher, the path, or the RouteBuffer
  bool ignore_metrics = false;
  bool ignore_traces = false;
};

// Whether a path segment looks like an identifier rather than a name: all digits; a UUID;
// digits with separators ("2024-01-05", "1.5"); hex of `min_hex` or more characters with a
// digit; or `min_token` or more characters mixing letters and digits.
bool IsIdLikeSegment(std::string_view segment, size_t min_hex, size_t min_token);

class RouteMatcher;

// One request's route, matched at most once however many stages ask for it (the span and the
// RED metrics of a request both need it; matching costs ~270 ns with the heuristic). The
// pipeline opens a scope on the stack around the stages of one request; RouteMatcher::
// MatchOnce() on the same thread then matches the first time and answers from the scope after.
// Scopes nest (the innermost is current) and must be destroyed in reverse order of creation on
// the thread that created them.
class RouteScope {
 public:
  RouteScope();
  ~RouteScope();
  RouteScope(const RouteScope&) = delete;
  RouteScope& operator=(const RouteScope&) = delete;

  // The innermost scope open on this thread; null when none is.
  static RouteScope* Current();

 private:
  friend class RouteMatcher;
  RouteScope* previous_;
  const RouteMatcher* matcher_ = nullptr;  // what `result_` was matched with
  const char* path_data_ = nullptr;        // and for which path (the request's own string)
  size_t path_size_ = 0;
  RouteResult result_;
  RouteBuffer buffer_;  // backs result_.route for heuristic routes
};

class RouteMatcher {
 public:
  // Fails on an empty pattern, a pattern not starting with '/', or an empty placeholder name.
  static absl::StatusOr<std::unique_ptr<RouteMatcher>> Create(const RoutesOptions& options);
  ~RouteMatcher();

  RouteResult Match(std::string_view path, RouteBuffer* buffer) const;

  // Match() unless the current RouteScope already holds this path's result from this matcher.
  // The same path means the same string object (pointer and size), so a scope never answers
  // for another request. Outside a scope, exactly Match().
  RouteResult MatchOnce(std::string_view path, RouteBuffer* buffer) const;
  // How many times Match() ran on the calling thread (tests and benchmarks count passes).
  static uint64_t MatchesOnThisThread();

  // Just the route of a path (matching patterns first, then the unmatched policy).
  std::string_view Route(std::string_view path, RouteBuffer* buffer) const {
    return Match(path, buffer).route;
  }

  struct Trie;

 private:
  RouteMatcher() = default;
  std::string_view Unmatched(std::string_view path, RouteBuffer* buffer) const;

  RoutesOptions options_;
  std::unique_ptr<Trie> routes_;
  std::unique_ptr<Trie> ignored_;
  std::string wildcard_route_;  // "/**" with the wildcard character
};

}  // namespace loupe::metrics::app
