#include "src/metrics/app/select.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace loupe::metrics::app {
namespace {

// Matches `text` against one brace-free alternative with `*`, `?`, `[...]` and `\` escapes.
// Classic two-pointer wildcard matching: on a mismatch, retry from the last `*` one character
// further along. Patterns were validated by Compile, so classes are always closed here.
bool MatchClass(std::string_view pattern, size_t* pos, char c) {
  size_t i = *pos + 1;  // after '['
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    char lo = pattern[i];
    if (lo == '\\' && i + 1 < pattern.size()) lo = pattern[++i];
    char hi = lo;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      hi = pattern[i + 2];
      i += 2;
    }
    if (c >= lo && c <= hi) matched = true;
    ++i;
  }
  *pos = i + 1;  // after ']'
  return matched != negate;
}

bool MatchAlternative(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t t = 0;
  size_t star_p = std::string_view::npos;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star_p = ++p;
        star_t = t;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++t;
        continue;
      }
      if (pc == '[') {
        size_t next = p;
        if (MatchClass(pattern, &next, text[t])) {
          p = next;
          ++t;
          continue;
        }
      } else {
        char literal = pc;
        size_t width = 1;
        if (pc == '\\' && p + 1 < pattern.size()) {
          literal = pattern[p + 1];
          width = 2;
        }
        if (literal == text[t]) {
          p += width;
          ++t;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Expands one level of `{a,b}` alternatives; checks brackets and braces are balanced.
absl::Status Expand(std::string_view pattern, std::vector<std::string>* out, bool* wildcards,
                    size_t* literal_length) {
  std::string prefix;
  size_t literal = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      if (i + 1 == pattern.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("glob \"", std::string(pattern), "\" ends with a lone backslash"));
      }
      prefix.append(pattern.substr(i, 2));
      ++literal;
      ++i;
      continue;
    }
    if (c == '*' || c == '?') {
      *wildcards = true;
      prefix += c;
      continue;
    }
    if (c == '[') {
      size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is a member
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      if (j >= pattern.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("glob \"", std::string(pattern), "\" has an unclosed '['"));
      }
      *wildcards = true;
      prefix.append(pattern.substr(i, j - i + 1));
      i = j;
      continue;
    }
    if (c == ']' || c == '}') {
      return absl::InvalidArgumentError(absl::StrCat(
          "glob \"", std::string(pattern), "\" has an unmatched '", std::string(1, c), "'"));
    }
    if (c == '{') {
      const size_t close = pattern.find('}', i);
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("glob \"", std::string(pattern), "\" has an unclosed '{'"));
      }
      const std::string_view body = pattern.substr(i + 1, close - i - 1);
      if (body.find('{') != std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("glob \"", std::string(pattern), "\" nests '{' (not supported)"));
      }
      *wildcards = true;
      std::vector<std::string> rest;
      bool rest_wildcards = false;
      size_t rest_literal = 0;
      if (absl::Status s = Expand(pattern.substr(close + 1), &rest, &rest_wildcards, &rest_literal);
          !s.ok()) {
        return s;
      }
      size_t start = 0;
      while (true) {
        const size_t comma = body.find(',', start);
        const std::string_view alt = body.substr(start, comma - start);
        for (const std::string& tail : rest) {
          std::string expanded = prefix;
          expanded.append(alt);
          expanded.append(tail);
          out->push_back(std::move(expanded));
        }
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
      *literal_length = literal + rest_literal;
      return absl::OkStatus();
    }
    prefix += c;
    ++literal;
  }
  out->push_back(std::move(prefix));
  *literal_length = literal;
  return absl::OkStatus();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

absl::StatusOr<Glob> Glob::Compile(std::string_view pattern) {
  if (pattern.empty()) return absl::InvalidArgumentError("empty glob");
  Glob glob;
  glob.pattern_ = std::string(pattern);
  if (absl::Status s =
          Expand(pattern, &glob.alternatives_, &glob.has_wildcards_, &glob.literal_length_);
      !s.ok()) {
    return s;
  }
  return glob;
}

bool Glob::Match(std::string_view text) const {
  return std::any_of(alternatives_.begin(), alternatives_.end(),
                     [&](const std::string& alt) { return MatchAlternative(alt, text); });
}

std::string NormalizeAttributeName(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '_', '.');
  return out;
}

std::string NormalizeMetricName(std::string_view name) {
  std::string out = NormalizeAttributeName(name);
  for (std::string_view suffix : {".bucket", ".sum", ".count", ".total", ".ratio"}) {
    if (EndsWith(out, suffix)) {
      out.resize(out.size() - suffix.size());
      break;
    }
  }
  for (std::string_view suffix : {".bytes", ".seconds"}) {
    if (EndsWith(out, suffix)) {
      out.resize(out.size() - suffix.size());
      break;
    }
  }
  return out;
}

absl::StatusOr<AttributeSelector> AttributeSelector::Create(
    const std::map<std::string, AttributeSelection>& select) {
  AttributeSelector selector;
  for (const auto& [key, selection] : select) {
    Entry entry;
    auto key_glob = Glob::Compile(NormalizeMetricName(key));
    if (!key_glob.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("attributes.select: metric key \"", key,
                                                     "\": ", key_glob.status().message()));
    }
    entry.key = *std::move(key_glob);
    entry.exact = !entry.key.HasWildcards();
    for (auto [list, out, what] : {std::tuple{&selection.include, &entry.include, "include"},
                                   std::tuple{&selection.exclude, &entry.exclude, "exclude"}}) {
      for (const std::string& pattern : *list) {
        auto glob = Glob::Compile(NormalizeAttributeName(pattern));
        if (!glob.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("attributes.select.", key, ".", what, ": ", glob.status().message()));
        }
        out->push_back(*std::move(glob));
      }
    }
    selector.entries_.push_back(std::move(entry));
  }
  // Least specific first, so that more specific entries are applied later and win.
  std::stable_sort(selector.entries_.begin(), selector.entries_.end(),
                   [](const Entry& a, const Entry& b) {
                     if (a.exact != b.exact) return !a.exact;
                     return a.key.LiteralLength() < b.key.LiteralLength();
                   });
  return selector;
}

std::vector<bool> AttributeSelector::Resolve(std::string_view metric_section,
                                             const std::vector<AttributeDef>& attributes) const {
  std::vector<const Entry*> matching;
  bool any_include = false;
  for (const Entry& entry : entries_) {
    if (!entry.key.Match(metric_section)) continue;
    matching.push_back(&entry);
    any_include = any_include || !entry.include.empty();
  }
  std::vector<bool> enabled(attributes.size(), false);
  for (size_t i = 0; i < attributes.size(); ++i) {
    enabled[i] = !any_include && attributes[i].default_enabled;
  }
  for (const Entry* entry : matching) {
    for (size_t i = 0; i < attributes.size(); ++i) {
      const std::string name = NormalizeAttributeName(attributes[i].otel_name);
      const auto matches = [&](const Glob& g) { return g.Match(name); };
      if (std::any_of(entry->include.begin(), entry->include.end(), matches)) enabled[i] = true;
      if (std::any_of(entry->exclude.begin(), entry->exclude.end(), matches)) enabled[i] = false;
    }
  }
  return enabled;
}

}  // namespace loupe::metrics::app
