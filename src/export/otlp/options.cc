#include "src/export/otlp/options.h"

#include <charconv>
#include <cstdlib>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/telemetry/tracing/sampler.h"

namespace loupe::otlp {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        return absl::InvalidArgumentError("truncated percent escape");
      }
      const int hi = HexDigit(s[i + 1]);
      const int lo = HexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParseInt(std::string_view name, std::string_view text) {
  text = StripWhitespace(text);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < 0) {
    return absl::InvalidArgumentError(std::string(name) + "='" + std::string(text) +
                                      "' is not a non-negative integer");
  }
  return v;
}

absl::StatusOr<bool> ParseBool(std::string_view name, std::string_view text) {
  const std::string v = AsciiLower(StripWhitespace(text));
  if (v == "true") return true;
  if (v == "false") return false;
  return absl::InvalidArgumentError(std::string(name) + "='" + std::string(text) +
                                    "' is not true or false");
}

absl::StatusOr<Protocol> ParseProtocol(std::string_view name, std::string_view text) {
  const std::string v = AsciiLower(StripWhitespace(text));
  if (v == "grpc") return Protocol::kGrpc;
  if (v == "http/protobuf") return Protocol::kHttpProtobuf;
  return absl::InvalidArgumentError(std::string(name) + "='" + std::string(text) +
                                    "': supported protocols are grpc and http/protobuf");
}

// Applies the common (OTEL_EXPORTER_OTLP_X) then the signal (OTEL_EXPORTER_OTLP_TRACES_X)
// variables onto one endpoint.
absl::Status ApplyEndpointEnv(EndpointOptions* ep, std::string_view signal_upper,
                              const EnvLookup& env) {
  const std::string common = "OTEL_EXPORTER_OTLP_";
  const std::string specific = common + std::string(signal_upper) + "_";
  if (auto v = env(common + "ENDPOINT")) {
    ep->endpoint = *v;
    ep->append_signal_path = true;
  }
  if (auto v = env(specific + "ENDPOINT")) {
    ep->endpoint = *v;
    ep->append_signal_path = false;
  }
  for (const std::string& prefix : {common, specific}) {
    if (auto v = env(prefix + "PROTOCOL")) {
      ASSIGN_OR_RETURN(ep->protocol, ParseProtocol(prefix + "PROTOCOL", *v));
    }
    if (auto v = env(prefix + "HEADERS")) {
      auto headers = ParseHeaders(*v);
      if (!headers.ok()) {
        return absl::InvalidArgumentError(prefix +
                                          "HEADERS: " + std::string(headers.status().message()));
      }
      for (auto& [key, value] : *headers) {
        bool replaced = false;
        for (auto& existing : ep->headers) {
          if (AsciiLower(existing.first) == AsciiLower(key)) {
            existing.second = value;
            replaced = true;
          }
        }
        if (!replaced) ep->headers.emplace_back(key, value);
      }
    }
    if (auto v = env(prefix + "TIMEOUT")) {
      ASSIGN_OR_RETURN(int64_t ms, ParseInt(prefix + "TIMEOUT", *v));
      ep->timeout = std::chrono::milliseconds(ms);
    }
    if (auto v = env(prefix + "INSECURE")) {
      ASSIGN_OR_RETURN(ep->insecure, ParseBool(prefix + "INSECURE", *v));
    }
    if (auto v = env(prefix + "CERTIFICATE")) ep->ca_file = *v;
  }
  return absl::OkStatus();
}

struct ParsedUrl {
  std::string scheme;  // "" when absent
  std::string host_port;
  std::string path;  // "" or starting with '/'
};

absl::StatusOr<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl out;
  const size_t sep = url.find("://");
  if (sep != std::string_view::npos) {
    out.scheme = AsciiLower(url.substr(0, sep));
    url.remove_prefix(sep + 3);
  }
  const size_t slash = url.find('/');
  out.host_port = std::string(url.substr(0, slash));
  if (slash != std::string_view::npos) out.path = std::string(url.substr(slash));
  if (out.host_port.empty()) return absl::InvalidArgumentError("no host");
  if (!out.scheme.empty() && out.scheme != "http" && out.scheme != "https") {
    return absl::InvalidArgumentError("scheme must be http or https");
  }
  return out;
}

std::string_view PortOf(std::string_view host_port) {
  const size_t close = host_port.rfind(']');
  const size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos || (close != std::string_view::npos && colon < close)) {
    return {};
  }
  return host_port.substr(colon + 1);
}

}  // namespace

std::string_view SignalName(Signal signal) {
  return signal == Signal::kTraces ? "traces" : "metrics";
}

std::string_view ProtocolName(Protocol protocol) {
  return protocol == Protocol::kGrpc ? "grpc" : "http/protobuf";
}

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<Headers> ParseHeaders(std::string_view text) {
  Headers out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = StripWhitespace(text.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError("header '" + std::string(item) + "' has no '='");
    }
    const std::string_view key = StripWhitespace(item.substr(0, eq));
    if (key.empty()) return absl::InvalidArgumentError("header with an empty name");
    auto key_decoded = PercentDecode(key);
    auto value_decoded = PercentDecode(StripWhitespace(item.substr(eq + 1)));
    if (!key_decoded.ok() || !value_decoded.ok()) {
      return absl::InvalidArgumentError("header '" + std::string(item) +
                                        "' has a bad percent escape");
    }
    out.emplace_back(*key_decoded, *value_decoded);
  }
  return out;
}

