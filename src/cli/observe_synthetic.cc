#include "src/cli/observe_synthetic.h"

#include <memory>
#include <utility>

namespace loupe::cli {
namespace {

using flow::Flow;

flow::IpAddress Ip(const char* text) {
  flow::IpAddress ip;
  flow::IpAddress::Parse(text, &ip);
  return ip;
}

Flow Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
         int8_t reply) {
  Flow f;
  f.type = flow::FlowType::kL3L4;
  f.verdict = flow::Verdict::kForwarded;
  f.event_type = flow::EventType::kTrace;
  f.is_reply = reply;
  f.src_ip = Ip(src);
  f.dst_ip = Ip(dst);
  f.l4 = flow::L4Protocol::kTcp;
  f.src_port = sport;
  f.dst_port = dport;
  f.tcp_flags = flags;
  f.ifindex = 1;
  f.has_ethernet = true;
  f.src_mac = {0x02, 0, 0, 0, 0, 0x01};
  f.dst_mac = {0x02, 0, 0, 0, 0, 0x02};
  if (reply == 1) {
    f.direction = flow::TrafficDirection::kIngress;
    f.observation_point = flow::ObservationPoint::kToEndpoint;
    f.event_subtype = 0;  // to-endpoint
  } else {
    f.direction = flow::TrafficDirection::kEgress;
    f.observation_point = flow::ObservationPoint::kFromEndpoint;
    f.event_subtype = 5;  // from-endpoint
  }
  return f;
}

Flow Dns(bool response, const char* query, uint32_t rcode) {
  Flow f;
  f.type = flow::FlowType::kL7;
  f.verdict = flow::Verdict::kForwarded;
  f.event_type = flow::EventType::kL7;
  f.l4 = flow::L4Protocol::kUdp;
  f.is_reply = response ? 1 : 0;
  f.src_ip = Ip(response ? "10.0.0.53" : "10.0.0.1");
  f.dst_ip = Ip(response ? "10.0.0.1" : "10.0.0.53");
  f.src_port = response ? 53 : 53000;
  f.dst_port = response ? 53000 : 53;
  f.direction = response ? flow::TrafficDirection::kIngress : flow::TrafficDirection::kEgress;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = response ? flow::L7Type::kResponse : flow::L7Type::kRequest;
  l7->dns = std::make_unique<flow::DnsInfo>();
  l7->dns->query = query;
  l7->dns->qtypes = {"A"};
  l7->dns->observation_source = "tc";
  l7->dns->rcode = rcode;
  if (response && rcode == 0) {
    l7->dns->ips = {"93.184.216.34"};
    l7->dns->rrtypes = {"A"};
    l7->dns->ttl = 30;
    l7->latency_ns = 1'500'000;
  }
  f.l7 = std::move(l7);
  return f;
}

Flow Icmp(bool v6, const char* src, const char* dst, uint8_t type, int8_t reply) {
  Flow f;
  f.verdict = flow::Verdict::kForwarded;
  f.event_type = flow::EventType::kTrace;
  f.event_subtype = 3;  // to-stack
  f.observation_point = flow::ObservationPoint::kToStack;
  f.is_reply = reply;
  f.src_ip = Ip(src);
  f.dst_ip = Ip(dst);
  f.l4 = v6 ? flow::L4Protocol::kIcmpv6 : flow::L4Protocol::kIcmpv4;
  f.icmp_type = type;
  f.direction = reply == 1 ? flow::TrafficDirection::kIngress : flow::TrafficDirection::kEgress;
  f.ifindex = 1;
  return f;
}

Flow Http(bool response) {
  Flow f;
  f.type = flow::FlowType::kL7;
  f.verdict = flow::Verdict::kForwarded;
  f.event_type = flow::EventType::kL7;
  f.l4 = flow::L4Protocol::kTcp;
  f.is_reply = response ? 1 : 0;
  f.src_ip = Ip(response ? "10.0.0.2" : "10.0.0.1");
  f.dst_ip = Ip(response ? "10.0.0.1" : "10.0.0.2");
  f.src_port = response ? 80 : 40002;
  f.dst_port = response ? 40002 : 80;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = response ? flow::L7Type::kResponse : flow::L7Type::kRequest;
  l7->http = std::make_unique<flow::HttpInfo>();
  l7->http->method = "GET";
  l7->http->url = "http://10.0.0.2/index.html";
  l7->http->protocol = "HTTP/1.1";
  if (response) {
    l7->http->code = 200;
    l7->latency_ns = 2'000'000;
  }
  f.l7 = std::move(l7);
  return f;
}

}  // namespace

void AppendSyntheticFlows(flow::FlowBuffer& buffer, int64_t now_ns) {
  using namespace flow;  // NOLINT(google-build-using-namespace): kTcp* constants
  std::vector<Flow> flows;
  flows.push_back(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, kTcpSyn, 0));            // 1
  flows.push_back(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, kTcpSyn | kTcpAck, 1));  // 2
  flows.push_back(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, kTcpAck, 0));            // 3
  flows.push_back(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, kTcpFin | kTcpAck, 0));  // 4
  Flow denied = Tcp("10.0.0.1", 40001, "10.0.0.3", 8080, kTcpSyn, -1);            // 5
  denied.verdict = Verdict::kDropped;
  denied.event_type = EventType::kDrop;
  denied.drop_reason = 133;
  denied.event_subtype = 133;
  denied.direction = TrafficDirection::kIngress;
  denied.observation_point = ObservationPoint::kUnknown;
  flows.push_back(denied);
  Flow no_socket = Tcp("10.0.0.1", 40003, "10.0.0.2", 9090, kTcpSyn, -1);  // 6
  no_socket.verdict = Verdict::kDropped;
  no_socket.event_type = EventType::kDrop;
  no_socket.event_subtype = 0;
  no_socket.kernel_reason = 3;
  no_socket.direction = TrafficDirection::kIngress;
  no_socket.observation_point = ObservationPoint::kUnknown;
  flows.push_back(no_socket);
  flows.push_back(Dns(false, "example.com.", 0));              // 7
  flows.push_back(Dns(true, "example.com.", 0));               // 8
  flows.push_back(Dns(true, "nope.example.", 3));              // 9
  flows.push_back(Icmp(false, "10.0.0.1", "10.0.0.2", 8, 0));  // 10
  flows.push_back(Icmp(false, "10.0.0.2", "10.0.0.1", 0, 1));  // 11
  flows.push_back(Icmp(true, "fd00::1", "fd00::2", 128, 0));   // 12
  Flow udp = Tcp("10.0.0.1", 5000, "10.0.0.9", 6000, 0, 0);    // 13
  udp.l4 = L4Protocol::kUdp;
  flows.push_back(udp);
  flows.push_back(Http(false));  // 14
  flows.push_back(Http(true));   // 15
  for (size_t i = 0; i < flows.size(); ++i) {
    flows[i].time_ns = now_ns - static_cast<int64_t>(flows.size() + 1 - (i + 1)) * 60'000'000'000;
    buffer.Append(std::move(flows[i]));
    if (i + 1 == 7) {
      LostEvent lost;
      lost.source = LostSource::kPerfEventRingBuffer;
      lost.num_events_lost = 5;
      lost.cpu = 1;
      buffer.AppendLost(lost);
    }
  }
}

flow::Flow SyntheticFollowFlow(int64_t now_ns) {
  Flow f = Tcp("10.9.9.9", 9999, "10.9.9.10", 53, 0, 0);
  f.l4 = flow::L4Protocol::kUdp;
  f.time_ns = now_ns;
  return f;
}

}  // namespace loupe::cli
