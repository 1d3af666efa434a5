#include "src/flow/identity_filter.h"

#include <algorithm>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "src/base/strings.h"

namespace loupe::flow {
namespace {

std::string Trim(std::string_view s) { return std::string(StripWhitespace(s)); }

// Splits on commas that are not inside parentheses ("a in (x,y),b" → 2 parts).
std::vector<std::string> SplitRequirements(const std::string& text) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(Trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(Trim(cur));
  return out;
}

bool ValidKey(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/' || c == ':';
  });
}

}  // namespace

absl::StatusOr<IdentityMatcher> IdentityMatcher::Compile(const IdentitySpec& spec,
                                                         const char* side) {
  IdentityMatcher m;
  m.empty_ = spec.empty();
  const std::string s(side);
  auto refs = [](const std::vector<std::string>& in, std::vector<NameRef>* out) {
    for (const auto& text : in) {
      NameRef ref;
      const size_t slash = text.find('/');
      if (slash == std::string::npos) {
        ref.ns = "default";  // Hubble: a bare name is in the default namespace
        ref.name = text;
      } else {
        ref.ns = text.substr(0, slash);
        ref.name = text.substr(slash + 1);
      }
      out->push_back(std::move(ref));
    }
  };
  refs(spec.pod, &m.pods_);
  refs(spec.service, &m.services_);
  for (const auto& pattern : spec.fqdn) {
    std::string re = "^";
    for (char c : AsciiLower(StripWhitespace(pattern))) {
      if (c == '*') {
        re += "[-a-z0-9_.]*";
      } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
        re.push_back(c);
      } else if (c == '.') {
        re += "\\.";
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(s, "_fqdn: invalid character in pattern \"", pattern, "\""));
      }
    }
    // A trailing root dot in the pattern or the name is not significant.
    if (re.size() > 3 && re.substr(re.size() - 2) == "\\.") re.resize(re.size() - 2);
    re += "$";
    auto compiled = std::make_shared<const re2::RE2>(re, re2::RE2::Quiet);
    if (!compiled->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s, "_fqdn: invalid pattern \"", pattern, "\": ", compiled->error()));
    }
    m.fqdns_.push_back(std::move(compiled));
  }
  for (const auto& text : spec.label) {
    if (auto st = ValidateLabelSelector(text, s + "_label"); !st.ok()) return st;
    Selector selector;
    for (const std::string& part : SplitRequirements(text)) {
      if (part.empty()) continue;
      Requirement r;
      std::string key;
      std::string rest;
      auto set_key = [&](std::string k) {
        k = Trim(k);
        const size_t colon = k.find(':');
        if (colon != std::string::npos) {
          r.source = k.substr(0, colon);
          r.key = k.substr(colon + 1);
        } else {
          r.key = k;
        }
      };
      size_t pos;
      if (part[0] == '!') {
        set_key(part.substr(1));
        r.op = Requirement::Op::kNotExists;
      } else if ((pos = part.find("!=")) != std::string::npos) {
        set_key(part.substr(0, pos));
        r.op = Requirement::Op::kNotEquals;
        r.values = {Trim(part.substr(pos + 2))};
      } else if ((pos = part.find("==")) != std::string::npos) {
        set_key(part.substr(0, pos));
        r.op = Requirement::Op::kEquals;
        r.values = {Trim(part.substr(pos + 2))};
      } else if ((pos = part.find('=')) != std::string::npos) {
        set_key(part.substr(0, pos));
        r.op = Requirement::Op::kEquals;
        r.values = {Trim(part.substr(pos + 1))};
      } else if ((pos = part.find(" notin ")) != std::string::npos ||
                 (pos = part.find(" in ")) != std::string::npos) {
        const bool notin = part.compare(pos, 7, " notin ") == 0;
        set_key(part.substr(0, pos));
        r.op = notin ? Requirement::Op::kNotIn : Requirement::Op::kIn;
        const size_t open = part.find('(', pos);
        const size_t close = part.rfind(')');
        for (auto v :
             SplitSkipEmpty(std::string_view(part).substr(open + 1, close - open - 1), ',')) {
          r.values.push_back(Trim(v));
        }
      } else {
        set_key(part);
        r.op = Requirement::Op::kExists;
      }
      selector.push_back(std::move(r));
    }
    m.selectors_.push_back(std::move(selector));
  }
  m.workloads_ = spec.workload;
  m.identities_ = spec.identity;
  m.clusters_ = spec.cluster_name;
  return m;
}

