#include "src/cli/observe.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "observer/observer.grpc.pb.h"
#include "spdlog/spdlog.h"
#include "src/api/convert.h"
#include "src/api/observer_server.h"
#include "src/base/build_info.h"
#include "src/base/clock.h"
#include "src/cli/observe_filters.h"
#include "src/cli/observe_synthetic.h"
#include "src/cli/observe_time.h"
#include "src/cli/printer.h"
#include "src/cli/status.h"

namespace loupe::cli {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "loupe: %s\n", message.c_str());
  return 1;
}

std::chrono::system_clock::time_point Deadline(const std::string& duration, int64_t fallback_ns) {
  auto ns = ParseGoDurationNs(duration);
  return std::chrono::system_clock::now() + std::chrono::nanoseconds(ns.ok() ? *ns : fallback_ns);
}

// hubble's selectors (--first/--last/--all/--follow/--since/--until) into a GetFlows or
// GetAgentEvents request: --last 20 when none is given.
template <typename Request>
absl::Status SetSelectors(const SelectionOptions& o, Request* req) {
  if (o.first && o.follow)
    return absl::InvalidArgumentError("--first cannot be combined with --follow");
  if (o.first && o.last)
    return absl::InvalidArgumentError("--first cannot be combined with --last");
  if (o.all) {
    req->set_number(std::numeric_limits<uint64_t>::max());
  } else if (o.first) {
    req->set_number(*o.first);
    req->set_first(true);
  } else if (o.last) {
    req->set_number(*o.last);
  } else if (!o.follow && o.since.empty() && o.until.empty()) {
    req->set_number(20);
  }
  req->set_follow(o.follow);
  const int64_t now = RealClock::Get().NowRealtimeNs();
  for (const auto& [text, field] :
       {std::pair{o.since, req->mutable_since()}, std::pair{o.until, req->mutable_until()}}) {
    if (text.empty()) continue;
    auto t = ParseTimeArg(text, now);
    if (!t.ok()) return t.status();
    field->set_seconds(*t / 1'000'000'000);
    field->set_nanos(static_cast<int32_t>(*t % 1'000'000'000));
  }
  if (o.since.empty()) req->clear_since();
  if (o.until.empty()) req->clear_until();
  return absl::OkStatus();
}

absl::StatusOr<PrinterOptions> MakePrinterOptions(const SelectionOptions& o) {
  const std::string& time_format = o.time_format;
  auto format = ParseOutputFormat(o.output);
  if (!format.ok()) return format.status();
  if (!IsKnownTimeFormat(time_format)) {
    return absl::InvalidArgumentError(
        "invalid --time-format " + time_format +
        ": use StampMilli, Stamp, RFC3339, RFC3339Milli, RFC3339Micro, RFC3339Nano, RFC1123Z");
  }
  PrinterOptions popts;
  popts.format = *format;
  popts.node_name = o.print_node_name;
  popts.time_format = time_format;
  return popts;
}

// Runs one server-streaming Observer call (`open` starts it on the stub) and prints every
// response; with --follow each is flushed as it comes.
template <typename Response, typename Printer, typename Open>
int PrintStream(const SelectionOptions& o, const char* what, Open open, Printer& printer) {
  auto channel = Connect(o.conn);
  if (!channel.ok()) return Fail(std::string(channel.status().message()));
  auto stub = observer::Observer::NewStub(*channel);
  grpc::ClientContext ctx;
  auto reader = open(*stub, &ctx);
  Response resp;
  while (reader->Read(&resp)) {
    printer.Write(resp);
    if (o.follow) printer.Flush();
  }
  printer.Flush();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return Fail(std::string(what) + ": " + status.error_message() + " (code " +
                std::to_string(status.error_code()) + ")");
  }
  return 0;
}

}  // namespace

// Declared in status.h.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ConnectionOptions& conn) {
  if (conn.server.rfind("tls://", 0) == 0) {
    return absl::UnimplementedError("TLS servers (tls://) are not supported by loupe yet");
  }
  auto timeout = ParseGoDurationNs(conn.timeout);
  if (!timeout.ok()) return absl::InvalidArgumentError("invalid --timeout " + conn.timeout);
  std::string target = conn.server;
  if (target.rfind("http://", 0) == 0) target = target.substr(7);
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::nanoseconds(*timeout))) {
    return absl::UnavailableError("failed to connect to '" + conn.server +
                                  "': context deadline exceeded (is `loupe agent` running? "
                                  "set --server)");
  }
  return channel;
}

