// Fuzz target: Observer API flow filters (hubble observe's --http-path, --fqdn, --label, --ip,
// --port, ... arrive as a FlowFilter from any client that can reach the port). The input is one
// serialized flow.FlowFilter; it is converted, compiled as whitelist and blacklist, and matched
// against an L3/L4 flow, an HTTP flow with identities and a 60 KB URL (std::regex overflowed the
// stack on such a length; the filters now use RE2) and a DNS flow.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "src/api/convert.h"
#include "src/flow/filter.h"

namespace {

std::vector<loupe::flow::Flow> SampleFlows() {
  using loupe::flow::Flow;
  std::vector<Flow> flows(3);
  for (auto& f : flows) {
    loupe::flow::IpAddress::Parse("10.0.0.5", &f.src_ip);
    loupe::flow::IpAddress::Parse("fd00::7", &f.dst_ip);
    f.l4 = loupe::flow::L4Protocol::kTcp;
    f.src_port = 40000;
    f.dst_port = 80;
    f.tcp_flags = 0x12;
  }
  auto peer = std::make_shared<loupe::flow::PeerInfo>();
  peer->endpoint.namespace_name = "shop";
  peer->endpoint.pod_name = "web-7d4b9c-x1";
  peer->endpoint.labels = {"k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"};
  peer->endpoint.workloads = {{"web", "Deployment"}};
  peer->service_name = "web";
  peer->service_namespace = "shop";
  peer->names = {"web.shop.svc.cluster.local", "api.example.com"};
  flows[1].type = loupe::flow::FlowType::kL7;
  flows[1].src_info = peer;
  flows[1].dst_info = peer;
  auto http = std::make_shared<loupe::flow::L7Info>();
  http->type = loupe::flow::L7Type::kResponse;
  http->http = std::make_unique<loupe::flow::HttpInfo>();
  http->http->code = 503;
  http->http->method = "POST";
  http->http->url = "http://web/api/v1/orders/" + std::string(60000, 'x');
  http->http->protocol = "HTTP/1.1";
  flows[1].l7 = http;
  flows[2].type = loupe::flow::FlowType::kL7;
  flows[2].l4 = loupe::flow::L4Protocol::kUdp;
  flows[2].dst_port = 53;
  auto dns = std::make_shared<loupe::flow::L7Info>();
  dns->type = loupe::flow::L7Type::kRequest;
  dns->dns = std::make_unique<loupe::flow::DnsInfo>();
  dns->dns->query = "api.example.com.";
  dns->dns->qtypes = {"A"};
  flows[2].l7 = dns;
  return flows;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<loupe::flow::Flow> flows = SampleFlows();
  // Strings that are not UTF-8 make the parse fail with a log line each; keep the output readable.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  flowpb::FlowFilter proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto converted = loupe::api::FilterFromProto(proto);
  if (!converted.ok() || converted->never_matches) return 0;
  loupe::flow::FilterContext context;
  context.node_name = "node-1";
  for (int side = 0; side < 2; ++side) {
    std::vector<loupe::flow::FilterSpec> specs = {converted->spec};
    auto predicate = side == 0 ? loupe::flow::FlowPredicate::Compile(specs, {}, context)
                               : loupe::flow::FlowPredicate::Compile({}, specs, context);
    if (!predicate.ok()) return 0;
    for (const auto& flow : flows) (void)predicate->Matches(flow);
  }
  return 0;
}
