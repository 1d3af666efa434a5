#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/tcp.h>  // tcp_info with tcpi_segs_out (glibc's is older)
#include <linux/types.h>
#include <net/if.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/netflow.h"
// clang-format on
#include "netflow.skel.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/bpf/ringbuf_reader.h"
#include "src/bpf/skeleton.h"
#include "src/metrics/registry.h"
#include "src/sensors/decode.h"
#include "src/sensors/netflow_sensor.h"
#include "src/sensors/ring_reader.h"
#include "tests/bpf/bpf_test_util.h"
#include "tests/bpf/netns_util.h"
#include "tests/bpf/recording_sink.h"

namespace loupe::sensors {
namespace {

using ::loupe::testing::Ipv4;
using ::loupe::testing::ListenInNetns;
using ::loupe::testing::LocalPort;
using ::loupe::testing::RecordingSink;
using ::loupe::testing::Shell;
using ::loupe::testing::VethPair;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr uint8_t kSyn = flow::kTcpSyn, kAck = flow::kTcpAck, kFin = flow::kTcpFin,
                  kPsh = flow::kTcpPsh;

// Crafted Ethernet frames. Checksums are not filled: the TC programs never check them.
struct Packet {
  std::vector<uint8_t> bytes;
};

std::vector<uint8_t> Ethernet(uint16_t proto) {
  std::vector<uint8_t> b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  b.push_back(proto >> 8);
  b.push_back(proto & 0xff);
  return b;
}

void Put16(std::vector<uint8_t>* b, uint16_t v) {
  b->push_back(v >> 8);
  b->push_back(v & 0xff);
}

// L4 header (+payload) for `proto`.
std::vector<uint8_t> L4(uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags,
                        const std::string& payload) {
  std::vector<uint8_t> b;
  if (proto == IPPROTO_TCP) {
    Put16(&b, sport);
    Put16(&b, dport);
    b.insert(b.end(), 8, 0);  // seq, ack
    b.push_back(5 << 4);      // data offset 20
    b.push_back(flags);
    b.insert(b.end(), 6, 0);
  } else if (proto == IPPROTO_UDP) {
    Put16(&b, sport);
    Put16(&b, dport);
    Put16(&b, static_cast<uint16_t>(8 + payload.size()));
    Put16(&b, 0);
  } else if (proto == IPPROTO_SCTP) {
    Put16(&b, sport);
    Put16(&b, dport);
    b.insert(b.end(), 8, 0);  // verification tag, checksum
  } else {                    // ICMP / ICMPv6: type in sport, code 0, echo id in dport
    b.push_back(static_cast<uint8_t>(sport));
    b.push_back(0);
    Put16(&b, 0);
    Put16(&b, dport);
    Put16(&b, 1);
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Packet V4(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport,
          uint8_t flags = 0, const std::string& payload = "") {
  Packet p{Ethernet(0x0800)};
  const std::vector<uint8_t> l4 = L4(proto, sport, dport, flags, payload);
  std::vector<uint8_t> ip = {0x45, 0};
  Put16(&ip, static_cast<uint16_t>(20 + l4.size()));
  ip.insert(ip.end(), {0, 0, 0x40, 0, 64, proto, 0, 0});
  ip.resize(20);
  inet_pton(AF_INET, src, ip.data() + 12);
  inet_pton(AF_INET, dst, ip.data() + 16);
  p.bytes.insert(p.bytes.end(), ip.begin(), ip.end());
  p.bytes.insert(p.bytes.end(), l4.begin(), l4.end());
  return p;
}

// IPv6, optionally behind a hop-by-hop options header.
Packet V6(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport,
          uint8_t flags = 0, bool hop_by_hop = false) {
  Packet p{Ethernet(0x86DD)};
  std::vector<uint8_t> l4 = L4(proto, sport, dport, flags, "");
  if (hop_by_hop) {
    std::vector<uint8_t> ext = {proto, 0, 0, 0, 0, 0, 0, 0};
    ext.insert(ext.end(), l4.begin(), l4.end());
    l4 = ext;
  }
  std::vector<uint8_t> ip = {0x60, 0, 0, 0};
  Put16(&ip, static_cast<uint16_t>(l4.size()));
  ip.push_back(hop_by_hop ? 0 : proto);
  ip.push_back(64);
  ip.resize(40);
  inet_pton(AF_INET6, src, ip.data() + 8);
  inet_pton(AF_INET6, dst, ip.data() + 24);
  p.bytes.insert(p.bytes.end(), ip.begin(), ip.end());
  p.bytes.insert(p.bytes.end(), l4.begin(), l4.end());
  return p;
}

// The netflow programs loaded with a given aggregation, driven by BPF_PROG_TEST_RUN.
class NetflowProgram {
 public:
  explicit NetflowProgram(AggregationLevel level, uint64_t interval_ns = 5'000'000'000ULL) {
    auto opened = bpf::Skeleton<struct netflow>::Open(LOUPE_SKELETON_OPS(netflow));
    EXPECT_TRUE(opened.ok());
    skel_ = std::move(opened).value();
    skel_->get()->rodata->aggregation_level = static_cast<__u8>(level);
    skel_->get()->rodata->monitor_interval_ns = interval_ns;
    const absl::Status loaded = skel_->Load();
    EXPECT_TRUE(loaded.ok()) << loaded.message();
    auto reader = bpf::RingBufReader::Create(
        bpf_map__fd(skel_->get()->maps.packet_events),
        [this](std::span<const uint8_t> rec) { records_.emplace_back(rec.begin(), rec.end()); });
    EXPECT_TRUE(reader.ok());
    reader_ = std::move(reader).value();
  }

  void Run(bool ingress, const Packet& p) {
    auto* prog = ingress ? skel_->get()->progs.tc__ingress : skel_->get()->progs.tc__egress;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.bytes.data(),
                .data_size_in = static_cast<__u32>(p.bytes.size()), .repeat = 1);
    ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
    EXPECT_EQ(static_cast<int>(opts.retval), -1);  // TC_ACT_UNSPEC: the packet is never touched
  }
  void Egress(const Packet& p) { Run(false, p); }
  void Ingress(const Packet& p) { Run(true, p); }

  // Decodes every event delivered so far, with counts since the previous event of the entry (as
  // the sensor reports them).
  std::vector<DecodedPacket> Events() {
    reader_->Drain();
    std::vector<DecodedPacket> out;
    ReportLedger ledger;
    for (const auto& rec : records_) {
      DecodedPacket d;
      EXPECT_TRUE(DecodePacketEvent(rec, DecodeContext{}, InterfaceKind::kNetwork, &d));
      ledger.Account(d.counters, &d.flow);
      out.push_back(std::move(d));
    }
    return out;
  }

  int ct_map_fd() const { return bpf_map__fd(skel_->get()->maps.flow_ct_map); }

 private:
  std::unique_ptr<bpf::Skeleton<struct netflow>> skel_;
  std::unique_ptr<bpf::RingBufReader> reader_;
  std::vector<std::vector<uint8_t>> records_;
};

std::vector<int> Flags(const std::vector<DecodedPacket>& events) {
  std::vector<int> out;
  for (const auto& e : events) out.push_back(e.flow.tcp_flags);
  return out;
}

// A client (10.0.0.1:40000) talks to a server (10.0.0.2:80), seen on the client's interface.
void TcpConversation(NetflowProgram& prog) {
  const char* c = "10.0.0.1";
  const char* s = "10.0.0.2";
  prog.Egress(V4(c, s, IPPROTO_TCP, 40000, 80, kSyn));
  prog.Ingress(V4(s, c, IPPROTO_TCP, 80, 40000, kSyn | kAck));
  prog.Egress(V4(c, s, IPPROTO_TCP, 40000, 80, kAck));
  prog.Egress(V4(c, s, IPPROTO_TCP, 40000, 80, kAck));
  prog.Egress(V4(c, s, IPPROTO_TCP, 40000, 80, kPsh | kAck, "GET / HTTP/1.1\r\n\r\n"));
  prog.Ingress(V4(s, c, IPPROTO_TCP, 80, 40000, kAck));
  prog.Ingress(V4(s, c, IPPROTO_TCP, 80, 40000, kPsh | kAck, "HTTP/1.1 200 OK\r\n\r\n"));
  prog.Egress(V4(c, s, IPPROTO_TCP, 40000, 80, kFin | kAck));
  prog.Ingress(V4(s, c, IPPROTO_TCP, 80, 40000, kFin | kAck));
  prog.Egress(V4(c, s, IPPROTO_TCP, 40000, 80, kAck));
}

TEST(NetflowProgramTest, MediumEmitsFirstSeenTcpFlagsPerDirection) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kMedium);
  TcpConversation(prog);
  const auto events = prog.Events();
  EXPECT_THAT(Flags(events), ElementsAre(kSyn, kSyn | kAck, kAck, kPsh | kAck, kPsh | kAck,
                                         kFin | kAck, kFin | kAck));
  // Counters: packets since the previous event of the same direction, this one included.
  std::vector<uint64_t> packets;
  std::vector<int> replies;
  for (const auto& e : events) {
    packets.push_back(e.flow.packets);
    replies.push_back(e.flow.is_reply);
  }
  EXPECT_THAT(packets, ElementsAre(1, 1, 1, 2, 2, 1, 1));
  EXPECT_THAT(replies, ElementsAre(0, 1, 0, 0, 1, 0, 1));
  // The client's PSH|ACK event stands for the second bare ACK (54 bytes) and itself.
  EXPECT_EQ(events[3].flow.bytes, 54u + 54u + 18u);
  const flow::Flow& syn = events[0].flow;
  EXPECT_EQ(syn.src_ip.ToString(), "10.0.0.1");
  EXPECT_EQ(syn.dst_ip.ToString(), "10.0.0.2");
  EXPECT_EQ(syn.src_port, 40000);
  EXPECT_EQ(syn.dst_port, 80);
  EXPECT_EQ(syn.l4, flow::L4Protocol::kTcp);
  EXPECT_EQ(syn.bytes, 54u);
  EXPECT_TRUE(syn.has_ethernet);
  EXPECT_EQ(syn.src_mac, (std::array<uint8_t, 6>{0x02, 0, 0, 0, 0, 0x01}));
  EXPECT_EQ(syn.dst_mac, (std::array<uint8_t, 6>{0x02, 0, 0, 0, 0, 0x02}));
  EXPECT_EQ(syn.type, flow::FlowType::kL3L4);
  EXPECT_EQ(syn.verdict, flow::Verdict::kForwarded);
  EXPECT_EQ(syn.event_type, flow::EventType::kTrace);
  EXPECT_EQ(syn.observation_point, flow::ObservationPoint::kToNetwork);
  EXPECT_EQ(syn.event_subtype, 11);
  EXPECT_EQ(syn.direction, flow::TrafficDirection::kEgress);
  EXPECT_EQ(events[1].flow.observation_point, flow::ObservationPoint::kFromNetwork);
  EXPECT_EQ(events[1].flow.ifindex, 1u);  // BPF_PROG_TEST_RUN runs on the loopback device
}

TEST(NetflowProgramTest, NoneEmitsEveryPacket) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kNone);
  TcpConversation(prog);
  const auto events = prog.Events();
  EXPECT_THAT(Flags(events), ElementsAre(kSyn, kSyn | kAck, kAck, kAck, kPsh | kAck, kAck,
                                         kPsh | kAck, kFin | kAck, kFin | kAck, kAck));
  for (const auto& e : events) EXPECT_EQ(e.flow.packets, 1u);
}

