// Sending one OTLP export request: over gRPC (grpc++ stubs of the official services) or
// HTTP/protobuf (libcurl POST to /v1/traces, /v1/metrics). A Transport makes one attempt; the
// exporters decide about retries from the SendResult.
//
// Retryable (OTLP specification, "Failures"): gRPC CANCELLED, DEADLINE_EXCEEDED, ABORTED,
// OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS; HTTP 429, 502, 503, 504; connection failures and
// timeouts. Everything else is final (gRPC RESOURCE_EXHAUSTED too: Loupe does not read
// RetryInfo).
//
// Thread expectations: one thread per Transport (the exporter's).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/otlp/options.h"

namespace loupe::otlp {

using TraceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

struct SendResult {
  enum class Outcome : uint8_t { kOk, kRetryable, kFailed };
  Outcome outcome = Outcome::kFailed;
  std::string detail;                        // for logs: "UNAVAILABLE: ...", "HTTP 503"
  std::chrono::milliseconds retry_after{0};  // server's hint (HTTP Retry-After), 0 = none
  size_t bytes = 0;                          // serialized request size
};

SendResult::Outcome ClassifyHttpStatus(long status);
SendResult::Outcome ClassifyGrpcStatus(int code);

class Transport {
 public:
  virtual ~Transport() = default;
  virtual SendResult Send(const TraceRequest& request) = 0;
  virtual SendResult Send(const MetricsRequest& request) = 0;
};

// The transport for `signal` as `options` say (protocol, TLS, headers, timeout).
absl::StatusOr<std::unique_ptr<Transport>> MakeTransport(const EndpointOptions& options,
                                                         Signal signal);

}  // namespace loupe::otlp
