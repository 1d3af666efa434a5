// `loupe observe` (flows, agent-events), `loupe status`, `loupe list nodes|namespaces` (the hubble
// CLI against a Loupe agent or relay) and the test-only `loupe debug serve-synthetic`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace loupe::cli {

// Default server: the agent's own Observer API (hubble's default, 4245, is the relay's port).
inline constexpr const char kDefaultServer[] = "localhost:4244";

struct ConnectionOptions {
  std::string server = kDefaultServer;
  std::string timeout = "5s";           // dial timeout
  std::string request_timeout = "12s";  // unary calls
};

// The selectors and output options shared by `observe` (flows) and `observe agent-events`.
struct SelectionOptions {
  ConnectionOptions conn;
  std::optional<uint64_t> last;
  std::optional<uint64_t> first;
  bool all = false;
  bool follow = false;
  std::string since;
  std::string until;
  std::string output = "compact";
  bool print_node_name = false;
  std::string time_format = "StampMilli";
};

struct ObserveOptions : SelectionOptions {
  std::string color = "auto";
  bool ip_translation = true;
  bool numeric = false;
  std::vector<std::string> allowlist;
  std::vector<std::string> denylist;
  bool print_raw_filters = false;
  std::vector<std::string> raw_args;  // the command line, for the filter flags in order
};

int RunObserve(const ObserveOptions& options);

// `loupe observe agent-events`: the selectors and output options of `observe`, no filters.
using AgentEventsOptions = SelectionOptions;
int RunAgentEvents(const AgentEventsOptions& options);
int RunStatus(const ConnectionOptions& conn, const std::string& output);
int RunListNodes(const ConnectionOptions& conn, const std::string& output);

struct ServeSyntheticOptions {
  std::string listen = "127.0.0.1:0";
  std::string unix_socket;
  std::string node_name = "synthetic-node";
  size_t capacity = 4095;
};
// Serves the synthetic flow set; prints "listening on <port>" and then appends one more flow per
// "add" line read from stdin; exits at EOF.
int RunServeSynthetic(const ServeSyntheticOptions& options);

// Registers the subcommands above on `app`; Run() executes the one that was parsed.
class ObserveCommands {
 public:
  explicit ObserveCommands(CLI::App& app);
  // The exit code when one of these commands was parsed, nullopt otherwise.
  std::optional<int> Run(int argc, char** argv);

 private:
  ObserveOptions observe_;
  AgentEventsOptions agent_events_;
  ConnectionOptions status_conn_;
  std::string status_output_ = "compact";
  ConnectionOptions list_conn_;
  std::string list_output_ = "table";
  ServeSyntheticOptions synthetic_;
  CLI::App* observe_cmd_ = nullptr;
  CLI::App* agent_events_cmd_ = nullptr;
  CLI::App* status_cmd_ = nullptr;
  CLI::App* list_nodes_cmd_ = nullptr;
  CLI::App* list_namespaces_cmd_ = nullptr;
  CLI::App* serve_synthetic_cmd_ = nullptr;
};

}  // namespace loupe::cli