TEST(NetflowProgramTest, HighEmitsOnlyNewSynFinRst) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kHigh);
  TcpConversation(prog);
  EXPECT_THAT(Flags(prog.Events()), ElementsAre(kSyn, kSyn | kAck, kFin | kAck, kFin | kAck));
}

TEST(NetflowProgramTest, LowAlsoEmitsEveryControlPacket) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kLow);
  const Packet syn = V4("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40001, 80, kSyn);
  prog.Egress(syn);
  prog.Egress(syn);  // retransmitted SYN
  prog.Egress(V4("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40001, 80, kAck));
  prog.Egress(V4("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40001, 80, kAck));
  EXPECT_THAT(Flags(prog.Events()), ElementsAre(kSyn, kSyn, kAck));
  NetflowProgram medium(AggregationLevel::kMedium);
  medium.Egress(syn);
  medium.Egress(syn);
  EXPECT_THAT(Flags(medium.Events()), ElementsAre(kSyn));
}

TEST(NetflowProgramTest, UdpAndIcmpEmitTheFirstPacketOnly) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kMedium);
  for (int i = 0; i < 3; ++i) {
    prog.Egress(V4("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 5000, 6000, 0, "abc"));
    prog.Egress(V4("10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 8, 77));   // echo request, id 77
    prog.Ingress(V4("10.0.0.2", "10.0.0.1", IPPROTO_ICMP, 0, 77));  // echo reply
  }
  const auto events = prog.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].flow.l4, flow::L4Protocol::kUdp);
  EXPECT_EQ(events[0].flow.src_port, 5000);
  EXPECT_EQ(events[0].flow.dst_port, 6000);
  EXPECT_EQ(events[0].flow.is_reply, 0);
  EXPECT_EQ(events[1].flow.l4, flow::L4Protocol::kIcmpv4);
  EXPECT_EQ(events[1].flow.icmp_type, 8);
  EXPECT_EQ(events[1].flow.is_reply, 0);
  EXPECT_EQ(events[2].flow.icmp_type, 0);
  EXPECT_EQ(events[2].flow.is_reply, 1);
  // A reply to a UDP flow: its reverse entry exists, so it is the reply direction.
  prog.Ingress(V4("10.0.0.2", "10.0.0.1", IPPROTO_UDP, 6000, 5000, 0, "def"));
  const auto more = prog.Events();
  ASSERT_EQ(more.size(), 4u);
  EXPECT_EQ(more[3].flow.is_reply, 1);
}

TEST(NetflowProgramTest, IntervalReportsLongLivedFlowsWithCounters) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kMedium, /*interval_ns=*/50'000'000);
  const Packet udp = V4("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 5001, 6001, 0, "abcd");
  prog.Egress(udp);
  prog.Egress(udp);
  prog.Egress(udp);
  std::this_thread::sleep_for(60ms);
  prog.Egress(udp);
  const auto events = prog.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].flow.packets, 1u);
  EXPECT_EQ(events[1].flow.packets, 3u);
  EXPECT_EQ(events[1].flow.bytes, 3u * (14 + 20 + 8 + 4));
}

TEST(NetflowProgramTest, EveryDnsPacketCarriesItsPayload) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kMedium);
  const std::string query = std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) +
                            std::string(
                                "\x07"
                                "example\x03"
                                "com\x00\x00\x01\x00\x01",
                                17);
  const std::string answer = query + "answer-bytes";
  prog.Egress(V4("10.0.0.1", "10.0.0.53", IPPROTO_UDP, 33333, 53, 0, query));
  prog.Egress(V4("10.0.0.1", "10.0.0.53", IPPROTO_UDP, 33333, 53, 0, query));
  prog.Ingress(V4("10.0.0.53", "10.0.0.1", IPPROTO_UDP, 53, 33333, 0, answer));
  prog.Egress(V4("10.0.0.1", "10.0.0.53", IPPROTO_TCP, 44444, 53, kPsh | kAck,
                 std::string("\x00\x1d", 2) + query));
  prog.Egress(V4("10.0.0.1", "10.0.0.53", IPPROTO_TCP, 44444, 53, kPsh | kAck,
                 std::string("\x00\x1d", 2) + query));
  const std::string big(700, 'x');
  prog.Egress(V4("10.0.0.1", "10.0.0.53", IPPROTO_UDP, 33334, 53, 0, big));
  const auto events = prog.Events();
  ASSERT_EQ(events.size(), 6u);
  auto payload = [&](size_t i) {
    return std::string(events[i].dns_payload.begin(), events[i].dns_payload.end());
  };
  for (const auto& e : events) EXPECT_TRUE(e.is_dns);
  EXPECT_EQ(payload(0), query);
  EXPECT_EQ(payload(1), query);
  EXPECT_EQ(payload(2), answer);
  EXPECT_EQ(events[2].flow.is_reply, 1);
  EXPECT_EQ(payload(3), std::string("\x00\x1d", 2) + query);
  EXPECT_EQ(payload(4), std::string("\x00\x1d", 2) + query);
  EXPECT_EQ(payload(5), std::string(512, 'x'));  // truncated to LOUPE_DNS_PAYLOAD_MAX
  EXPECT_EQ(events[1].flow.packets, 1u);
}

