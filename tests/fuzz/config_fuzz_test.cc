// Fuzz target: the configuration loader (YAML from an operator is untrusted input). Any input must
// give either a Config or an InvalidArgument error: never a crash, hang or unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "src/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto config = loupe::config::Config::LoadFromString(text, "fuzz.yml", no_env);
  if (config.ok()) {
    // Every schema key must be readable with its declared type.
    for (const auto& spec : loupe::config::Schema()) (void)config->Get(spec.path);
  }
  return 0;
}
