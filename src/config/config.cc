#include "src/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/logging.h"
#include "src/base/status.h"

namespace loupe::config {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxIndent = 200;
constexpr int kMaxFlowDepth = 32;

std::string Where(const YAML::Node& node, const std::string& origin) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return origin;
  return absl::StrCat(origin, ":", mark.line + 1);
}

absl::Status UnknownKey(const std::string& path, const std::string& section,
                        const std::string& where) {
  const std::vector<std::string> allowed = ChildrenOf(section);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown configuration key '", path, "' (", where, "); allowed ",
                   section.empty() ? "top-level keys" : absl::StrCat("keys under '", section, "'"),
                   ": ", absl::StrJoin(allowed, ", ")));
}

absl::Status ParseSelectorList(const KeySpec& spec, const YAML::Node& node,
                               const std::string& origin, Value* out) {
  auto bad = [&](const YAML::Node& at, const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad value for '", spec.path, "' (", Where(at, origin), "): ", why));
  };
  if (!node.IsSequence()) return bad(node, "expected a list of selectors (- open_ports: 80)");
  SelectorList list;
  for (const auto& entry : node) {
    if (!entry.IsMap()) return bad(entry, "each selector must be a mapping of fields");
    Selector selector;
    for (const auto& field : entry) {
      const std::string name = field.first.Scalar();
      if (std::find(spec.allowed.begin(), spec.allowed.end(), name) == spec.allowed.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown configuration key '", spec.path, "[].", name, "' (",
                         Where(field.first, origin),
                         "); allowed selector fields: ", absl::StrJoin(spec.allowed, ", ")));
      }
      const YAML::Node& value = field.second;
      if (value.IsScalar()) {
        selector[name] = value.Scalar();
      } else if (value.IsMap()) {
        for (const auto& kv : value) {
          if (!kv.second.IsScalar())
            return bad(kv.second, absl::StrCat(name, " values must be strings"));
          selector[absl::StrCat(name, "/", kv.first.Scalar())] = kv.second.Scalar();
        }
      } else if (value.IsSequence()) {
        std::vector<std::string> items;
        for (const auto& item : value) {
          if (!item.IsScalar()) return bad(item, absl::StrCat(name, " items must be strings"));
          items.push_back(item.Scalar());
        }
        selector[name] = absl::StrJoin(items, ",");
      } else {
        selector[name] = "";
      }
      if (name == "open_ports" && !ParsePortRanges(selector[name], nullptr)) {
        return bad(value, absl::StrCat("open_ports '", selector[name],
                                       "' is not ports or ranges such as 80,443,8000-8999"));
      }
    }
    list.push_back(std::move(selector));
  }
  *out = std::move(list);
  return absl::OkStatus();
}

absl::Status ParseLeaf(const KeySpec& spec, const YAML::Node& node, const std::string& where,
                       Value* out) {
  if (spec.type == ValueType::kStringList) {
    if (node.IsScalar()) return ParseText(spec, node.Scalar(), out);
    if (!node.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat("bad value for '", spec.path, "' (", where,
                                                     "): expected a list of strings"));
    }
    std::vector<std::string> list;
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat("bad value for '", spec.path, "' (", where,
                                                       "): list items must be strings"));
      }
      list.push_back(item.Scalar());
    }
    *out = std::move(list);
    return absl::OkStatus();
  }
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad value for '", spec.path, "' (", where, "): expected a ", TypeName(spec.type),
        spec.type == ValueType::kEnum ? absl::StrCat(" ", absl::StrJoin(spec.allowed, ", ")) : "",
        ", got a ", node.IsSequence() ? "list" : "mapping"));
  }
  absl::Status status = ParseText(spec, node.Scalar(), out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(status.message(), " (", where, ")"));
  }
  return absl::OkStatus();
}

