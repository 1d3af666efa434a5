#include "src/cli/config_print.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace loupe::cli {
namespace {

TEST(ConfigReferenceTest, DocsMatchTheSchema) {
  std::ifstream in(std::string(LOUPE_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), RenderConfigReference())
      << "docs/configuration.md is out of date: run `build/loupe config reference > "
         "docs/configuration.md`";
}

TEST(ConfigReferenceTest, ListsEveryKeyWithItsEnvironmentVariables) {
  const std::string text = RenderConfigReference();
  EXPECT_NE(text.find("| `prometheus_export.port` | integer [1, 65535] | `9965` | "
                      "`LOUPE_PROMETHEUS_PORT`, `BEYLA_PROMETHEUS_PORT`"),
            std::string::npos);
  EXPECT_NE(text.find("`log_level` | one of debug, info, warn, error | `info`"), std::string::npos);
}

}  // namespace
}  // namespace loupe::cli
