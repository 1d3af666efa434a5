#include "src/cli/config_print.h"

#include <cstdio>

#include "src/config/config.h"

namespace loupe::cli {

int RunConfigPrint(const std::string& config_path) {
  auto config = config::Config::Load(config_path, config::ProcessEnv());
  if (!config.ok()) {
    std::fprintf(stderr, "invalid configuration: %s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  for (const auto& spec : config::Schema()) {
    const config::Setting& setting = config->Get(spec.path);
    std::printf("%-40s %-30s # %s\n", spec.path.c_str(), config::FormatValue(setting.value).c_str(),
                setting.source.c_str());
  }
  return 0;
}

}  // namespace loupe::cli
