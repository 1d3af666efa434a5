// Span build + OTLP encode (Request -> Span -> ExportTraceServiceRequest -> wire bytes) on one
// core, and the ingest-side cost of the Tracer. docs/performance.md, "Traces and OTLP".
#include <benchmark/benchmark.h>

#include <vector>

#include "src/export/otlp/trace_encoder.h"
#include "src/telemetry/tracing/ids.h"
#include "src/telemetry/tracing/span_builder.h"
#include "src/telemetry/tracing/tracer.h"

namespace {

using loupe::telemetry::Request;

std::vector<Request> Requests(size_t n) {
  std::vector<Request> out(n);
  for (size_t i = 0; i < n; ++i) {
    Request& r = out[i];
    r.pid = 4242;
    r.tid = 0;
    r.role = i % 2 == 0 ? loupe::telemetry::Role::kServer : loupe::telemetry::Role::kClient;
    r.protocol = loupe::telemetry::Protocol::kHttp1;
    r.method = "GET";
    r.path = "/api/v1/items/" + std::to_string(i);
    r.host = "shop.prod.svc:8080";
    r.status = 200;
    r.start_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(i) * 1000;
    r.end_ns = r.start_ns + 250'000;
    loupe::flow::IpAddress::Parse("10.244.1.17", &r.local_ip);
    loupe::flow::IpAddress::Parse("10.244.2.33", &r.remote_ip);
    r.local_port = 8080;
    r.remote_port = 51234;
    r.response_body_bytes = 512;
  }
  return out;
}

std::shared_ptr<loupe::tracing::Resource> MakeResource() {
  auto r = std::make_shared<loupe::tracing::Resource>();
  r->Add("service.name", std::string("shop"));
  r->Add("service.namespace", std::string("prod"));
  r->Add("k8s.namespace.name", std::string("prod"));
  r->Add("k8s.pod.name", std::string("shop-7d9c8b6f5-x2x9k"));
  r->Add("k8s.node.name", std::string("node-1"));
  loupe::tracing::AddSdkAttributes(r.get(), "node-1");
  return r;
}

// Builds `batch` spans (ids, name, attributes), encodes them into one request and serializes it:
// everything the export thread and the tracer do per span except the network.
void BM_SpanBuildAndEncode(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const auto requests = Requests(batch);
  const auto resource = MakeResource();
  std::vector<loupe::tracing::Span> spans(batch);
  std::string wire;
  size_t bytes = 0;
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      loupe::tracing::Span& s = spans[i];
      loupe::tracing::BuildSpan(requests[i], "/api/v1/items/{id}", &s);
      s.trace_id = loupe::tracing::NewTraceId();
      s.span_id = loupe::tracing::NewSpanId();
      s.resource = resource;
    }
    // As the export thread does: one request object, cleared between batches.
    request.Clear();
    loupe::otlp::EncodeSpans(spans, &request);
    request.SerializeToString(&wire);
    bytes = wire.size();
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["bytes_per_span"] = static_cast<double>(bytes) / static_cast<double>(batch);
}
BENCHMARK(BM_SpanBuildAndEncode)->Arg(512)->Arg(4096);

// The ingest-side cost: Tracer::Process (build, ids, sampling) handing each span to a sink.
void BM_TracerProcess(benchmark::State& state) {
  const auto requests = Requests(4096);
  const auto resource = MakeResource();
  size_t sunk = 0;
  loupe::tracing::Tracer tracer(
      loupe::tracing::Sampler::Create("parentbased_traceidratio", "0.1").value(), {},
      [&](loupe::tracing::Span&&) { ++sunk; });
  for (auto _ : state) {
    for (const auto& r : requests) benchmark::DoNotOptimize(tracer.Process(r, "/x", resource));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * requests.size()));
  benchmark::DoNotOptimize(sunk);
}
BENCHMARK(BM_TracerProcess);

}  // namespace
