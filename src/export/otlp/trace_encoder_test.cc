#include "src/export/otlp/trace_encoder.h"

#include <gtest/gtest.h>

#include <vector>

#include "src/telemetry/tracing/ids.h"

namespace loupe::otlp {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
namespace tr = opentelemetry::proto::trace::v1;

tracing::Span MakeSpan(std::shared_ptr<const tracing::Resource> resource, const char* name) {
  tracing::Span s;
  tracing::ParseTraceId("4bf92f3577b34da6a3ce929d0e0e4736", &s.trace_id);
  tracing::ParseSpanId("00f067aa0ba902b7", &s.span_id);
  s.name = name;
  s.kind = tracing::SpanKind::kServer;
  s.start_ns = 1'700'000'000'000'000'000;
  s.end_ns = s.start_ns + 1500;
  s.attributes.push_back({"http.request.method", std::string("GET")});
  s.attributes.push_back({"http.response.status_code", int64_t{503}});
  s.attributes.push_back({"ratio", 0.5});
  s.attributes.push_back({"flag", true});
  s.status = tracing::StatusCode::kError;
  s.status_message = "boom";
  s.resource = std::move(resource);
  return s;
}

TEST(TraceEncoderTest, FieldsAndGroupingByResource) {
  auto a = std::make_shared<tracing::Resource>();
  a->Add("service.name", std::string("a"));
  auto b = std::make_shared<tracing::Resource>();
  b->Add("service.name", std::string("b"));
  b->Add("k8s.pod.uid", int64_t{7});
  std::vector<tracing::Span> spans = {MakeSpan(a, "GET /x"), MakeSpan(b, "GET /y"),
                                      MakeSpan(a, "GET /z")};
  tracing::ParseSpanId("1111111111111111", &spans[2].parent_span_id);
  ExportTraceServiceRequest req;
  EncodeSpans(spans, &req);
  // Round trip through the wire format, as a receiver sees it.
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(req.SerializeAsString()));
  ASSERT_EQ(parsed.resource_spans_size(), 2);
  const auto& ra = parsed.resource_spans(0);
  ASSERT_EQ(ra.resource().attributes_size(), 1);
  EXPECT_EQ(ra.resource().attributes(0).key(), "service.name");
  EXPECT_EQ(ra.resource().attributes(0).value().string_value(), "a");
  ASSERT_EQ(ra.scope_spans_size(), 1);
  EXPECT_EQ(ra.scope_spans(0).scope().name(), "loupe");
  ASSERT_EQ(ra.scope_spans(0).spans_size(), 2);
  EXPECT_EQ(parsed.resource_spans(1).resource().attributes(1).value().int_value(), 7);
  const tr::Span& s0 = ra.scope_spans(0).spans(0);
  EXPECT_EQ(s0.name(), "GET /x");
  EXPECT_EQ(s0.kind(), tr::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(s0.trace_id(),
            std::string("\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36", 16));
  EXPECT_EQ(s0.span_id().size(), 8u);
  EXPECT_TRUE(s0.parent_span_id().empty());
  EXPECT_EQ(s0.start_time_unix_nano(), 1'700'000'000'000'000'000ULL);
  EXPECT_EQ(s0.end_time_unix_nano() - s0.start_time_unix_nano(), 1500u);
  EXPECT_EQ(s0.status().code(), tr::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s0.status().message(), "boom");
  ASSERT_EQ(s0.attributes_size(), 4);
  EXPECT_EQ(s0.attributes(0).value().string_value(), "GET");
  EXPECT_EQ(s0.attributes(1).value().int_value(), 503);
  EXPECT_EQ(s0.attributes(2).value().double_value(), 0.5);
  EXPECT_TRUE(s0.attributes(3).value().bool_value());
  EXPECT_EQ(ra.scope_spans(0).spans(1).parent_span_id(), std::string(8, '\x11'));
}

TEST(TraceEncoderTest, UnsetStatusIsOmitted) {
  auto s = MakeSpan(nullptr, "n");
  s.status = tracing::StatusCode::kUnset;
  ExportTraceServiceRequest req;
  EncodeSpans(std::span<const tracing::Span>(&s, 1), &req);
  ASSERT_EQ(req.resource_spans_size(), 1);
  EXPECT_FALSE(req.resource_spans(0).scope_spans(0).spans(0).has_status());
  EXPECT_EQ(req.resource_spans(0).resource().attributes_size(), 0);
}

}  // namespace
}  // namespace loupe::otlp
