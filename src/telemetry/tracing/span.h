// The span model: what one Request becomes on the trace side, before OTLP encoding. Plain data;
// built on an ingest shard, moved into the exporter's queue, read by the encoder.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loupe::tracing {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

// Same numbering as opentelemetry.proto.trace.v1.Span.SpanKind and Status.StatusCode.
enum class SpanKind : uint8_t { kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3 };
enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

// `key` must point at storage that outlives the span: span attributes use the string literals
// of the semantic conventions; resources own their keys (see Resource).
struct Attribute {
  std::string_view key;
  AttributeValue value;
};

// An OTLP resource: the attributes that identify the producer of a span (service.name,
// service.namespace, k8s.*, host.name, telemetry.sdk.*). Shared, immutable once built; spans of
// the same Resource object are grouped into one ResourceSpans.
class Resource {
 public:
  Resource() = default;
  void Add(std::string key, AttributeValue value);
  bool Has(std::string_view key) const;
  // Value of a string attribute, "" when absent.
  std::string_view GetString(std::string_view key) const;
  struct Entry {
    std::string key;
    AttributeValue value;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// Resource attributes that name Loupe as the telemetry SDK: telemetry.sdk.name="loupe",
// telemetry.sdk.language="cpp", telemetry.sdk.version=<version>, plus host.name when not empty.
void AddSdkAttributes(Resource* resource, std::string_view host_name);

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero for a root span
  uint8_t trace_flags = 0;  // W3C flags (bit 0: sampled)
  std::string name;
  SpanKind kind = SpanKind::kUnspecified;
  int64_t start_ns = 0;  // wall clock, ns since the epoch
  int64_t end_ns = 0;
  StatusCode status = StatusCode::kUnset;
  std::string status_message;
  std::vector<Attribute> attributes;
  std::shared_ptr<const Resource> resource;
  // The process and thread that made the request (not exported; used by the parent rule).
  uint32_t pid = 0;
  uint32_t tid = 0;

  bool has_parent() const;
};

}  // namespace loupe::tracing