TEST(NetflowProgramTest, Ipv6Icmpv6AndSctp) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kMedium);
  prog.Egress(V6("fd00::1", "fd00::2", IPPROTO_TCP, 40000, 443, kSyn));
  prog.Egress(V6("fd00::1", "fd00::2", IPPROTO_UDP, 7000, 7001, 0, /*hop_by_hop=*/true));
  prog.Egress(V6("fd00::1", "fd00::2", 58, 128, 9));   // ICMPv6 echo request
  prog.Ingress(V6("fd00::2", "fd00::1", 58, 129, 9));  // ICMPv6 echo reply
  prog.Egress(V4("10.0.0.1", "10.0.0.2", IPPROTO_SCTP, 2905, 2906));
  prog.Egress(V6("fd00::1", "fd00::2", IPPROTO_SCTP, 3868, 3869));
  const auto events = prog.Events();
  ASSERT_EQ(events.size(), 6u);
  const flow::Flow& tcp = events[0].flow;
  EXPECT_EQ(tcp.src_ip.version, 6);
  EXPECT_EQ(tcp.src_ip.ToString(), "fd00::1");
  EXPECT_EQ(tcp.dst_ip.ToString(), "fd00::2");
  EXPECT_EQ(tcp.dst_port, 443);
  EXPECT_EQ(tcp.tcp_flags, kSyn);
  EXPECT_EQ(events[1].flow.l4, flow::L4Protocol::kUdp);
  EXPECT_EQ(events[1].flow.src_port, 7000);
  EXPECT_EQ(events[1].flow.dst_port, 7001);
  EXPECT_EQ(events[2].flow.l4, flow::L4Protocol::kIcmpv6);
  EXPECT_EQ(events[2].flow.icmp_type, 128);
  EXPECT_EQ(events[2].flow.is_reply, 0);
  EXPECT_EQ(events[3].flow.icmp_type, 129);
  EXPECT_EQ(events[3].flow.is_reply, 1);
  EXPECT_EQ(events[4].flow.l4, flow::L4Protocol::kSctp);
  EXPECT_EQ(events[4].flow.src_port, 2905);
  EXPECT_EQ(events[4].flow.dst_port, 2906);
  EXPECT_EQ(events[5].flow.l4, flow::L4Protocol::kSctp);
  EXPECT_EQ(events[5].flow.dst_port, 3869);
}

