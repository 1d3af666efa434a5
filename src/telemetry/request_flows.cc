#include "src/telemetry/request_flows.h"

#include "absl/strings/str_cat.h"
#include "src/base/utf8.h"

namespace loupe::telemetry {
namespace {

std::string Url(const Request& r) {
  // Hubble's url is absolute: scheme://host/path.
  if (!r.host.empty()) return absl::StrCat("http://", r.host, r.path);
  const bool server = r.role == Role::kServer;
  return absl::StrCat("http://", server ? r.local_ip.ToString() : r.remote_ip.ToString(), ":",
                      server ? r.local_port : r.remote_port, r.path);
}

// The L7 records of both flows of one exchange in one allocation. Each flow's `l7` is an aliasing
// shared_ptr into it, so the block lives until both flows are gone. L7Info::http is a unique_ptr
// by contract; here it points at the HttpInfo next to it and is released before destruction so
// that it never deletes what it does not own (the pointees are const to every reader).
struct ExchangeL7 {
  flow::HttpInfo request_http;
  flow::HttpInfo response_http;
  flow::L7Info request;
  flow::L7Info response;

  ExchangeL7() {
    request.http.reset(&request_http);
    response.http.reset(&response_http);
  }
  ~ExchangeL7() {
    (void)request.http.release();
    (void)response.http.release();
  }
  ExchangeL7(const ExchangeL7&) = delete;
  ExchangeL7& operator=(const ExchangeL7&) = delete;
};

void FillCommon(const Request& r, bool response, flow::Flow* f) {
  // Client and server ends of the exchange.
  const bool server = r.role == Role::kServer;
  const flow::IpAddress& client_ip = server ? r.remote_ip : r.local_ip;
  const flow::IpAddress& server_ip = server ? r.local_ip : r.remote_ip;
  const uint16_t client_port = server ? r.remote_port : r.local_port;
  const uint16_t server_port = server ? r.local_port : r.remote_port;
  f->type = flow::FlowType::kL7;
  f->verdict = flow::Verdict::kForwarded;
  f->event_type = flow::EventType::kL7;
  f->l4 = flow::L4Protocol::kTcp;
  f->src_ip = response ? server_ip : client_ip;
  f->dst_ip = response ? client_ip : server_ip;
  f->src_port = response ? server_port : client_port;
  f->dst_port = response ? client_port : server_port;
  f->is_reply = response ? 1 : 0;
  // The observing endpoint is the traced process: a server receives (ingress), a client sends.
  f->direction = server ? flow::TrafficDirection::kIngress : flow::TrafficDirection::kEgress;
  f->pid = r.pid;
}

// "10.0.0.2:8080", "[fd00::2]:8080": an IPv6 address is bracketed, so the port can be split off.
std::string HostPort(const flow::IpAddress& ip, uint16_t port) {
  return ip.version == 6 ? absl::StrCat("[", ip.ToString(), "]:", port)
                         : absl::StrCat(ip.ToString(), ":", port);
}

}  // namespace

const char* ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHttp1:
      return "HTTP";
    case Protocol::kHttp2:
      return "HTTP2";
    case Protocol::kGrpc:
      return "GRPC";
    case Protocol::kUnknown:
      break;
  }
  return "UNKNOWN";
}

void RequestToFlows(const Request& r, flow::Flow* request_flow, flow::Flow* response_flow) {
  auto l7 = std::make_shared<ExchangeL7>();
  flow::HttpInfo& req_http = l7->request_http;
  flow::HttpInfo& resp_http = l7->response_http;
  resp_http.url = Url(r);
  req_http.url = resp_http.url;
  if (r.version.empty()) {
    req_http.protocol = "HTTP/1.1";
  } else {
    req_http.protocol = r.version;
  }
  resp_http.protocol = req_http.protocol;
  req_http.method = r.method;
  resp_http.method = r.method;
  resp_http.code = r.status;
  if (r.grpc_status >= 0)
    resp_http.headers.emplace_back("grpc-status", std::to_string(r.grpc_status));
  l7->request.type = flow::L7Type::kRequest;
  l7->response.type = flow::L7Type::kResponse;
  l7->response.latency_ns =
      r.end_ns > r.start_ns ? static_cast<uint64_t>(r.end_ns - r.start_ns) : 0;

  *request_flow = flow::Flow{};
  FillCommon(r, /*response=*/false, request_flow);
  request_flow->time_ns = r.start_ns;
  request_flow->l7 = std::shared_ptr<const flow::L7Info>(l7, &l7->request);

  *response_flow = flow::Flow{};
  FillCommon(r, /*response=*/true, response_flow);
  response_flow->time_ns = r.end_ns;
  const flow::L7Info* response_l7 = &l7->response;
  response_flow->l7 = std::shared_ptr<const flow::L7Info>(std::move(l7), response_l7);
}