int RunObserve(const ObserveOptions& o) {
  auto filters = BuildFlowFilters(ExtractFilterFlags(o.raw_args));
  if (!filters.ok()) return Fail(std::string(filters.status().message()));
  for (const auto& json : o.allowlist) {
    flowpb::FlowFilter f;
    if (!google::protobuf::util::JsonStringToMessage(json, &f).ok()) {
      return Fail("invalid --allowlist filter: " + json);
    }
    filters->allowlist.push_back(std::move(f));
  }
  for (const auto& json : o.denylist) {
    flowpb::FlowFilter f;
    if (!google::protobuf::util::JsonStringToMessage(json, &f).ok()) {
      return Fail("invalid --denylist filter: " + json);
    }
    filters->denylist.push_back(std::move(f));
  }
  if (o.print_raw_filters) {
    std::cout << RawFiltersYaml(*filters);
    return 0;
  }

  observer::GetFlowsRequest req;
  if (absl::Status selected = SetSelectors(o, &req); !selected.ok()) {
    return Fail(std::string(selected.message()));
  }
  for (auto& f : filters->allowlist) *req.add_whitelist() = std::move(f);
  for (auto& f : filters->denylist) *req.add_blacklist() = std::move(f);

  auto popts = MakePrinterOptions(o);
  if (!popts.ok()) return Fail(std::string(popts.status().message()));
  popts->ip_translation = o.ip_translation && !o.numeric;
  FlowPrinter printer(*popts, std::cout, std::cerr);
  return PrintStream<observer::GetFlowsResponse>(
      o, "GetFlows",
      [&req](observer::Observer::Stub& stub, grpc::ClientContext* ctx) {
        return stub.GetFlows(ctx, req);
      },
      printer);
}

int RunAgentEvents(const AgentEventsOptions& o) {
  observer::GetAgentEventsRequest req;
  if (absl::Status selected = SetSelectors(o, &req); !selected.ok()) {
    return Fail(std::string(selected.message()));
  }
  auto popts = MakePrinterOptions(o);
  if (!popts.ok()) return Fail(std::string(popts.status().message()));
  AgentEventPrinter printer(*popts, std::cout);
  return PrintStream<observer::GetAgentEventsResponse>(
      o, "GetAgentEvents",
      [&req](observer::Observer::Stub& stub, grpc::ClientContext* ctx) {
        return stub.GetAgentEvents(ctx, req);
      },
      printer);
}

