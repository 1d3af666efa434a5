#include "src/telemetry/tracing/span_builder.h"

#include <array>
#include <string>

namespace loupe::tracing {
namespace {

using telemetry::Protocol;
using telemetry::Request;
using telemetry::Role;

bool IsGrpcServerError(int32_t code) {
  switch (code) {
    case 2:   // UNKNOWN
    case 4:   // DEADLINE_EXCEEDED
    case 12:  // UNIMPLEMENTED
    case 13:  // INTERNAL
    case 14:  // UNAVAILABLE
    case 15:  // DATA_LOSS
      return true;
    default:
      return false;
  }
}

// Host header without a port ("example.com:8080" -> "example.com", "[::1]:80" -> "::1").
std::string_view HostWithoutPort(std::string_view host) {
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  const size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    return host.substr(0, colon);
  }
  return host;
}

void Add(Span* span, std::string_view key, AttributeValue value) {
  span->attributes.push_back({key, std::move(value)});
}

}  // namespace

std::string_view GrpcStatusName(int32_t code) {
  static constexpr std::array<std::string_view, 17> kNames = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int32_t>(kNames.size())) return {};
  return kNames[static_cast<size_t>(code)];
}

void BuildSpan(const Request& r, std::string_view route, Span* out) {
  const bool server = r.role == Role::kServer;
  const bool grpc = r.protocol == Protocol::kGrpc;
  out->kind = server ? SpanKind::kServer : SpanKind::kClient;
  out->start_ns = r.start_ns;
  out->end_ns = r.end_ns < r.start_ns ? r.start_ns : r.end_ns;
  out->pid = r.pid;
  out->tid = r.tid;
  out->attributes.clear();
  out->attributes.reserve(11);
  out->status = StatusCode::kUnset;
  out->status_message.clear();

  // Addresses are formatted only where an attribute needs them (snprintf is not free).
  auto local_ip = [&r] { return r.local_ip.version != 0 ? r.local_ip.ToString() : std::string(); };
  auto remote_ip = [&r] {
    return r.remote_ip.version != 0 ? r.remote_ip.ToString() : std::string();
  };
  const std::string_view host = HostWithoutPort(r.host);

  if (grpc) {
    out->name = r.path.empty() ? std::string("grpc") : r.path;
    std::string_view method = r.path;
    if (method.starts_with('/')) method.remove_prefix(1);
    Add(out, "rpc.system.name", std::string("grpc"));
    Add(out, "rpc.method", std::string(method));
    if (r.grpc_status >= 0) {
      Add(out, "rpc.response.status_code", std::string(GrpcStatusName(r.grpc_status)));
      const bool error = server ? IsGrpcServerError(r.grpc_status) : r.grpc_status != 0;
      if (error) {
        out->status = StatusCode::kError;
        out->status_message = std::string(GrpcStatusName(r.grpc_status));
        Add(out, "error.type", std::string(GrpcStatusName(r.grpc_status)));
      }
    } else if (r.status == 0 || (server ? r.status >= 500 : r.status >= 400)) {
      out->status = StatusCode::kError;
    }
  } else {
    out->name = r.method.empty() ? std::string("HTTP") : r.method;
    if (!route.empty()) {
      out->name.push_back(' ');
      out->name.append(route);
    }
    Add(out, "http.request.method", r.method);
    if (r.status != 0) Add(out, "http.response.status_code", static_cast<int64_t>(r.status));
    Add(out, "url.scheme", std::string("http"));
    const bool error = r.status == 0 || (server ? r.status >= 500 : r.status >= 400);
    if (error) {
      out->status = StatusCode::kError;
      Add(out, "error.type", r.status == 0 ? std::string("_OTHER") : std::to_string(r.status));
    }
    if (server) {
      Add(out, "url.path", r.path);
      if (!route.empty()) Add(out, "http.route", std::string(route));
    } else {
      std::string url = "http://";
      url.append(r.host.empty() ? remote_ip() : r.host);
      url.append(r.path.empty() ? "/" : r.path);
      Add(out, "url.full", std::move(url));
    }
    Add(out, "http.request.body.size", static_cast<int64_t>(r.request_body_bytes));
    Add(out, "http.response.body.size", static_cast<int64_t>(r.response_body_bytes));
  }
  if (server) {
    std::string client = remote_ip();
    if (!client.empty()) Add(out, "client.address", std::move(client));
    Add(out, "server.address", host.empty() ? local_ip() : std::string(host));
    Add(out, "server.port", static_cast<int64_t>(r.local_port));
  } else {
    Add(out, "server.address", host.empty() ? remote_ip() : std::string(host));
    Add(out, "server.port", static_cast<int64_t>(r.remote_port));
  }
}

}  // namespace loupe::tracing
