// Everything the OTLP exporters need, and the standard OTEL_* environment variables on top of
// it. The integrator maps the config file (otel_traces_export / otel_metrics_export) onto
// OtlpOptions and then applies OtlpOptionsFromEnv, so environment variables win over the file
// (as in Beyla: defaults < YAML < environment).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe::otlp {

enum class Signal : uint8_t { kTraces, kMetrics };
enum class Protocol : uint8_t { kGrpc, kHttpProtobuf };
enum class Temporality : uint8_t { kCumulative, kDelta };

std::string_view SignalName(Signal signal);        // "traces", "metrics"
std::string_view ProtocolName(Protocol protocol);  // "grpc", "http/protobuf"

using Headers = std::vector<std::pair<std::string, std::string>>;

struct EndpointOptions {
  // "" disables the signal. gRPC: "http://host:4317", "https://host:4317" or "host:4317";
  // HTTP: "http(s)://host:4318[/path]".
  std::string endpoint;
  // When true the HTTP path /v1/traces (/v1/metrics) is appended to the endpoint (set for the
  // common OTEL_EXPORTER_OTLP_ENDPOINT); otherwise it is appended only when the URL has no path.
  bool append_signal_path = false;
  std::optional<Protocol> protocol;  // unset: port 4317 -> grpc, anything else http/protobuf
  Headers headers;
  std::chrono::milliseconds timeout{10'000};
  bool insecure = false;  // gRPC without a scheme: plaintext; HTTPS: skip verification
  std::string ca_file;    // PEM bundle to verify the collector with ("" = system roots)
};

struct OtlpOptions {
  EndpointOptions traces;
  EndpointOptions metrics;
  // Traces (defaults as Beyla's otel_traces_export).
  std::string sampler = "parentbased_always_on";
  std::string sampler_arg;
  size_t queue_size = 16384;  // spans waiting for export; past it new spans are dropped
  size_t batch_size = 4096;   // spans per export request
  std::chrono::milliseconds batch_timeout{15'000};  // a partial batch waits at most this long
  // Retries of retryable failures, exponential with jitter (collector defaults).
  std::chrono::milliseconds backoff_initial{5'000};
  std::chrono::milliseconds backoff_max{30'000};
  std::chrono::milliseconds backoff_max_elapsed{300'000};
  // Metrics.
  std::chrono::milliseconds interval{60'000};
  Temporality temporality = Temporality::kCumulative;
};

// Looks an environment variable up; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup ProcessEnv();

// Applies OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_}{ENDPOINT,PROTOCOL,HEADERS,TIMEOUT,INSECURE,
// CERTIFICATE}, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_{MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE,
// SCHEDULE_DELAY}, OTEL_METRIC_EXPORT_INTERVAL and
// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE over `base`: the signal-specific variable
// over the common one over `base`. Then validates the result. Errors name the variable or key.
absl::StatusOr<OtlpOptions> OtlpOptionsFromEnv(OtlpOptions base, const EnvLookup& env);

// Checks ranges and combinations (sampler, batch <= queue, endpoints parse, protocols).
absl::Status ValidateOptions(const OtlpOptions& options);

// Parses "k1=v1,k2=v2" (values percent-decoded; whitespace around keys and values trimmed).
absl::StatusOr<Headers> ParseHeaders(std::string_view text);

// Where a signal goes, resolved from EndpointOptions.
struct ResolvedEndpoint {
  Protocol protocol = Protocol::kHttpProtobuf;
  bool tls = false;
  std::string target;  // gRPC: "host:port"; HTTP: the full URL including /v1/<signal>
};
absl::StatusOr<ResolvedEndpoint> ResolveEndpoint(const EndpointOptions& options, Signal signal);

}  // namespace loupe::otlp