TEST(NetflowProgramTest, NonIpPacketsAreNotReported) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kNone);
  Packet arp{Ethernet(0x0806)};
  arp.bytes.resize(42);
  prog.Egress(arp);
  EXPECT_TRUE(prog.Events().empty());
}

double SampleValue(const metrics::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.samples.empty()) return family.samples[0].value;
  }
  return -1;
}

std::string Qdiscs(const std::string& dev) {
  std::string out;
  Shell("tc qdisc show dev " + dev, &out);
  return out;
}

// Names of the programs attached to `dev` as tcx links in `direction` (BPF_PROG_QUERY; the
// packaged tc and bpftool predate tcx).
std::vector<std::string> TcxPrograms(const std::string& dev, bpf::TcDirection direction) {
  const int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
  std::vector<std::string> names;
  if (ifindex == 0) return names;
  __u32 ids[16] = {};
  __u32 count = 16;
  __u32 flags = 0;
  const int type = direction == bpf::TcDirection::kIngress ? 46 : 47;  // BPF_TCX_INGRESS/EGRESS
  if (bpf_prog_query(ifindex, static_cast<bpf_attach_type>(type), 0, &flags, ids, &count) != 0) {
    return names;
  }
  for (__u32 i = 0; i < count; ++i) {
    const int fd = bpf_prog_get_fd_by_id(ids[i]);
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) names.emplace_back(info.name);
    close(fd);
  }
  return names;
}

using Names = std::vector<std::string>;

TEST(NetflowBpfTest, PingThroughAVethGivesOneFlowPerDirectionAndCleansUp) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  metrics::Registry registry;
  RecordingSink sink;
  {
    NetflowSensor sensor({{veth.host_if()}, {}}, {}, sink, registry);
    ASSERT_TRUE(sensor.Start().ok());
    EXPECT_TRUE(sensor.up());
    EXPECT_EQ(sensor.attached_interfaces(), std::vector<std::string>{veth.host_if()});
    // tcx links (this kernel has them), no qdisc.
    EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kIngress), Names{"tc__ingress"});
    EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kEgress), Names{"tc__egress"});
    EXPECT_THAT(Qdiscs(veth.host_if()), Not(HasSubstr("clsact")));

    ASSERT_EQ(Shell("ping -c 3 -i 0.2 -W 1 " + veth.peer_ip()), 0);
    auto icmp = [&](const RecordingSink& s) {
      std::vector<flow::Flow> out;
      for (const auto& f : s.flows_locked()) {
        if (f.l4 == flow::L4Protocol::kIcmpv4) out.push_back(f);
      }
      return out;
    };
    ASSERT_TRUE(sink.WaitFor([&](const RecordingSink& s) { return icmp(s).size() >= 2; }, 2s));
    std::this_thread::sleep_for(100ms);
    std::vector<flow::Flow> flows;
    for (const auto& f : sink.flows()) {
      if (f.l4 == flow::L4Protocol::kIcmpv4) flows.push_back(f);
    }
    ASSERT_EQ(flows.size(), 2u);
    // The echo request leaves the host towards the endpoint behind the veth...
    EXPECT_EQ(flows[0].icmp_type, 8);
    EXPECT_EQ(flows[0].src_ip.ToString(), veth.host_ip());
    EXPECT_EQ(flows[0].observation_point, flow::ObservationPoint::kToEndpoint);
    EXPECT_EQ(flows[0].event_subtype, 0);
    EXPECT_EQ(flows[0].direction, flow::TrafficDirection::kIngress);
    EXPECT_EQ(flows[0].is_reply, 0);
    EXPECT_EQ(flows[0].packets, 1u);
    EXPECT_EQ(flows[0].bytes, 98u);
    // ...and the reply comes from it.
    EXPECT_EQ(flows[1].icmp_type, 0);
    EXPECT_EQ(flows[1].observation_point, flow::ObservationPoint::kFromEndpoint);
    EXPECT_EQ(flows[1].direction, flow::TrafficDirection::kEgress);
    EXPECT_EQ(flows[1].is_reply, 1);
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    EXPECT_NEAR(static_cast<double>(flows[1].time_ns), static_cast<double>(now), 2e9);
    EXPECT_GT(flows[0].netns, 0u);
    EXPECT_EQ(SampleValue(registry, "loupe_bpf_events_lost_total"), 0);
    EXPECT_EQ(SampleValue(registry, "loupe_netflow_interfaces"), 1);
    sensor.Stop();
    EXPECT_FALSE(sensor.up());
  }
  EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kIngress), Names{});
  EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kEgress), Names{});
}

