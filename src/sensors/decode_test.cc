#include "src/sensors/decode.h"

#include <linux/types.h>

#include <cstring>
#include <vector>

// clang-format off: the ABI headers need the __u* types first.
#include "bpf/intf/drops.h"
#include "bpf/intf/netflow.h"
#include "bpf/intf/tcp_lifecycle.h"
// clang-format on
#include "gtest/gtest.h"
#include "src/sensors/drop_reasons.h"
#include "src/sensors/netflow_sensor.h"

namespace loupe::sensors {
namespace {

template <typename T>
std::span<const uint8_t> Bytes(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof(v)};
}

loupe_packet_event TcpPacket() {
  loupe_packet_event ev{};
  ev.ts_ns = 1000;
  ev.packets = 3;
  ev.bytes = 300;
  ev.ifindex = 7;
  ev.ip_version = 4;
  const uint8_t s[4] = {10, 0, 0, 1}, d[4] = {10, 0, 0, 2};
  std::memcpy(ev.saddr, s, 4);
  std::memcpy(ev.daddr, d, 4);
  ev.sport = 40000;
  ev.dport = 80;
  ev.l4_proto = 6;
  ev.tcp_flags = 0x12;
  ev.direction = LOUPE_DIR_INGRESS;
  ev.is_reply = LOUPE_REPLY_YES;
  return ev;
}

TEST(DecodePacketEventTest, FillsTheFlowAndObservationPointByInterfaceKind) {
  const loupe_packet_event ev = TcpPacket();
  DecodedPacket d;
  ASSERT_TRUE(DecodePacketEvent(Bytes(ev), {.realtime_offset_ns = 5000, .netns = 42},
                                InterfaceKind::kVeth, &d));
  EXPECT_EQ(d.flow.time_ns, 6000);
  EXPECT_EQ(d.flow.src_ip.ToString(), "10.0.0.1");
  EXPECT_EQ(d.flow.dst_ip.ToString(), "10.0.0.2");
  EXPECT_EQ(d.flow.l4, flow::L4Protocol::kTcp);
  EXPECT_EQ(d.flow.tcp_flags, 0x12);
  EXPECT_EQ(d.flow.packets, 3u);
  EXPECT_EQ(d.flow.bytes, 300u);
  EXPECT_EQ(d.flow.is_reply, 1);
  EXPECT_EQ(d.flow.netns, 42u);
  EXPECT_EQ(d.flow.observation_point, flow::ObservationPoint::kFromEndpoint);
  EXPECT_EQ(d.flow.event_subtype, 5);
  EXPECT_EQ(d.flow.direction, flow::TrafficDirection::kEgress);
  EXPECT_FALSE(d.is_dns);

  ASSERT_TRUE(DecodePacketEvent(Bytes(ev), {}, InterfaceKind::kNetwork, &d));
  EXPECT_EQ(d.flow.observation_point, flow::ObservationPoint::kFromNetwork);
  EXPECT_EQ(d.flow.direction, flow::TrafficDirection::kIngress);
  EXPECT_EQ(d.flow.event_subtype, 10);
}

// Aggregated events carry running totals; the ledger reports each packet once per key and
// incarnation, in any order of events and flushes.
TEST(ReportLedgerTest, TurnsRunningTotalsIntoDeltasPerKey) {
  loupe_packet_event ev = TcpPacket();
  ev.ct_first_ns = 500;
  ReportLedger ledger;
  auto account = [&](const loupe_packet_event& e) {
    DecodedPacket d;
    EXPECT_TRUE(DecodePacketEvent(Bytes(e), {}, InterfaceKind::kNetwork, &d));
    ledger.Account(d.counters, &d.flow);
    return std::pair<uint64_t, uint64_t>{d.flow.packets, d.flow.bytes};
  };
  EXPECT_EQ(account(ev), (std::pair<uint64_t, uint64_t>{3, 300}));
  ev.packets = 5;
  ev.bytes = 520;
  EXPECT_EQ(account(ev), (std::pair<uint64_t, uint64_t>{2, 220}));
  ev.packets = 4;  // overtaken by the previous report
  ev.bytes = 400;
  EXPECT_EQ(account(ev), (std::pair<uint64_t, uint64_t>{0, 0}));
  // The other direction is another key.
  loupe_packet_event reverse = ev;
  reverse.direction = LOUPE_DIR_EGRESS;
  EXPECT_EQ(account(reverse), (std::pair<uint64_t, uint64_t>{4, 400}));
  EXPECT_EQ(ledger.size(), 2u);
  // ICMP echo is keyed by its identifier: two pings between the same hosts are two keys.
  loupe_packet_event ping = TcpPacket();
  ping.l4_proto = 1;
  ping.sport = ping.dport = 0;
  ping.ct_first_ns = 600;
  ping.icmp_echo_id = 7;
  ping.packets = 2;
  EXPECT_EQ(account(ping).first, 2u);
  ping.icmp_echo_id = 8;
  EXPECT_EQ(account(ping).first, 2u);
  EXPECT_EQ(ledger.size(), 4u);
  // Not aggregated (level none): the event's own counts.
  loupe_packet_event single = TcpPacket();
  single.packets = 1;
  single.bytes = 60;
  EXPECT_EQ(account(single), (std::pair<uint64_t, uint64_t>{1, 60}));
  EXPECT_EQ(account(single), (std::pair<uint64_t, uint64_t>{1, 60}));
  // A sweep that finds none of the keys forgets them all.
  ledger.BeginSweep();
  ledger.EndSweep();
  EXPECT_EQ(ledger.size(), 0u);
}

TEST(DecodePacketEventTest, DnsRecordsCarryTheirPayload) {
  loupe_dns_packet_event ev{};
  ev.ev = TcpPacket();
  ev.ev.payload_len = 3;
  ev.payload[0] = 'a';
  ev.payload[1] = 'b';
  ev.payload[2] = 'c';
  DecodedPacket d;
  ASSERT_TRUE(DecodePacketEvent(Bytes(ev), {}, InterfaceKind::kNetwork, &d));
  EXPECT_TRUE(d.is_dns);
  EXPECT_EQ(std::string(d.dns_payload.begin(), d.dns_payload.end()), "abc");
  ev.ev.payload_len = LOUPE_DNS_PAYLOAD_MAX + 1;
  EXPECT_FALSE(DecodePacketEvent(Bytes(ev), {}, InterfaceKind::kNetwork, &d));
}

TEST(DecodePacketEventTest, RejectsWrongSizesAndGarbage) {
  loupe_packet_event ev = TcpPacket();
  DecodedPacket d;
  std::vector<uint8_t> bytes(Bytes(ev).begin(), Bytes(ev).end());
  bytes.pop_back();
  EXPECT_FALSE(DecodePacketEvent(bytes, {}, InterfaceKind::kNetwork, &d));
  EXPECT_EQ(PacketEventIfindex(bytes), 0u);
  EXPECT_EQ(PacketEventIfindex(Bytes(ev)), 7u);
  ev.ip_version = 5;
  EXPECT_FALSE(DecodePacketEvent(Bytes(ev), {}, InterfaceKind::kNetwork, &d));
  ev = TcpPacket();
  ev.direction = 9;
  EXPECT_FALSE(DecodePacketEvent(Bytes(ev), {}, InterfaceKind::kNetwork, &d));
}

TEST(DecodeDropEventTest, MapsTheKernelReason) {
  const int no_socket = KernelDropReasonValue("NO_SOCKET");
  if (no_socket < 0) GTEST_SKIP() << "no kernel BTF";
  loupe_drop_event ev{};
  ev.reason = static_cast<__u32>(no_socket);
  ev.l34.ip_version = 4;
  ev.l34.l4_proto = 17;
  ev.l34.sport = 1;
  ev.l34.dport = 2;
  ev.len = 60;
  ev.netns = 99;
  flow::Flow f;
  ASSERT_TRUE(DecodeDropEvent(Bytes(ev), {}, &f));
  EXPECT_EQ(f.verdict, flow::Verdict::kDropped);
  EXPECT_EQ(f.event_type, flow::EventType::kDrop);
  EXPECT_EQ(f.kernel_reason, no_socket);
  EXPECT_EQ(f.drop_reason, 178u);
  EXPECT_EQ(f.l4, flow::L4Protocol::kUdp);
  EXPECT_EQ(f.dst_port, 2);
  EXPECT_EQ(f.bytes, 60u);
  EXPECT_EQ(f.netns, 99u);
}

TEST(DecodeTcpEventTest, DecodesAndRejectsUnknownKinds) {
  loupe_tcp_event ev{};
  ev.kind = LOUPE_TCP_CONNECTED;
  ev.latency_ns = 1234;
  ev.pid = 77;
  ev.ip_version = 6;
  ev.saddr[15] = 1;
  ev.sport = 5;
  TcpEvent out;
  ASSERT_TRUE(DecodeTcpEvent(Bytes(ev), {.realtime_offset_ns = 10}, &out));
  EXPECT_EQ(out.kind, TcpEvent::Kind::kConnected);
  EXPECT_EQ(out.latency_ns, 1234u);
  EXPECT_EQ(out.pid, 77u);
  EXPECT_EQ(out.src_ip.ToString(), "::1");
  EXPECT_EQ(out.comm, "");
  std::memcpy(ev.comm, "curl", 5);
  ASSERT_TRUE(DecodeTcpEvent(Bytes(ev), {}, &out));
  EXPECT_EQ(out.comm, "curl");
  std::memset(ev.comm, 'x', sizeof(ev.comm));  // 16 bytes, no NUL: all of them
  ASSERT_TRUE(DecodeTcpEvent(Bytes(ev), {}, &out));
  EXPECT_EQ(out.comm, std::string(16, 'x'));
  ev.kind = 200;
  EXPECT_FALSE(DecodeTcpEvent(Bytes(ev), {}, &out));
}

TEST(DropReasonsTest, NamesComeFromTheKernelAndMapOntoHubble) {
  if (KernelDropReasonValue("NO_SOCKET") < 0) GTEST_SKIP() << "no kernel BTF";
  const int netfilter = KernelDropReasonValue("NETFILTER_DROP");
  EXPECT_STREQ(KernelDropReasonName(static_cast<uint16_t>(netfilter)), "NETFILTER_DROP");
  EXPECT_EQ(HubbleDropReasonForKernel(static_cast<uint16_t>(netfilter)), 133u);
  EXPECT_STREQ(KernelDropReasonName(60000), "");
  EXPECT_EQ(HubbleDropReasonForKernelName("TCP_OFO_DROP"), 0u);
  EXPECT_EQ(HubbleDropReasonForKernelName("IP_RPFILTER"), 132u);
  for (const auto& name : NormalConsumptionReasonNames()) {
    EXPECT_GE(KernelDropReasonValue(name), 0) << name;
  }
}

TEST(AggregationTest, ParsesCiliumLevels) {
  EXPECT_EQ(ParseAggregationLevel("none"), AggregationLevel::kNone);
  EXPECT_EQ(ParseAggregationLevel("Low"), AggregationLevel::kLow);
  EXPECT_EQ(ParseAggregationLevel("medium"), AggregationLevel::kMedium);
  EXPECT_EQ(ParseAggregationLevel("maximum"), AggregationLevel::kHigh);
  EXPECT_EQ(ParseAggregationLevel("high"), AggregationLevel::kHigh);
  EXPECT_EQ(ParseAggregationLevel("loud"), std::nullopt);
}

}  // namespace
}  // namespace loupe::sensors