std::string FormatRequestText(const Request& r) {
  // Beyla's text printer shape: start (duration) kind protocol method path status [peer]->[host]
  // pid=... comm=...
  return absl::StrCat(
      r.start_ns, " (", (r.end_ns - r.start_ns) / 1000, "us) ",
      r.role == Role::kServer   ? "SERVER"
      : r.role == Role::kClient ? "CLIENT"
                                : "UNKNOWN",
      " ", ProtocolName(r.protocol), " ", r.method, " ", r.path, " ", r.status,
      r.grpc_status >= 0 ? absl::StrCat(" grpc-status=", r.grpc_status) : std::string(), " [",
      r.remote_ip.ToString(), ":", r.remote_port, "]->[", r.local_ip.ToString(), ":", r.local_port,
      "] pid=", r.pid, " comm=", r.process, r.partial ? " partial" : "");
}

void AppendRequestJson(const Request& r, std::string* out) {
  // Keys in the order nlohmann::json's std::map wrote them (sorted), so the lines stay as before.
  const auto key = [out](std::string_view name) { out->append(",\"").append(name).append("\":"); };
  const auto text = [&](std::string_view name, std::string_view value) {
    key(name);
    AppendJsonString(value, out);
  };
  // A value as it is: a number, or the literal true / false.
  const auto raw = [&](std::string_view name, const absl::AlphaNum& value) {
    key(name);
    absl::StrAppend(out, value);
  };
  absl::StrAppend(out, "{\"duration_ns\":", r.end_ns - r.start_ns);
  raw("end_ns", r.end_ns);
  raw("grpc_status", r.grpc_status);
  text("host", r.host);
  text("local", HostPort(r.local_ip, r.local_port));
  text("method", r.method);
  text("parent_span_id", r.trace.parent_span_id);
  raw("partial", r.partial ? "true" : "false");
  text("path", r.path);
  raw("pid", r.pid);
  text("process", r.process);
  text("protocol", ProtocolName(r.protocol));
  text("remote", HostPort(r.remote_ip, r.remote_port));
  raw("request_body_bytes", r.request_body_bytes);
  raw("request_header_bytes", r.request_header_bytes);
  raw("response_body_bytes", r.response_body_bytes);
  raw("response_header_bytes", r.response_header_bytes);
  text("role", r.role == Role::kServer ? "server" : r.role == Role::kClient ? "client" : "unknown");
  raw("start_ns", r.start_ns);
  raw("status", r.status);
  raw("tid", r.tid);
  text("trace_id", r.trace.trace_id);
  text("version", r.version);
  out->push_back('}');
}

std::string FormatRequestJson(const Request& r) {
  std::string out;
  AppendRequestJson(r, &out);
  return out;
}

void AppendIndentedJson(std::string_view json, std::string* out) {
  int depth = 0;
  bool in_string = false;
  const auto newline = [out](int d) {
    out->push_back('\n');
    out->append(static_cast<size_t>(d), ' ');  // one space per level, as Beyla's json_indent
  };
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out->push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out->push_back(json[++i]);  // the escaped character, which may be a quote
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        out->push_back(c);
        break;
      case '{':
      case '[':
        out->push_back(c);
        if (i + 1 < json.size() && (json[i + 1] == '}' || json[i + 1] == ']')) {
          out->push_back(json[++i]);  // empty: {} or []
        } else {
          newline(++depth);
        }
        break;
      case '}':
      case ']':
        newline(--depth);
        out->push_back(c);
        break;
      case ',':
        out->push_back(c);
        newline(depth);
        break;
      case ':':
        out->append(": ");
        break;
      default:
        out->push_back(c);
    }
  }
}

void AppendRequestJsonIndented(const Request& request, std::string* out) {
  thread_local std::string line;
  line.clear();
  AppendRequestJson(request, &line);
  AppendIndentedJson(line, out);
}

}  // namespace loupe::telemetry