absl::Status Walk(const YAML::Node& node, const std::string& section, const std::string& origin,
                  std::map<std::string, Setting>* settings) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        section.empty() ? std::string("the configuration") : absl::StrCat("'", section, "'"), " (",
        Where(node, origin),
        ") must be a mapping with keys: ", absl::StrJoin(ChildrenOf(section), ", ")));
  }
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat("configuration keys must be strings (", Where(entry.first, origin), ")"));
    }
    const std::string key = entry.first.Scalar();
    const std::string path = section.empty() ? key : absl::StrCat(section, ".", key);
    const std::string where = Where(entry.first, origin);
    if (const KeySpec* spec = FindKey(path)) {
      if (entry.second.IsNull()) continue;  // `key:` with no value keeps the default
      Value value;
      if (spec->type == ValueType::kSelectorList) {
        RETURN_IF_ERROR(ParseSelectorList(*spec, entry.second, origin, &value));
      } else {
        RETURN_IF_ERROR(ParseLeaf(*spec, entry.second, where, &value));
      }
      (*settings)[path] = Setting{std::move(value), absl::StrCat("file:", origin)};
    } else if (IsSection(path)) {
      if (entry.second.IsNull()) continue;
      RETURN_IF_ERROR(Walk(entry.second, path, origin, settings));
    } else {
      return UnknownKey(path, section, where);
    }
  }
  return absl::OkStatus();
}

// yaml-cpp parses recursively: bound the input so a hostile file cannot exhaust the stack.
absl::Status CheckYamlLimits(const std::string& text, const std::string& origin) {
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is larger than ", kMaxConfigBytes,
                                                   " bytes; this is not a Loupe configuration"));
  }
  int depth = 0;
  int max_depth = 0;
  size_t indent = 0;
  bool line_start = true;
  for (char c : text) {
    if (line_start && c == ' ') {
      if (++indent > kMaxIndent) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, " nests deeper than ", kMaxIndent, " columns of indentation"));
      }
      continue;
    }
    line_start = c == '\n';
    if (line_start) indent = 0;
    if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
    if (c == ']' || c == '}') --depth;
  }
  if (max_depth > kMaxFlowDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " nests [ ] or { } deeper than ", kMaxFlowDepth, " levels"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> Config::Finish(std::map<std::string, Setting> settings,
                                      const EnvLookup& env) {
  for (const auto& spec : Schema()) {
    for (const auto& var : spec.env) {
      std::optional<std::string> text = env(var);
      if (!text.has_value()) continue;
      Value value;
      absl::Status status = ParseText(spec, *text, &value);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(status.message(), " (from environment variable ", var, ")"));
      }
      settings[spec.path] = Setting{std::move(value), absl::StrCat("env:", var)};
      break;  // the first variable set wins
    }
    if (!settings.contains(spec.path)) settings[spec.path] = Setting{spec.default_value, "default"};
  }
  Config config;
  config.settings_ = std::move(settings);
  return config;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Config> Config::LoadFromString(const std::string& yaml_text,
                                              const std::string& origin, const EnvLookup& env) {
  RETURN_IF_ERROR(CheckYamlLimits(yaml_text, origin));
  std::map<std::string, Setting> settings;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", origin, " as YAML: ", e.what()));
  }
  if (!root.IsNull()) RETURN_IF_ERROR(Walk(root, "", origin, &settings));
  return Finish(std::move(settings), env);
}

absl::StatusOr<Config> Config::Load(const std::string& yaml_path, const EnvLookup& env) {
  if (yaml_path.empty()) return Finish({}, env);
  std::ifstream in(yaml_path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read configuration file ", yaml_path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return LoadFromString(text.str(), yaml_path, env);
}

const Setting& Config::Get(const std::string& path) const {
  auto it = settings_.find(path);
  if (it == settings_.end()) {
    // A typo in our own code, not user input: every schema key has a setting after Load().
    LOG_ERROR("internal error: configuration key '{}' is not in the schema", path);
    std::abort();
  }
  return it->second;
}

bool Config::GetBool(const std::string& path) const { return std::get<bool>(Get(path).value); }
int64_t Config::GetInt(const std::string& path) const { return std::get<int64_t>(Get(path).value); }
const std::string& Config::GetString(const std::string& path) const {
  return std::get<std::string>(Get(path).value);
}
std::chrono::nanoseconds Config::GetDuration(const std::string& path) const {
  return std::get<std::chrono::nanoseconds>(Get(path).value);
}
const std::vector<std::string>& Config::GetList(const std::string& path) const {
  return std::get<std::vector<std::string>>(Get(path).value);
}
const SelectorList& Config::GetSelectors(const std::string& path) const {
  return std::get<SelectorList>(Get(path).value);
}

}  // namespace loupe::config
