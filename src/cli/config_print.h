// `loupe config print`: the effective configuration, one key per line with its source.
#pragma once

#include <string>

namespace loupe::cli {

// Returns the exit code: 0, or 2 when the configuration is invalid.
int RunConfigPrint(const std::string& config_path);

// The configuration reference in Markdown, generated from the schema: docs/configuration.md is
// this text (a unit test keeps the two identical).
std::string RenderConfigReference();
// `loupe config reference`: prints RenderConfigReference(); returns 0.
int RunConfigReference();

}  // namespace loupe::cli
