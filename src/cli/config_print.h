// `loupe config print`: the effective configuration, one key per line with its source.
#pragma once

#include <string>

#include "src/config/config.h"

namespace loupe::cli {

// Returns the exit code: 0, or 2 when the configuration is invalid.
int RunConfigPrint(const std::string& config_path);

// Every schema key, one per line: `key  value  # source`, where source is `default`,
// `file:<path>:<line>` or `env:<VARIABLE>`; values of secret keys (OTLP headers) are replaced by
// `<redacted>`. Then, as comments, what the agent derives from several keys (OTLP URL and
// protocol, sampler ratio, whether Beyla network metrics are on).
std::string RenderConfigPrint(const config::Config& config);

// The configuration reference in Markdown, generated from the schema: docs/configuration.md is
// this text (a unit test keeps the two identical).
std::string RenderConfigReference();
// `loupe config reference`: prints RenderConfigReference(); returns 0.
int RunConfigReference();

}  // namespace loupe::cli