absl::StatusOr<ResolvedEndpoint> ResolveEndpoint(const EndpointOptions& options, Signal signal) {
  auto url = ParseUrl(options.endpoint);
  if (!url.ok()) {
    return absl::InvalidArgumentError("OTLP " + std::string(SignalName(signal)) + " endpoint '" +
                                      options.endpoint +
                                      "': " + std::string(url.status().message()));
  }
  ResolvedEndpoint out;
  if (options.protocol) {
    out.protocol = *options.protocol;
  } else {
    out.protocol = PortOf(url->host_port) == "4317" ? Protocol::kGrpc : Protocol::kHttpProtobuf;
  }
  if (out.protocol == Protocol::kGrpc) {
    out.target = url->host_port;
    if (url->scheme == "http") {
      out.tls = false;
    } else if (url->scheme == "https") {
      out.tls = true;
    } else {
      out.tls = !options.insecure;
    }
    return out;
  }
  if (url->scheme.empty()) {
    return absl::InvalidArgumentError("OTLP " + std::string(SignalName(signal)) + " endpoint '" +
                                      options.endpoint +
                                      "': http/protobuf needs a URL (http:// or https://)");
  }
  out.tls = url->scheme == "https";
  std::string path = url->path;
  const std::string suffix = "v1/" + std::string(SignalName(signal));
  if (options.append_signal_path || path.empty() || path == "/") {
    if (path.empty() || path.back() != '/') path.push_back('/');
    path += suffix;
  }
  out.target = url->scheme + "://" + url->host_port + path;
  return out;
}

absl::Status ValidateOptions(const OtlpOptions& options) {
  auto sampler = tracing::Sampler::Create(options.sampler, options.sampler_arg);
  if (!sampler.ok()) return sampler.status();
  if (options.queue_size == 0) return absl::InvalidArgumentError("OTLP queue_size must be > 0");
  if (options.batch_size == 0) return absl::InvalidArgumentError("OTLP batch_size must be > 0");
  if (options.batch_size > options.queue_size) {
    return absl::InvalidArgumentError("OTLP batch_size (" + std::to_string(options.batch_size) +
                                      ") must not exceed queue_size (" +
                                      std::to_string(options.queue_size) + ")");
  }
  if (options.interval.count() <= 0) {
    return absl::InvalidArgumentError("OTLP metrics interval must be > 0");
  }
  if (options.backoff_initial.count() <= 0 || options.backoff_max < options.backoff_initial) {
    return absl::InvalidArgumentError(
        "OTLP backoff: initial interval must be > 0 and not above the max interval");
  }
  if (!options.traces.endpoint.empty()) {
    RETURN_IF_ERROR(ResolveEndpoint(options.traces, Signal::kTraces).status());
  }
  if (!options.metrics.endpoint.empty()) {
    RETURN_IF_ERROR(ResolveEndpoint(options.metrics, Signal::kMetrics).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<OtlpOptions> OtlpOptionsFromEnv(OtlpOptions base, const EnvLookup& env) {
  RETURN_IF_ERROR(ApplyEndpointEnv(&base.traces, "TRACES", env));
  RETURN_IF_ERROR(ApplyEndpointEnv(&base.metrics, "METRICS", env));
  if (auto v = env("OTEL_TRACES_SAMPLER")) base.sampler = *v;
  if (auto v = env("OTEL_TRACES_SAMPLER_ARG")) base.sampler_arg = *v;
  if (auto v = env("OTEL_BSP_MAX_QUEUE_SIZE")) {
    ASSIGN_OR_RETURN(int64_t n, ParseInt("OTEL_BSP_MAX_QUEUE_SIZE", *v));
    base.queue_size = static_cast<size_t>(n);
  }
  if (auto v = env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) {
    ASSIGN_OR_RETURN(int64_t n, ParseInt("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", *v));
    base.batch_size = static_cast<size_t>(n);
  }
  if (auto v = env("OTEL_BSP_SCHEDULE_DELAY")) {
    ASSIGN_OR_RETURN(int64_t ms, ParseInt("OTEL_BSP_SCHEDULE_DELAY", *v));
    base.batch_timeout = std::chrono::milliseconds(ms);
  }
  if (auto v = env("OTEL_METRIC_EXPORT_INTERVAL")) {
    ASSIGN_OR_RETURN(int64_t ms, ParseInt("OTEL_METRIC_EXPORT_INTERVAL", *v));
    base.interval = std::chrono::milliseconds(ms);
  }
  if (auto v = env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")) {
    const std::string t = AsciiLower(StripWhitespace(*v));
    if (t == "cumulative") {
      base.temporality = Temporality::kCumulative;
    } else if (t == "delta" || t == "lowmemory") {
      base.temporality = Temporality::kDelta;
    } else {
      return absl::InvalidArgumentError("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE='" + *v +
                                        "': use cumulative, delta or lowmemory");
    }
  }
  RETURN_IF_ERROR(ValidateOptions(base));
  return base;
}

}  // namespace loupe::otlp
