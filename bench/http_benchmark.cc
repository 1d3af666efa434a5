// L7 engine benchmarks: HTTP/1 parse + stitch over recorded-style connection streams (one chunk
// per syscall, as the socket sensor delivers them), HPACK / HTTP/2 decoding, and turning a
// completed request into its two Hubble L7 flows. Targets (issue 4):
// HTTP/1 >= 1 GB/s and >= 2 M requests/s on one core. Counters: bytes_per_second (request +
// response bytes), items_per_second (completed requests, or decoded header fields for HPACK).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "src/protocols/common/interface.h"
#include "src/protocols/http1/http1_parser.h"
#include "src/protocols/http2/hpack.h"
#include "src/protocols/http2/http2_parser.h"
#include "src/protocols/http2/huffman.h"
#include "src/telemetry/request_flows.h"

namespace loupe::protocols {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Headers as a browser / HTTP client library sends them, and a typical JSON API response.
std::string Request(int i) {
  return "GET /api/v1/catalog/items/" + std::to_string(1000 + i % 500) +
         "?lang=en&page=2 HTTP/1.1\r\n"
         "Host: catalog.shop.svc.cluster.local:8080\r\n"
         "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0 Safari/537.36\r\n"
         "Accept: application/json, text/plain, */*\r\n"
         "Accept-Encoding: gzip, deflate, br\r\n"
         "Accept-Language: en-US,en;q=0.9\r\n"
         "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
         "Connection: keep-alive\r\n\r\n";
}

std::string Response(int i) {
  const std::string body(120 + (i % 7) * 40, 'j');
  return "HTTP/1.1 200 OK\r\n"
         "Server: nginx/1.22.1\r\n"
         "Date: Wed, 26 Nov 2025 12:00:00 GMT\r\n"
         "Content-Type: application/json; charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(body.size()) +
         "\r\n"
         "Connection: keep-alive\r\n"
         "Cache-Control: no-cache\r\n\r\n" +
         body;
}

struct Recorded {
  std::vector<std::string> requests;  // one chunk per syscall
  std::vector<std::string> responses;
  uint64_t bytes = 0;
  size_t exchanges = 0;
};

Recorded Record(int exchanges, int pipeline_depth) {
  Recorded r;
  for (int i = 0; i < exchanges; i += pipeline_depth) {
    std::string reqs;
    std::string resps;
    for (int j = i; j < i + pipeline_depth; ++j) {
      reqs += Request(j);
      resps += Response(j);
    }
    r.bytes += reqs.size() + resps.size();
    r.requests.push_back(std::move(reqs));
    r.responses.push_back(std::move(resps));
  }
  r.exchanges = static_cast<size_t>(exchanges);
  return r;
}

void RunHttp1(benchmark::State& state, const Recorded& rec) {
  std::vector<telemetry::Request> out;
  out.reserve(rec.exchanges);
  for (auto _ : state) {
    auto parser = http1::CreateHttp1Parser(ParserOptions{});
    uint64_t req_pos = 0;
    uint64_t resp_pos = 0;
    int64_t t = 0;
    for (size_t i = 0; i < rec.requests.size(); ++i) {
      StreamChunk c{req_pos, Bytes(rec.requests[i]), static_cast<uint32_t>(rec.requests[i].size()),
                    ++t};
      parser->OnRequestBytes(c);
      req_pos += rec.requests[i].size();
      StreamChunk r{resp_pos, Bytes(rec.responses[i]),
                    static_cast<uint32_t>(rec.responses[i].size()), ++t};
      parser->OnResponseBytes(r);
      resp_pos += rec.responses[i].size();
    }
    out.clear();
    parser->TakeRequests(&out);
    if (out.size() != rec.exchanges) state.SkipWithError("lost requests");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rec.bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rec.exchanges));
}

void BM_Http1ParseStitchKeepAlive(benchmark::State& state) {
  static const Recorded rec = Record(1000, 1);
  RunHttp1(state, rec);
}
BENCHMARK(BM_Http1ParseStitchKeepAlive);

