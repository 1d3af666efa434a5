#include "src/metrics/app/routes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace loupe::metrics::app {

struct RouteMatcher::Trie {
  struct Node {
    std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
    std::unique_ptr<Node> param;            // `{x}`, `:x` or a `*` that is not last
    const std::string* terminal = nullptr;  // a pattern ends here
    const std::string* rest = nullptr;      // a pattern ends here with a trailing `*`/`**`
  };
  Node root;
  std::vector<std::unique_ptr<std::string>> patterns;  // stable addresses for the nodes
};

namespace {

using Node = RouteMatcher::Trie::Node;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Cuts the query and fragment.
std::string_view PathOnly(std::string_view path) {
  const size_t end = path.find_first_of("?#");
  return end == std::string_view::npos ? path : path.substr(0, end);
}

// The next non-empty segment at or after `*pos`; empty when none is left.
std::string_view NextSegment(std::string_view path, size_t* pos) {
  size_t i = *pos;
  while (i < path.size() && path[i] == '/') ++i;
  size_t j = i;
  while (j < path.size() && path[j] != '/') ++j;
  *pos = j;
  return path.substr(i, j - i);
}

bool HasMoreSegments(std::string_view path, size_t pos) {
  return path.find_first_not_of('/', pos) != std::string_view::npos;
}

const std::string* MatchNode(const Node& node, std::string_view path, size_t pos) {
  size_t next = pos;
  const std::string_view segment = NextSegment(path, &next);
  if (segment.empty()) return node.terminal;
  for (const auto& [literal, child] : node.literals) {
    if (literal == segment) {
      if (const std::string* found = MatchNode(*child, path, next)) return found;
      break;
    }
  }
  if (node.param) {
    if (const std::string* found = MatchNode(*node.param, path, next)) return found;
  }
  return node.rest;
}

absl::Status AddPattern(RouteMatcher::Trie* trie, const std::string& pattern,
                        std::string_view what) {
  if (pattern.empty() || pattern.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat("routes.", std::string(what), ": pattern \"",
                                                   pattern, "\" must start with '/'"));
  }
  trie->patterns.push_back(std::make_unique<std::string>(pattern));
  const std::string* stored = trie->patterns.back().get();
  Node* node = &trie->root;
  size_t pos = 0;
  const std::string_view path = PathOnly(pattern);
  while (true) {
    const std::string_view segment = NextSegment(path, &pos);
    if (segment.empty()) break;
    const bool last = !HasMoreSegments(path, pos);
    if ((segment == "*" || segment == "**") && last) {
      if (node->rest == nullptr) node->rest = stored;
      return absl::OkStatus();
    }
    const bool braces = segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
    const bool colon = segment.front() == ':';
    if (braces || colon || segment == "*") {
      if ((braces && segment.size() == 2) || (colon && segment.size() == 1)) {
        return absl::InvalidArgumentError(absl::StrCat("routes.", std::string(what), ": pattern \"",
                                                       pattern,
                                                       "\" has a placeholder without a name"));
      }
      if (!node->param) node->param = std::make_unique<Node>();
      node = node->param.get();
      continue;
    }
    auto it = std::find_if(node->literals.begin(), node->literals.end(),
                           [&](const auto& entry) { return entry.first == segment; });
    if (it == node->literals.end()) {
      node->literals.emplace_back(std::string(segment), std::make_unique<Node>());
      it = std::prev(node->literals.end());
    }
    node = it->second.get();
  }
  if (node->terminal == nullptr) node->terminal = stored;  // the first of duplicates wins
  return absl::OkStatus();
}

}  // namespace

bool IsIdLikeSegment(std::string_view s, size_t min_hex, size_t min_token) {
  if (s.empty()) return false;
  size_t digits = 0;
  size_t letters = 0;
  size_t hex = 0;
  size_t separators = 0;  // - _ . : ,
  size_t other = 0;
  for (char c : s) {
    if (IsDigit(c)) {
      ++digits;
    } else if (IsLetter(c)) {
      ++letters;
    } else if (c == '-' || c == '_' || c == '.' || c == ':' || c == ',') {
      ++separators;
    } else if (c == '@' || c == '%' || c == '=') {
      return true;  // e-mail addresses, escaped bytes, base64 padding
    } else {
      ++other;
    }
    if (IsHex(c)) ++hex;
  }
  if (digits == 0) return false;
  if (digits + separators == s.size()) return true;  // 123, 2024-01-05, 1.5
  if (s.size() == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && hex == 32) {
    return true;  // UUID
  }
  if (hex == s.size() && s.size() >= min_hex) return true;
  return s.size() >= min_token && letters > 0 && other == 0;
}