// One unary Observer call with the request timeout; prints its response.
template <typename Request, typename Response>
int RunObserverCall(const ConnectionOptions& conn, const char* what,
                    grpc::Status (observer::Observer::Stub::*call)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                    void (*print)(const Response&, const std::string&, std::ostream&),
                    const std::string& output) {
  auto channel = Connect(conn);
  if (!channel.ok()) return Fail(std::string(channel.status().message()));
  auto stub = observer::Observer::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(conn.request_timeout, 12'000'000'000));
  Response resp;
  const grpc::Status status = ((*stub).*call)(&ctx, Request(), &resp);
  if (!status.ok()) return Fail(std::string(what) + ": " + status.error_message());
  print(resp, output, std::cout);
  return 0;
}

int RunListNodes(const ConnectionOptions& conn, const std::string& output) {
  return RunObserverCall(conn, "GetNodes", &observer::Observer::Stub::GetNodes, &PrintNodes,
                         output);
}

int RunListNamespaces(const ConnectionOptions& conn, const std::string& output) {
  return RunObserverCall(conn, "GetNamespaces", &observer::Observer::Stub::GetNamespaces,
                         &PrintNamespaces, output);
}

int RunServeSynthetic(const ServeSyntheticOptions& o) {
  spdlog::set_level(spdlog::level::warn);  // stdout carries the port for the test harness
  flow::FlowBuffer buffer(o.capacity);
  AppendSyntheticFlows(buffer, RealClock::Get().NowRealtimeNs());
  flow::FilterContext fctx;
  fctx.node_name = o.node_name;
  fctx.interface_name = &api::InterfaceName;
  api::ServerInfo info;
  info.node_name = o.node_name;
  info.version = kVersion;
  api::ObserverServer server(buffer, info, fctx);
  std::vector<std::string> addresses = {o.listen};
  if (!o.unix_socket.empty()) addresses.push_back(o.unix_socket);
  if (auto s = server.Start(addresses); !s.ok()) return Fail(std::string(s.message()));
  std::printf("listening on %d\n", server.bound_ports().empty() ? 0 : server.bound_ports()[0]);
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "add") {
      buffer.Append(SyntheticFollowFlow(RealClock::Get().NowRealtimeNs()));
      std::printf("added\n");
      std::fflush(stdout);
    }
  }
  server.Stop();
  return 0;
}