// Before Linux 6.6 (forced here): clsact filters, on a qdisc the sensor creates and removes.
TEST(NetflowBpfTest, ClsactFiltersComeAndGoWithTheirQdisc) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  metrics::Registry registry;
  DiscardingFlowSink discard;
  {
    NetflowSensor sensor({{veth.host_if()}, {}, bpf::TcHook::kClsact}, {}, discard, registry);
    ASSERT_TRUE(sensor.Start().ok());
    EXPECT_THAT(Qdiscs(veth.host_if()), HasSubstr("clsact"));
    std::string filters;
    Shell("tc filter show dev " + veth.host_if() + " ingress; tc filter show dev " +
              veth.host_if() + " egress",
          &filters);
    EXPECT_THAT(filters, HasSubstr("tc__ingress"));
    EXPECT_THAT(filters, HasSubstr("tc__egress"));
    EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kIngress), Names{});
  }
  // The sensor created the clsact qdisc, so it removed it.
  EXPECT_THAT(Qdiscs(veth.host_if()), Not(HasSubstr("clsact")));
}

// A killed agent leaves nothing attached: the tcx links die with the process that holds them
// (clsact filters would stay and keep running). The sensor runs in a child that is SIGKILLed.
TEST(NetflowBpfTest, TcxLinksGoWithAKilledOwner) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    metrics::Registry registry;
    DiscardingFlowSink discard;
    NetflowSensor sensor({{veth.host_if()}, {}}, {}, discard, registry);
    const char ok = sensor.Start().ok() ? '1' : '0';
    (void)!write(ready[1], &ok, 1);
    for (;;) pause();
  }
  close(ready[1]);
  char ok = 0;
  const bool got = read(ready[0], &ok, 1) == 1;
  close(ready[0]);
  const Names ingress = TcxPrograms(veth.host_if(), bpf::TcDirection::kIngress);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(got && ok == '1') << "the child's sensor did not start";
  EXPECT_EQ(ingress, Names{"tc__ingress"});
  // The kernel releases the links as the process's files close.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((!TcxPrograms(veth.host_if(), bpf::TcDirection::kIngress).empty() ||
          !TcxPrograms(veth.host_if(), bpf::TcDirection::kEgress).empty()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kIngress), Names{});
  EXPECT_EQ(TcxPrograms(veth.host_if(), bpf::TcDirection::kEgress), Names{});
  EXPECT_THAT(Qdiscs(veth.host_if()), Not(HasSubstr("clsact")));
  std::string filters;
  Shell("tc filter show dev " + veth.host_if() + " ingress", &filters);
  EXPECT_EQ(filters, "");
}

TEST(NetflowBpfTest, FollowsInterfacesAddedAndRemovedAfterStart) {
  LOUPE_REQUIRE_ROOT();
  const std::string id = std::to_string(getpid() % 100000);
  const std::string a = "lpfa" + id, b = "lpfb" + id;
  struct Cleanup {
    std::string dev;
    ~Cleanup() { Shell("ip link del " + dev + " 2>/dev/null"); }
  } cleanup{a};
  metrics::Registry registry;
  RecordingSink sink;
  NetflowSensor sensor({{"lpf*"}, {}}, {}, sink, registry);
  ASSERT_TRUE(sensor.Start().ok());
  EXPECT_TRUE(sensor.attached_interfaces().empty());

  const auto created = std::chrono::steady_clock::now();
  ASSERT_EQ(Shell("ip link add " + a + " type veth peer name " + b), 0);
  std::vector<std::string> want = {a, b};
  std::sort(want.begin(), want.end());
  while (sensor.attached_interfaces() != want && std::chrono::steady_clock::now() - created < 2s) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - created, 1s);
  EXPECT_EQ(sensor.attached_interfaces(), want);
  EXPECT_EQ(TcxPrograms(a, bpf::TcDirection::kIngress), Names{"tc__ingress"});
  EXPECT_EQ(TcxPrograms(b, bpf::TcDirection::kEgress), Names{"tc__egress"});

  const auto deleted = std::chrono::steady_clock::now();
  ASSERT_EQ(Shell("ip link del " + a), 0);  // removes the peer too
  while (!sensor.attached_interfaces().empty() && std::chrono::steady_clock::now() - deleted < 2s) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - deleted, 1s);
  EXPECT_TRUE(sensor.attached_interfaces().empty());
  EXPECT_EQ(sensor.status_detail(), "");
  EXPECT_TRUE(sensor.up());
}

// Before Linux 6.6 (forced here), a clsact qdisc that was there before stays, without our filters.
TEST(NetflowBpfTest, KeepsAQdiscItDidNotCreate) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  ASSERT_EQ(Shell("tc qdisc add dev " + veth.host_if() + " clsact"), 0);
  metrics::Registry registry;
  DiscardingFlowSink discard;
  {
    NetflowSensor sensor({{veth.host_if()}, {}, bpf::TcHook::kClsact}, {}, discard, registry);
    ASSERT_TRUE(sensor.Start().ok());
    std::string filters;
    Shell("tc filter show dev " + veth.host_if() + " ingress", &filters);
    EXPECT_THAT(filters, HasSubstr("tc__ingress"));
  }
  EXPECT_THAT(Qdiscs(veth.host_if()), HasSubstr("clsact"));
  std::string filters;
  Shell("tc filter show dev " + veth.host_if() + " ingress; tc filter show dev " + veth.host_if() +
            " egress",
        &filters);
  EXPECT_EQ(filters, "");
}

