#include "src/export/otlp/trace_encoder.h"

#include <utility>
#include <vector>

#include "src/base/build_info.h"

namespace loupe::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

void SetValue(const tracing::AttributeValue& value, common::AnyValue* out) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    out->set_string_value(*s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    out->set_int_value(*i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    out->set_double_value(*d);
  } else if (const auto* b = std::get_if<bool>(&value)) {
    out->set_bool_value(*b);
  }
}

void EncodeSpan(const tracing::Span& s, trace::Span* out) {
  out->set_trace_id(s.trace_id.data(), s.trace_id.size());
  out->set_span_id(s.span_id.data(), s.span_id.size());
  if (s.has_parent()) out->set_parent_span_id(s.parent_span_id.data(), s.parent_span_id.size());
  out->set_name(s.name);
  out->set_kind(static_cast<trace::Span::SpanKind>(s.kind));
  out->set_start_time_unix_nano(static_cast<uint64_t>(s.start_ns));
  out->set_end_time_unix_nano(static_cast<uint64_t>(s.end_ns));
  auto* attributes = out->mutable_attributes();
  attributes->Reserve(static_cast<int>(s.attributes.size()));
  for (const auto& attribute : s.attributes) {
    common::KeyValue* kv = attributes->Add();
    kv->set_key(attribute.key.data(), attribute.key.size());
    SetValue(attribute.value, kv->mutable_value());
  }
  if (s.status != tracing::StatusCode::kUnset) {
    auto* status = out->mutable_status();
    status->set_code(static_cast<trace::Status::StatusCode>(s.status));
    if (!s.status_message.empty()) status->set_message(s.status_message);
  }
}

}  // namespace

void EncodeSpans(std::span<const tracing::Span> spans,
                 opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* out) {
  std::vector<std::pair<const tracing::Resource*, trace::ScopeSpans*>> groups;
  for (const auto& span : spans) {
    const tracing::Resource* resource = span.resource.get();
    trace::ScopeSpans* scope = nullptr;
    for (const auto& [r, s] : groups) {
      if (r == resource) {
        scope = s;
        break;
      }
    }
    if (scope == nullptr) {
      trace::ResourceSpans* rs = out->add_resource_spans();
      if (resource != nullptr) {
        for (const auto& entry : resource->entries()) {
          common::KeyValue* kv = rs->mutable_resource()->add_attributes();
          kv->set_key(entry.key);
          SetValue(entry.value, kv->mutable_value());
        }
      }
      scope = rs->add_scope_spans();
      scope->mutable_scope()->set_name("loupe");
      scope->mutable_scope()->set_version(kVersion);
      groups.emplace_back(resource, scope);
    }
    EncodeSpan(span, scope->add_spans());
  }
}

}  // namespace loupe::otlp
