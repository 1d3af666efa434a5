// The `loupe` binary: one entry point for the agent, the CLI and preflight.
#include <cstdio>
#include <exception>
#include <string>

#include "CLI/CLI.hpp"
#include "src/agent/agent.h"
#include "src/base/build_info.h"
#include "src/cli/config_print.h"
#include "src/cli/observe.h"
#include "src/cli/preflight.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"Loupe: network and application observability from one eBPF agent", "loupe"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(loupe::kVersion) + " (" + loupe::kGitCommit + ")");

  loupe::agent::AgentOptions agent_options;
  CLI::App* agent = app.add_subcommand("agent", "Run the per-node agent (sensors, metrics, API)");
  agent
      ->add_option("-c,--config", agent_options.config_path,
                   "YAML configuration file (Beyla-compatible; see docs/configuration.md)")
      ->envname("LOUPE_CONFIG");

  loupe::cli::PreflightOptions preflight_options;
  CLI::App* preflight =
      app.add_subcommand("preflight", "Check this kernel and these privileges for Loupe");
  preflight->add_option("-o,--output", preflight_options.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}));

  CLI::App* config_cmd = app.add_subcommand("config", "Inspect the configuration");
  config_cmd->require_subcommand(1);
  std::string print_config_path;
  CLI::App* config_print =
      config_cmd->add_subcommand("print", "Show the effective configuration and its sources");
  config_print->add_option("-c,--config", print_config_path, "YAML configuration file")
      ->envname("LOUPE_CONFIG");

  CLI::App* config_reference = config_cmd->add_subcommand(
      "reference", "Print the configuration reference (Markdown) generated from the schema");

  CLI::App* version = app.add_subcommand("version", "Print the version");

  loupe::cli::ObserveCommands observe_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (auto rc = observe_commands.Run(argc, argv)) return *rc;
  if (agent->parsed()) return loupe::agent::RunAgent(agent_options);
  if (preflight->parsed()) return loupe::cli::RunPreflight(preflight_options);
  if (config_print->parsed()) return loupe::cli::RunConfigPrint(print_config_path);
  if (config_reference->parsed()) return loupe::cli::RunConfigReference();
  if (version->parsed()) {
    std::printf("loupe %s (%s)\n", loupe::kVersion, loupe::kGitCommit);
    return 0;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // CLI11 and yaml-cpp report errors with exceptions; none may escape as a crash.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loupe: %s\n", e.what());
    return 1;
  }
}