TEST(NetflowBpfTest, ExcludedInterfacesAreNotTouched) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  metrics::Registry registry;
  DiscardingFlowSink discard;
  NetflowSensor sensor({{veth.host_if()}, {"lpth*"}}, {}, discard, registry);
  // Nothing selected is not an error: there is nothing to observe yet.
  ASSERT_TRUE(sensor.Start().ok());
  EXPECT_TRUE(sensor.attached_interfaces().empty());
  EXPECT_THAT(Qdiscs(veth.host_if()), Not(HasSubstr("clsact")));
}

// A namespace joined by a veth pair that carries nothing but the test's traffic: IPv6 is off on
// both ends before they come up (no MLD/ND/RS) and the neighbours are static (no ARP).
class QuietVethPair {
 public:
  QuietVethPair() {
    const std::string id = std::to_string(getpid() % 100000);
    ns_ = "lpq" + id;
    host_ = "lpqh" + id;
    peer_ = "lpqp" + id;
    const std::string host_mac = "02:4c:50:00:00:01", peer_mac = "02:4c:50:00:00:02";
    ok_ = Shell("ip netns add " + ns_) == 0 &&
          Shell("ip link add " + host_ + " address " + host_mac + " type veth peer name " + peer_ +
                " address " + peer_mac + " netns " + ns_) == 0 &&
          Shell("sysctl -qw net.ipv6.conf." + host_ + ".disable_ipv6=1") == 0 &&
          Shell("ip netns exec " + ns_ + " sysctl -qw net.ipv6.conf." + peer_ +
                ".disable_ipv6=1") == 0 &&
          Shell("ip addr add " + host_ip() + "/30 dev " + host_) == 0 &&
          Shell("ip -n " + ns_ + " addr add " + peer_ip() + "/30 dev " + peer_) == 0 &&
          Shell("ip neigh replace " + peer_ip() + " lladdr " + peer_mac + " dev " + host_ +
                " nud permanent") == 0 &&
          Shell("ip -n " + ns_ + " neigh replace " + host_ip() + " lladdr " + host_mac + " dev " +
                peer_ + " nud permanent") == 0 &&
          Shell("ip link set " + host_ + " up") == 0 &&
          Shell("ip -n " + ns_ + " link set " + peer_ + " up") == 0;
  }
  ~QuietVethPair() {
    Shell("ip link del " + host_ + " 2>/dev/null");
    Shell("ip netns del " + ns_ + " 2>/dev/null");
  }
  bool ok() const { return ok_; }
  const std::string& ns() const { return ns_; }
  const std::string& host_if() const { return host_; }
  std::string host_ip() const { return "198.19.251.1"; }
  std::string peer_ip() const { return "198.19.251.2"; }

 private:
  std::string ns_, host_, peer_;
  bool ok_ = false;
};

struct LinkCounters {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
};

// The interface's own counters, as `ip -s -j link` shows them.
LinkCounters ReadLinkCounters(const std::string& dev) {
  std::string out;
  EXPECT_EQ(Shell("ip -s -j link show dev " + dev, &out), 0) << out;
  const auto json = nlohmann::json::parse(out, nullptr, false);
  LinkCounters c;
  if (!json.is_array() || json.empty() || !json[0].contains("stats64")) {
    ADD_FAILURE() << "unexpected `ip -s -j link` output: " << out;
    return c;
  }
  const auto& stats = json[0]["stats64"];
  c.rx_packets = stats["rx"]["packets"].get<uint64_t>();
  c.rx_bytes = stats["rx"]["bytes"].get<uint64_t>();
  c.tx_packets = stats["tx"]["packets"].get<uint64_t>();
  c.tx_bytes = stats["tx"]["bytes"].get<uint64_t>();
  return c;
}

LinkCounters Delta(const LinkCounters& after, const LinkCounters& before) {
  return {after.rx_packets - before.rx_packets, after.rx_bytes - before.rx_bytes,
          after.tx_packets - before.tx_packets, after.tx_bytes - before.tx_bytes};
}

// Sums of the flows of one TCP connection per observation point of the host veth: egress of the
// host end (TO_ENDPOINT) is the interface's tx, ingress (FROM_ENDPOINT) its rx.
LinkCounters FlowSums(const std::vector<flow::Flow>& flows, uint16_t client_port) {
  LinkCounters sums;
  for (const flow::Flow& f : flows) {
    if (f.l4 != flow::L4Protocol::kTcp) continue;
    if (f.src_port != client_port && f.dst_port != client_port) continue;
    if (f.observation_point == flow::ObservationPoint::kToEndpoint) {
      sums.tx_packets += f.packets;
      sums.tx_bytes += f.bytes;
    } else if (f.observation_point == flow::ObservationPoint::kFromEndpoint) {
      sums.rx_packets += f.packets;
      sums.rx_bytes += f.bytes;
    }
  }
  return sums;
}

// A TCP connection from the root namespace to a server in the pair's namespace: `rounds` requests
// of `size` bytes, each echoed, then an orderly close from the client. Returns the client's view
// of the segments it sent and received (tcp_info), its local port in *client_port.
struct ExchangeResult {
  uint16_t client_port = 0;
  uint64_t segs_out = 0, segs_in = 0;
};

