// The effective configuration: schema defaults, overridden by a YAML file, overridden by
// environment variables. Every value remembers where it came from (for `loupe config print`).
// Immutable once loaded; safe to read from any thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/config/schema.h"

namespace loupe::config {

struct Setting {
  Value value;
  std::string source;  // "default", "file:<path>" or "env:<VAR>"
};

// Looks up an environment variable; returns nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

class Config {
 public:
  // Loads `yaml_path` (when non-empty) and applies `env`. Errors (InvalidArgument) name the key
  // and what is allowed; a missing or unreadable file is NotFound / InvalidArgument.
  static absl::StatusOr<Config> Load(const std::string& yaml_path, const EnvLookup& env);
  // Same, from YAML text (used by tests); `origin` names it in messages.
  static absl::StatusOr<Config> LoadFromString(const std::string& yaml_text,
                                               const std::string& origin, const EnvLookup& env);

  bool GetBool(const std::string& path) const;
  int64_t GetInt(const std::string& path) const;
  const std::string& GetString(const std::string& path) const;
  std::chrono::nanoseconds GetDuration(const std::string& path) const;
  const std::vector<std::string>& GetList(const std::string& path) const;
  const SelectorList& GetSelectors(const std::string& path) const;
  const Setting& Get(const std::string& path) const;

  const std::map<std::string, Setting>& settings() const { return settings_; }

 private:
  static absl::StatusOr<Config> Finish(std::map<std::string, Setting> settings,
                                       const EnvLookup& env);
  std::map<std::string, Setting> settings_;
};

}  // namespace loupe::config