RouteMatcher::~RouteMatcher() = default;

absl::StatusOr<std::unique_ptr<RouteMatcher>> RouteMatcher::Create(const RoutesOptions& options) {
  std::unique_ptr<RouteMatcher> matcher(new RouteMatcher());
  matcher->options_ = options;
  matcher->routes_ = std::make_unique<Trie>();
  matcher->ignored_ = std::make_unique<Trie>();
  for (const std::string& pattern : options.patterns) {
    if (absl::Status s = AddPattern(matcher->routes_.get(), pattern, "patterns"); !s.ok()) {
      return s;
    }
  }
  for (const std::string& pattern : options.ignored_patterns) {
    if (absl::Status s = AddPattern(matcher->ignored_.get(), pattern, "ignored_patterns");
        !s.ok()) {
      return s;
    }
  }
  matcher->wildcard_route_ = std::string("/") + options.wildcard_char + options.wildcard_char;
  return matcher;
}

std::string_view RouteMatcher::Unmatched(std::string_view path, RouteBuffer* buffer) const {
  switch (options_.unmatched) {
    case UnmatchedRoutes::kUnset:
      return {};
    case UnmatchedRoutes::kPath:
      return path;
    case UnmatchedRoutes::kWildcard:
      return wildcard_route_;
    case UnmatchedRoutes::kHeuristic:
      break;
  }
  char* out = buffer->data.data();
  const size_t capacity = buffer->data.size();
  size_t n = 0;
  size_t pos = 0;
  while (true) {
    const std::string_view segment = NextSegment(path, &pos);
    if (segment.empty()) break;
    const bool id = IsIdLikeSegment(segment, options_.heuristic_min_hex_length,
                                    options_.heuristic_min_token_length);
    const size_t len = id ? 1 : segment.size();
    if (n + 1 + len + 2 > capacity) {  // keep room for a final "/*"
      out[n++] = '/';
      out[n++] = options_.wildcard_char;
      return {out, n};
    }
    out[n++] = '/';
    if (id) {
      out[n++] = options_.wildcard_char;
    } else {
      std::copy(segment.begin(), segment.end(), out + n);
      n += segment.size();
    }
  }
  if (n == 0) out[n++] = '/';
  return {out, n};
}

namespace {
thread_local RouteScope* current_scope = nullptr;
thread_local uint64_t matches_on_thread = 0;
}  // namespace

RouteScope::RouteScope() : previous_(current_scope) { current_scope = this; }

RouteScope::~RouteScope() { current_scope = previous_; }

RouteScope* RouteScope::Current() { return current_scope; }

uint64_t RouteMatcher::MatchesOnThisThread() { return matches_on_thread; }

RouteResult RouteMatcher::MatchOnce(std::string_view path, RouteBuffer* buffer) const {
  RouteScope* scope = current_scope;
  if (scope == nullptr) return Match(path, buffer);
  if (scope->matcher_ != this || scope->path_data_ != path.data() ||
      scope->path_size_ != path.size()) {
    scope->result_ = Match(path, &scope->buffer_);
    scope->matcher_ = this;
    scope->path_data_ = path.data();
    scope->path_size_ = path.size();
  }
  return scope->result_;
}

RouteResult RouteMatcher::Match(std::string_view path, RouteBuffer* buffer) const {
  ++matches_on_thread;
  RouteResult result;
  path = PathOnly(path);
  if (!options_.ignored_patterns.empty() && MatchNode(ignored_->root, path, 0) != nullptr) {
    result.ignore_metrics = options_.ignore_mode != IgnoreMode::kTraces;
    result.ignore_traces = options_.ignore_mode != IgnoreMode::kMetrics;
  }
  if (const std::string* route = MatchNode(routes_->root, path, 0)) {
    result.route = *route;
  } else {
    result.route = Unmatched(path, buffer);
  }
  return result;
}

}  // namespace loupe::metrics::app