ExchangeResult TcpExchange(const QuietVethPair& veth, int rounds, size_t size) {
  ExchangeResult result;
  const int listener = ListenInNetns(veth.ns(), veth.peer_ip(), 0);
  EXPECT_GE(listener, 0);
  if (listener < 0) return result;
  std::thread server([listener] {
    const int conn = accept(listener, nullptr, nullptr);
    std::vector<char> buf(65536);
    for (;;) {
      const ssize_t n = read(conn, buf.data(), buf.size());
      if (n <= 0) break;
      if (write(conn, buf.data(), static_cast<size_t>(n)) != n) break;
    }
    close(conn);
  });
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Ipv4(veth.peer_ip(), LocalPort(listener));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  result.client_port = LocalPort(fd);
  const std::string request(size, 'q');
  std::vector<char> buf(size);
  for (int i = 0; i < rounds; ++i) {
    EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(size));
    size_t got = 0;
    while (got < size) {
      const ssize_t n = read(fd, buf.data() + got, size - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    EXPECT_EQ(got, size);
  }
  shutdown(fd, SHUT_WR);
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);  // the server's FIN
  server.join();
  close(listener);
  // The ACK of the server's FIN leaves with the FIN's processing; wait until tcp_info says so.
  tcp_info info{};
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  do {
    socklen_t len = sizeof(info);
    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
    constexpr uint8_t kTimeWait = 6, kClose = 7;  // include/net/tcp_states.h
    if (info.tcpi_state == kTimeWait || info.tcpi_state == kClose) break;
    std::this_thread::sleep_for(5ms);
  } while (std::chrono::steady_clock::now() < deadline);
  result.segs_out = info.tcpi_segs_out;
  result.segs_in = info.tcpi_segs_in;
  close(fd);
  return result;
}