ObserveCommands::ObserveCommands(CLI::App& app) {
  auto add_conn = [](CLI::App* cmd, ConnectionOptions* conn) {
    cmd->add_option("--server", conn->server,
                    "Address of the Observer API: host:port or unix:///path (default the local "
                    "agent, localhost:4244; a Loupe relay listens on 4245)")
        ->envname("LOUPE_SERVER");
    cmd->add_option("--timeout", conn->timeout, "Dial timeout (Go duration)");
    cmd->add_option("--request-timeout", conn->request_timeout, "Unary request timeout");
  };

  // The selectors and output options of `observe` and `observe agent-events`.
  auto add_selection = [](CLI::App* cmd, SelectionOptions* o, const char* what) {
    const std::string w = what;
    cmd->add_option("--last", o->last, "Get the last N " + w + " (default 20)");
    cmd->add_option("--first", o->first, "Get the first N " + w + " held");
    cmd->add_flag("--all", o->all, "Get all " + w + " held");
    cmd->add_flag("-f,--follow", o->follow, "Follow " + w + " output");
    cmd->add_option("--since", o->since,
                    w + " since this time: duration ago (3s, 1h43m) or absolute (StampMilli, "
                        "2006-01-02, RFC3339, RFC1123Z)");
    cmd->add_option("--until", o->until, w + " until this time (same formats as --since)");
    cmd->add_option("-o,--output", o->output, "compact, dict, json, jsonpb or table")
        ->check(CLI::IsMember({"compact", "dict", "json", "jsonpb", "table", "tab"}));
    cmd->add_flag("--print-node-name", o->print_node_name, "Print the node name");
    cmd->add_option("--time-format", o->time_format,
                    "StampMilli (default), Stamp, RFC3339, RFC3339Milli, RFC3339Micro, "
                    "RFC3339Nano, RFC1123Z");
  };

  observe_cmd_ =
      app.add_subcommand("observe", "Observe flows of an agent or relay (hubble observe)");
  ObserveOptions& o = observe_;
  add_conn(observe_cmd_, &o.conn);
  add_selection(observe_cmd_, &o, "flows");
  observe_cmd_->add_option("--color", o.color, "auto, always, never (Loupe never colours)")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  observe_cmd_->add_option("--ip-translation", o.ip_translation,
                           "Show ns/pod, ns/service or FQDNs instead of IP addresses");
  observe_cmd_->add_flag("--numeric", o.numeric, "Show addresses, not names");
  observe_cmd_->add_option("--allowlist", o.allowlist,
                           "Raw FlowFilter JSON to include (repeatable)");
  observe_cmd_->add_option("--denylist", o.denylist, "Raw FlowFilter JSON to exclude (repeatable)");
  observe_cmd_->add_flag("--print-raw-filters", o.print_raw_filters,
                         "Print the filters that would be sent, as YAML, and exit");
  // Filter flags: CLI11 validates and documents them; their order (which --not needs) is read
  // from the raw command line.
  for (const auto& spec : FilterFlagSpecs()) {
    std::string names = std::string("--") + spec.name;
    if (spec.short_name[0] != '\0') {
      names = absl::StrCat("-", spec.short_name, ",", names);
    }
    CLI::Option* opt = spec.takes_value ? observe_cmd_->add_option(names, spec.help)
                                        : observe_cmd_->add_flag(names, spec.help);
    opt->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group("Filters");
  }

  // `hubble observe flows ...` is `hubble observe ...`: its options are observe's.
  observe_cmd_->add_subcommand("flows", "Observe flows (the default; hubble observe flows)")
      ->fallthrough();
  agent_events_cmd_ = observe_cmd_->add_subcommand(
      "agent-events",
      "Observe agent events: start, and the Kubernetes endpoints (pods) and addresses of this "
      "node (hubble observe agent-events)");
  AgentEventsOptions& a = agent_events_;
  add_conn(agent_events_cmd_, &a.conn);
  add_selection(agent_events_cmd_, &a, "events");

  status_cmd_ = app.add_subcommand("status", "Health and flow-buffer status of an agent or relay");
  add_conn(status_cmd_, &status_conn_);
  status_cmd_->add_option("-o,--output", status_output_, "compact, dict, json, table")
      ->check(CLI::IsMember({"compact", "dict", "json", "jsonpb", "table"}));

  CLI::App* list = app.add_subcommand("list", "List objects of the Observer API");
  list->require_subcommand(1);
  list_nodes_cmd_ = list->add_subcommand("nodes", "List the nodes behind this server");
  add_conn(list_nodes_cmd_, &list_conn_);
  list_nodes_cmd_->add_option("-o,--output", list_output_, "table, wide or json")
      ->check(CLI::IsMember({"table", "wide", "json"}));
  list_namespaces_cmd_ = list->add_subcommand(
      "namespaces", "List the Kubernetes namespaces of flows in the last hour");
  add_conn(list_namespaces_cmd_, &list_conn_);
  list_namespaces_cmd_->add_option("-o,--output", list_output_, "table, wide or json")
      ->check(CLI::IsMember({"table", "wide", "json"}));

  CLI::App* debug = app.add_subcommand("debug", "")->group("");  // hidden: test helpers
  serve_synthetic_cmd_ = debug->add_subcommand(
      "serve-synthetic", "Test only: serve the synthetic flow set on the Observer API");
  serve_synthetic_cmd_->add_option("--listen", synthetic_.listen, "TCP listen address");
  serve_synthetic_cmd_->add_option("--unix-socket", synthetic_.unix_socket, "unix:///path");
  serve_synthetic_cmd_->add_option("--node-name", synthetic_.node_name, "Node name");
  serve_synthetic_cmd_->add_option("--capacity", synthetic_.capacity, "Flow buffer capacity");
}

std::optional<int> ObserveCommands::Run(int argc, char** argv) {
  if (agent_events_cmd_->parsed()) return RunAgentEvents(agent_events_);
  if (observe_cmd_->parsed()) {
    observe_.raw_args.assign(argv + 1, argv + argc);
    return RunObserve(observe_);
  }
  if (status_cmd_->parsed()) return RunStatus(status_conn_, status_output_);
  if (list_nodes_cmd_->parsed()) return RunListNodes(list_conn_, list_output_);
  if (list_namespaces_cmd_->parsed()) return RunListNamespaces(list_conn_, list_output_);
  if (serve_synthetic_cmd_->parsed()) return RunServeSynthetic(synthetic_);
  return std::nullopt;
}

}  // namespace loupe::cli