void BM_Http1ParseStitchPipelined(benchmark::State& state) {
  static const Recorded rec = Record(1000, 10);
  RunHttp1(state, rec);
}
BENCHMARK(BM_Http1ParseStitchPipelined);

// A completed request as the ingest layer hands it on, turned into its REQUEST and RESPONSE L7
// flows (what the flow pipeline does for every request); the flows are dropped right away, as the
// flow buffer eventually does. items_per_second = requests.
void BM_RequestToFlows(benchmark::State& state) {
  telemetry::Request r;
  r.pid = 4242;
  r.role = telemetry::Role::kServer;
  flow::IpAddress::Parse("10.244.1.17", &r.local_ip);
  flow::IpAddress::Parse("10.244.2.9", &r.remote_ip);
  r.local_port = 8080;
  r.remote_port = 43122;
  r.protocol = telemetry::Protocol::kHttp1;
  r.method = "GET";
  r.path = "/api/v1/catalog/items/1042";
  r.version = "HTTP/1.1";
  r.host = "catalog.shop.svc.cluster.local:8080";
  r.status = 200;
  r.start_ns = 1'764'158'400'000'000'000;
  r.end_ns = r.start_ns + 183'000;
  for (auto _ : state) {
    flow::Flow request_flow;
    flow::Flow response_flow;
    telemetry::RequestToFlows(r, &request_flow, &response_flow);
    benchmark::DoNotOptimize(request_flow.l7.get());
    benchmark::DoNotOptimize(response_flow.l7.get());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RequestToFlows);

// gRPC-style request header blocks as Go's encoder emits them on a warm connection: the first
// block inserts path/authority/content-type/user-agent, the following ones reference them.
std::string Lit(uint8_t prefix, int name_index, const std::string& value, bool huffman) {
  std::string out(1, static_cast<char>(prefix | name_index));
  std::string v = value;
  if (huffman) {
    v.clear();
    http2::HuffmanEncode(value, &v);
  }
  out.push_back(static_cast<char>((huffman ? 0x80 : 0) | v.size()));
  return out + v;
}

void BM_Http2HpackDecode(benchmark::State& state) {
  const bool huffman = state.range(0) != 0;
  std::vector<std::string> blocks;
  // :method POST, :scheme http, :path, :authority, content-type, user-agent, te, grpc-timeout.
  blocks.push_back("\x83\x86" + Lit(0x40, 4, "/shop.Catalog/GetItem", huffman) +
                   Lit(0x40, 1, "catalog:50051", huffman) +
                   Lit(0x40, 31, "application/grpc", huffman) +
                   Lit(0x40, 58, "grpc-go/1.59.0", huffman) + "\x40\x02te" +
                   Lit(0, 0, "trailers", huffman).substr(1) +
                   std::string("\x00\x0cgrpc-timeout", 14) + Lit(0, 0, "998m", huffman).substr(1));
  // Warm: everything indexed but the timeout.
  const std::string warm = std::string("\x83\x86\xc2\xc1\xc0\xbf\xbe", 7) +
                           std::string("\x00\x0cgrpc-timeout", 14) +
                           Lit(0, 0, "997m", huffman).substr(1);
  for (int i = 0; i < 99; ++i) blocks.push_back(warm);
  std::vector<http2::HeaderField> fields;
  int64_t decoded = 0;
  uint64_t bytes = 0;
  for (const auto& b : blocks) bytes += b.size();
  for (auto _ : state) {
    http2::HpackDecoder decoder;
    for (const auto& b : blocks) {
      size_t count = 0;
      if (decoder.Decode(Bytes(b), &fields, &count) != ParseState::kSuccess) {
        state.SkipWithError("decode failed");
      }
      decoded += static_cast<int64_t>(count);
    }
    benchmark::DoNotOptimize(fields.data());
  }
  state.SetItemsProcessed(decoded);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Http2HpackDecode)->Arg(0)->Arg(1);

}  // namespace
}  // namespace loupe::protocols