// Waits until the interface's counters reached `want` packets each way (or the deadline).
LinkCounters WaitForLinkPackets(const std::string& dev, const LinkCounters& base,
                                uint64_t tx_packets, uint64_t rx_packets) {
  LinkCounters delta;
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  do {
    delta = Delta(ReadLinkCounters(dev), base);
    if (delta.tx_packets >= tx_packets && delta.rx_packets >= rx_packets) break;
    std::this_thread::sleep_for(10ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return delta;
}

void ExpectEqualCounters(const LinkCounters& flows, const LinkCounters& link) {
  EXPECT_EQ(flows.tx_packets, link.tx_packets);
  EXPECT_EQ(flows.tx_bytes, link.tx_bytes);
  EXPECT_EQ(flows.rx_packets, link.rx_packets);
  EXPECT_EQ(flows.rx_bytes, link.rx_bytes);
}

// The final ACK after FIN triggers no kernel event at medium (no new flag bits); the idle flush
// reports it, so the flows of a connection add up to exactly what crossed the interface, and the
// closed connection's entries leave the conntrack map.
TEST(NetflowBpfTest, IdleFlushMakesFlowTotalsEqualTheInterfaceCounters) {
  LOUPE_REQUIRE_ROOT();
  QuietVethPair veth;
  ASSERT_TRUE(veth.ok());
  metrics::Registry registry;
  RecordingSink sink;
  AggregationOptions aggregation;
  aggregation.interval = 1s;
  aggregation.idle_flush = 200ms;
  NetflowSensor sensor({{veth.host_if()}, {}}, aggregation, sink, registry);
  ASSERT_TRUE(sensor.Start().ok());
  const LinkCounters base = ReadLinkCounters(veth.host_if());

  const ExchangeResult ex = TcpExchange(veth, /*rounds=*/5, /*size=*/1000);
  ASSERT_NE(ex.client_port, 0);
  const LinkCounters link = WaitForLinkPackets(veth.host_if(), base, ex.segs_out, ex.segs_in);
  // tcpdump-free accounting: the client's segments are the interface's packets (every segment is
  // below the MSS, so one skb each), and nothing else crossed it.
  EXPECT_EQ(link.tx_packets, ex.segs_out);
  EXPECT_EQ(link.rx_packets, ex.segs_in);
  EXPECT_GE(ex.segs_out, 9u);  // SYN, 5 requests, FIN, ACK of the server's FIN, ...

  // Reported while running, by the sensor's periodic sweep (no Stop needed).
  const bool reported = sink.WaitFor(
      [&](const RecordingSink& s) {
        const LinkCounters sums = FlowSums(s.flows_locked(), ex.client_port);
        return sums.tx_packets >= link.tx_packets && sums.rx_packets >= link.rx_packets;
      },
      5s);
  EXPECT_TRUE(reported);
  ExpectEqualCounters(FlowSums(sink.flows(), ex.client_port), link);
  // Without the flush the kernel's events alone miss the last ACK: the last flow of the egress
  // direction is that ACK alone.
  std::vector<flow::Flow> egress;
  for (const auto& f : sink.flows()) {
    if (f.l4 == flow::L4Protocol::kTcp &&
        f.observation_point == flow::ObservationPoint::kToEndpoint) {
      egress.push_back(f);
    }
  }
  ASSERT_FALSE(egress.empty());
  EXPECT_EQ(egress.back().tcp_flags, kAck);
  EXPECT_EQ(egress.back().packets, 1u);
  EXPECT_EQ(egress.back().is_reply, 0);
  EXPECT_EQ(egress.back().src_port, ex.client_port);

  // Both directions saw FIN: the entries go once reported and idle.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sensor.conntrack_entries() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(sensor.conntrack_entries(), 0u);
  sensor.Stop();
  // Nothing was reported twice, by the sweep or at Stop.
  ExpectEqualCounters(FlowSums(sink.flows(), ex.client_port), link);
  ExpectEqualCounters(link, Delta(ReadLinkCounters(veth.host_if()), base));
}

// Stop reports every entry's remaining packets, idle or not.
TEST(NetflowBpfTest, StopReportsEveryUnreportedPacket) {
  LOUPE_REQUIRE_ROOT();
  QuietVethPair veth;
  ASSERT_TRUE(veth.ok());
  metrics::Registry registry;
  RecordingSink sink;
  AggregationOptions aggregation;
  aggregation.interval = 60s;  // no sweep before Stop
  NetflowSensor sensor({{veth.host_if()}, {}}, aggregation, sink, registry);
  ASSERT_TRUE(sensor.Start().ok());
  const LinkCounters base = ReadLinkCounters(veth.host_if());
  const ExchangeResult ex = TcpExchange(veth, /*rounds=*/20, /*size=*/1200);
  const LinkCounters link = WaitForLinkPackets(veth.host_if(), base, ex.segs_out, ex.segs_in);
  EXPECT_EQ(link.tx_packets, ex.segs_out);
  EXPECT_EQ(link.rx_packets, ex.segs_in);
  std::this_thread::sleep_for(200ms);  // let the kernel's events arrive first (not required)
  EXPECT_LT(FlowSums(sink.flows(), ex.client_port).tx_packets, link.tx_packets);
  sensor.Stop();
  ExpectEqualCounters(FlowSums(sink.flows(), ex.client_port), link);
}

// Crafted packets: a flush and a kernel event racing for the same packets report each once.
TEST(NetflowProgramTest, LedgerReportsEachPacketOnceWhateverTheOrder) {
  LOUPE_REQUIRE_ROOT();
  NetflowProgram prog(AggregationLevel::kMedium);
  const Packet udp = V4("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 5002, 6002, 0, "abcd");
  for (int i = 0; i < 4; ++i) prog.Egress(udp);
  // What a sweep reads now: 4 packets, 1 of them reported by the NEW_FLOW event.
  loupe_ct_key key{};
  loupe_ct_key next{};
  ASSERT_EQ(bpf_map_get_next_key(prog.ct_map_fd(), nullptr, &next), 0);
  key = next;
  loupe_ct_entry entry{};
  ASSERT_EQ(bpf_map_lookup_elem(prog.ct_map_fd(), &key, &entry), 0);
  EXPECT_EQ(entry.packets, 4u);
  EXPECT_EQ(entry.bytes, 4u * 46);
  const auto events = prog.Events();
  ASSERT_EQ(events.size(), 1u);

  ReportLedger ledger;
  flow::Flow first = events[0].flow;
  first.packets = events[0].counters.packets;
  ledger.Account(events[0].counters, &first);
  EXPECT_EQ(first.packets, 1u);
  PacketCounters swept = events[0].counters;
  swept.packets = entry.packets;
  swept.bytes = entry.bytes;
  EXPECT_TRUE(ledger.HasUnreported(swept));
  flow::Flow flushed;
  ledger.Account(swept, &flushed);
  EXPECT_EQ(flushed.packets, 3u);
  EXPECT_EQ(flushed.bytes, 3u * 46);
  EXPECT_FALSE(ledger.HasUnreported(swept));
  // A kernel event with totals the flush already covered (it was still in the ring buffer)
  // adds nothing; one beyond them adds only the new packet.
  PacketCounters late = swept;
  late.packets = 3;
  late.bytes = 3 * 46;
  flow::Flow overtaken;
  ledger.Account(late, &overtaken);
  EXPECT_EQ(overtaken.packets, 0u);
  EXPECT_EQ(overtaken.bytes, 0u);
  late.packets = 5;
  late.bytes = 5 * 46;
  flow::Flow newer;
  ledger.Account(late, &newer);
  EXPECT_EQ(newer.packets, 1u);
  EXPECT_EQ(newer.bytes, 46u);
  // A new incarnation of the key (deleted and created again) starts from zero.
  PacketCounters reborn = late;
  reborn.first_ns = late.first_ns + 1;
  reborn.packets = 1;
  reborn.bytes = 46;
  flow::Flow again;
  ledger.Account(reborn, &again);
  EXPECT_EQ(again.packets, 1u);
  // ...and an event of the old incarnation arriving after it adds nothing.
  flow::Flow stale;
  ledger.Account(late, &stale);
  EXPECT_EQ(stale.packets, 0u);
  EXPECT_EQ(ledger.stale_events(), 1u);
}

TEST(LossTrackerBpfTest, DeliversPerCpuGrowthAsLostEvents) {
  LOUPE_REQUIRE_ROOT();
  const int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "lost_test", 4, 8, 1, nullptr);
  ASSERT_GE(fd, 0);
  const int ncpus = libbpf_num_possible_cpus();
  ASSERT_GE(ncpus, 2);
  std::vector<uint64_t> values(ncpus, 0);
  const uint32_t key = 0;
  RecordingSink sink;
  LossTracker tracker(fd, sink);
  tracker.Poll();
  EXPECT_TRUE(sink.lost().empty());
  values[1] = 5;
  ASSERT_EQ(bpf_map_update_elem(fd, &key, values.data(), BPF_ANY), 0);
  tracker.Poll();
  values[0] = 2;
  values[1] = 7;
  ASSERT_EQ(bpf_map_update_elem(fd, &key, values.data(), BPF_ANY), 0);
  tracker.Poll();
  tracker.Poll();
  const auto lost = sink.lost();
  ASSERT_EQ(lost.size(), 3u);
  EXPECT_EQ(lost[0].source, flow::LostSource::kPerfEventRingBuffer);
  EXPECT_EQ(lost[0].cpu, 1);
  EXPECT_EQ(lost[0].num_events_lost, 5u);
  EXPECT_EQ(lost[1].cpu, 0);
  EXPECT_EQ(lost[1].num_events_lost, 2u);
  EXPECT_EQ(lost[2].cpu, 1);
  EXPECT_EQ(lost[2].num_events_lost, 2u);
  EXPECT_EQ(tracker.total(), 9u);
  close(fd);
}

}  // namespace
}  // namespace loupe::sensors