absl::Status ValidateLabelSelector(const std::string& text, const std::string& field) {
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) break;
  }
  if (depth != 0) {
    return absl::InvalidArgumentError(field + ": unbalanced parentheses in \"" + text + "\"");
  }
  for (const std::string& part : SplitRequirements(text)) {
    if (part.empty()) continue;
    std::string key = part;
    for (const char* op : {"!=", "==", "=", " notin ", " in "}) {
      const size_t pos = part.find(op);
      if (pos != std::string::npos) {
        key = part.substr(0, pos);
        break;
      }
    }
    key = Trim(key);
    if (!key.empty() && key[0] == '!') key = key.substr(1);
    if (!ValidKey(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": invalid label selector \"", text, "\""));
    }
  }
  return absl::OkStatus();
}

bool IdentityMatcher::RefMatches(const std::vector<NameRef>& refs, const std::string& ns,
                                 const std::string& name) {
  return std::any_of(refs.begin(), refs.end(), [&](const NameRef& ref) {
    if (!ref.ns.empty() && ref.ns != ns) return false;
    if (name.empty() && ns.empty()) return false;
    return name.compare(0, ref.name.size(), ref.name) == 0;
  });
}

bool IdentityMatcher::SelectorMatches(const Selector& selector,
                                      const std::vector<std::string>& labels) {
  for (const Requirement& r : selector) {
    // Values of the key across the label sources the requirement accepts.
    std::vector<std::string_view> values;
    for (const std::string& label : labels) {
      const size_t colon = label.find(':');
      const std::string_view source = colon == std::string::npos
                                          ? std::string_view()
                                          : std::string_view(label).substr(0, colon);
      const std::string_view kv = colon == std::string::npos
                                      ? std::string_view(label)
                                      : std::string_view(label).substr(colon + 1);
      const size_t eq = kv.find('=');
      const std::string_view key = eq == std::string::npos ? kv : kv.substr(0, eq);
      const std::string_view value =
          eq == std::string::npos ? std::string_view() : kv.substr(eq + 1);
      if (key != r.key) continue;
      if (!r.source.empty() && r.source != "any" && source != r.source) continue;
      values.push_back(value);
    }
    auto has = [&](const std::string& v) {
      return std::find(values.begin(), values.end(), v) != values.end();
    };
    auto has_any = [&]() { return std::any_of(r.values.begin(), r.values.end(), has); };
    switch (r.op) {
      case Requirement::Op::kExists:
        if (values.empty()) return false;
        break;
      case Requirement::Op::kNotExists:
        if (!values.empty()) return false;
        break;
      case Requirement::Op::kEquals:
      case Requirement::Op::kIn:
        if (!has_any()) return false;
        break;
      case Requirement::Op::kNotEquals:
      case Requirement::Op::kNotIn:
        if (has_any()) return false;
        break;
    }
  }
  return true;
}

bool IdentityMatcher::Matches(const PeerInfo* peer) const {
  if (empty_) return true;
  static const PeerInfo kUnknown;  // identity 0, no names: what a flow end without identity has
  if (peer == nullptr) peer = &kUnknown;
  const Endpoint& ep = peer->endpoint;
  if (!pods_.empty() &&
      (ep.pod_name.empty() || !RefMatches(pods_, ep.namespace_name, ep.pod_name))) {
    return false;
  }
  if (!services_.empty() && (peer->service_name.empty() ||
                             !RefMatches(services_, peer->service_namespace, peer->service_name))) {
    return false;
  }
  if (!fqdns_.empty() &&
      std::none_of(peer->names.begin(), peer->names.end(), [&](const std::string& name) {
        const std::string lower = AsciiLower(name);
        return std::any_of(fqdns_.begin(), fqdns_.end(),
                           [&](const auto& re) { return re2::RE2::FullMatch(lower, *re); });
      })) {
    return false;
  }
  if (!selectors_.empty() &&
      std::none_of(selectors_.begin(), selectors_.end(),
                   [&](const Selector& s) { return SelectorMatches(s, ep.labels); })) {
    return false;
  }
  if (!workloads_.empty() &&
      std::none_of(workloads_.begin(), workloads_.end(), [&](const Workload& want) {
        return std::any_of(ep.workloads.begin(), ep.workloads.end(), [&](const Workload& w) {
          return (want.name.empty() || want.name == w.name) &&
                 (want.kind.empty() || want.kind == w.kind);
        });
      })) {
    return false;
  }
  if (!identities_.empty() &&
      std::find(identities_.begin(), identities_.end(), ep.identity) == identities_.end()) {
    return false;
  }
  if (!clusters_.empty() &&
      std::find(clusters_.begin(), clusters_.end(), ep.cluster_name) == clusters_.end()) {
    return false;
  }
  return true;
}

}  // namespace loupe::flow
