// `loupe config print`: the effective configuration, one key per line with its source.
#pragma once

#include <string>

namespace loupe::cli {

// Returns the exit code: 0, or 2 when the configuration is invalid.
int RunConfigPrint(const std::string& config_path);

}  // namespace loupe::cli
