#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "src/metrics/registry.h"
#include "src/sensors/drop_reasons.h"
#include "src/sensors/drop_sensor.h"
#include "src/sensors/tcp_lifecycle_sensor.h"
#include "tests/bpf/bpf_test_util.h"
#include "tests/bpf/netns_util.h"
#include "tests/bpf/recording_sink.h"

namespace loupe::sensors {
namespace {

using ::loupe::testing::Ipv4;
using ::loupe::testing::RecordingSink;
using ::loupe::testing::Shell;
using ::loupe::testing::VethPair;
using namespace std::chrono_literals;

// Not a regression test: with LOUPE_DROP_SURVEY=1 it prints the reasons of every kfree_skb
// during normal traffic with the normal-consumption filter off (docs/design/drop-reasons.md).
TEST(DropBpfTest, SurveyOfReasonsDuringNormalTraffic) {
  LOUPE_REQUIRE_ROOT();
  if (getenv("LOUPE_DROP_SURVEY") == nullptr) GTEST_SKIP() << "set LOUPE_DROP_SURVEY=1";
  VethPair veth;
  RecordingSink sink;
  metrics::Registry registry;
  DropSensor sensor(sink, registry, {.filter_normal_consumption = false});
  ASSERT_TRUE(sensor.Start().ok());
  Shell("ping -c 3 -i 0.2 " + veth.peer_ip());
  Shell("ping -6 -c 2 -i 0.2 ::1");
  Shell("ip netns exec " + veth.ns() +
        " timeout 3 python3 -c 'import http.server as h; "
        "h.test(HandlerClass=h.SimpleHTTPRequestHandler, port=8080, bind=\"198.19.250.2\")' "
        ">/dev/null 2>&1 &");
  std::this_thread::sleep_for(1s);
  Shell("for i in 1 2 3; do curl -s -o /dev/null http://198.19.250.2:8080/; done");
  Shell("curl -s -o /dev/null http://127.0.0.1:9/ ; true");
  Shell("dig +time=1 +tries=1 @" + veth.peer_ip() + " example.com >/dev/null; true");
  std::this_thread::sleep_for(2s);
  std::map<std::string, int> counts;
  for (const auto& f : sink.flows()) {
    counts[KernelDropReasonName(f.kernel_reason)]++;
    printf("  %s %s:%u -> %s:%u l4=%d flags=%x icmp=%u if=%u dir=%d len=%lu\n",
           KernelDropReasonName(f.kernel_reason), f.src_ip.ToString().c_str(), f.src_port,
           f.dst_ip.ToString().c_str(), f.dst_port, static_cast<int>(f.l4), f.tcp_flags,
           f.icmp_type, f.ifindex, static_cast<int>(f.direction),
           static_cast<unsigned long>(f.bytes));
  }
  for (const auto& [name, n] : counts) printf("  %-24s %d\n", name.c_str(), n);
}

// Connects from the root namespace to ip:port; returns the socket (connected or failed).
int ConnectTcp(const std::string& ip, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Ipv4(ip, port);
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  return fd;
}

const TcpEvent* FindTcp(const std::vector<TcpEvent>& events, TcpEvent::Kind kind,
                        uint16_t dst_port) {
  for (const auto& e : events) {
    if (e.kind == kind && e.dst_port == dst_port) return &e;
  }
  return nullptr;
}

const flow::Flow* FindDrop(const std::vector<flow::Flow>& flows, const std::string& dst_ip,
                           uint16_t dst_port) {
  for (const auto& f : flows) {
    if (f.dst_ip.ToString() == dst_ip && f.dst_port == dst_port) return &f;
  }
  return nullptr;
}

// This process's command, as the kernel gives it to BPF programs.
std::string SelfComm() {
  std::string comm;
  std::getline(std::ifstream("/proc/self/comm"), comm);
  return comm;
}

std::string Dump(const RecordingSink& sink) {
  std::string out;
  for (const auto& e : sink.tcp()) {
    out += "tcp kind=" + std::to_string(static_cast<int>(e.kind)) + " " + e.src_ip.ToString() +
           ":" + std::to_string(e.src_port) + " -> " + e.dst_ip.ToString() + ":" +
           std::to_string(e.dst_port) + " pid=" + std::to_string(e.pid) + "\n";
  }
  for (const auto& f : sink.flows()) {
    out += std::string("drop ") + KernelDropReasonName(f.kernel_reason) + " " +
           f.src_ip.ToString() + ":" + std::to_string(f.src_port) + " -> " + f.dst_ip.ToString() +
           ":" + std::to_string(f.dst_port) + "\n";
  }
  return out;
}

TEST(DropBpfTest, ClosedPortGivesNoSocketDropAndFailedConnect) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  RecordingSink sink;
  metrics::Registry registry;
  DropSensor drops(sink, registry);
  TcpLifecycleSensor tcp(sink, registry);
  ASSERT_TRUE(drops.Start().ok());
  {
    const absl::Status st = tcp.Start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  constexpr uint16_t kClosedPort = 9;
  const int fd = ConnectTcp(veth.peer_ip(), kClosedPort);
  const uint16_t local_port = testing::LocalPort(fd);
  close(fd);

  ASSERT_TRUE(sink.WaitFor(
      [&](const RecordingSink& s) {
        return FindDrop(s.flows_locked(), veth.peer_ip(), kClosedPort) != nullptr &&
               FindTcp(s.tcp_locked(), TcpEvent::Kind::kResetReceived, kClosedPort) != nullptr &&
               FindTcp(s.tcp_locked(), TcpEvent::Kind::kConnectFailed, kClosedPort) != nullptr;
      },
      3s))
      << Dump(sink);
  const auto flows = sink.flows();
  const flow::Flow& drop = *FindDrop(flows, veth.peer_ip(), kClosedPort);
  EXPECT_STREQ(KernelDropReasonName(drop.kernel_reason), "NO_SOCKET");
  EXPECT_EQ(drop.drop_reason, 178u);  // SOCKET_LOOKUP_FAILED
  EXPECT_EQ(drop.verdict, flow::Verdict::kDropped);
  EXPECT_EQ(drop.event_type, flow::EventType::kDrop);
  EXPECT_EQ(drop.event_subtype, 178);
  EXPECT_EQ(drop.src_ip.ToString(), veth.host_ip());
  EXPECT_EQ(drop.src_port, local_port);
  EXPECT_EQ(drop.l4, flow::L4Protocol::kTcp);
  EXPECT_EQ(drop.tcp_flags, flow::kTcpSyn);
  EXPECT_EQ(drop.direction, flow::TrafficDirection::kIngress);
  EXPECT_EQ(drop.netns, testing::NetnsInode(veth.ns()));
  EXPECT_TRUE(drop.has_ethernet);
  EXPECT_GT(drop.time_ns, 1'600'000'000'000'000'000);

  const auto events = sink.tcp();
  const TcpEvent& failed = *FindTcp(events, TcpEvent::Kind::kConnectFailed, kClosedPort);
  EXPECT_EQ(failed.pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(failed.src_port, local_port);
  EXPECT_EQ(failed.src_ip.ToString(), veth.host_ip());
  EXPECT_EQ(failed.dst_ip.ToString(), veth.peer_ip());
  EXPECT_GT(failed.latency_ns, 0u);
  const TcpEvent& reset = *FindTcp(events, TcpEvent::Kind::kResetReceived, kClosedPort);
  EXPECT_EQ(reset.pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(reset.src_port, local_port);
  // The peer's kernel sent the reset without a socket: its local end is the closed port.
  bool reset_sent = false;
  for (const auto& e : events) {
    reset_sent |= e.kind == TcpEvent::Kind::kResetSent && e.src_port == kClosedPort &&
                  e.dst_port == local_port && e.netns == testing::NetnsInode(veth.ns());
  }
  EXPECT_TRUE(reset_sent);
  EXPECT_EQ(FindTcp(events, TcpEvent::Kind::kConnected, kClosedPort), nullptr);
}

TEST(DropBpfTest, IptablesDropGivesNetfilterReason) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  constexpr uint16_t kPort = 9999;
  ASSERT_EQ(Shell("ip netns exec " + veth.ns() + " iptables -A INPUT -p udp --dport " +
                  std::to_string(kPort) + " -j DROP"),
            0);
  RecordingSink sink;
  metrics::Registry registry;
  DropSensor drops(sink, registry);
  ASSERT_TRUE(drops.Start().ok());
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Ipv4(veth.peer_ip(), kPort);
  const char payload[] = "dropped";
  for (int i = 0; i < 3; ++i) {
    sendto(fd, payload, 7, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  const uint16_t local_port = testing::LocalPort(fd);
  close(fd);
  auto count = [&](const RecordingSink& s) {
    int n = 0;
    for (const auto& f : s.flows_locked()) n += f.dst_port == kPort ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(sink.WaitFor([&](const RecordingSink& s) { return count(s) >= 3; }, 3s));
  std::this_thread::sleep_for(100ms);
  const auto flows = sink.flows();
  int seen = 0;
  for (const auto& f : flows) {
    if (f.dst_port != kPort) continue;
    ++seen;
    EXPECT_STREQ(KernelDropReasonName(f.kernel_reason), "NETFILTER_DROP");
    EXPECT_EQ(f.drop_reason, 133u);  // POLICY_DENIED
    EXPECT_EQ(f.l4, flow::L4Protocol::kUdp);
    EXPECT_EQ(f.src_port, local_port);
    EXPECT_EQ(f.src_ip.ToString(), veth.host_ip());
    EXPECT_EQ(f.dst_ip.ToString(), veth.peer_ip());
    EXPECT_EQ(f.bytes, 20u + 8u + 7u);  // skb->len at the netfilter hook: IP + UDP + payload
    EXPECT_EQ(f.netns, testing::NetnsInode(veth.ns()));
  }
  EXPECT_EQ(seen, 3);
}

TEST(DropBpfTest, NormalTrafficIsNotReportedAsDrops) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  RecordingSink sink;
  metrics::Registry registry;
  DropSensor drops(sink, registry);
  ASSERT_TRUE(drops.Start().ok());
  constexpr uint16_t kPort = 8081;
  const int listener = testing::ListenInNetns(veth.ns(), veth.peer_ip(), kPort);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(Shell("ping -c 2 -i 0.2 -W 1 " + veth.peer_ip()), 0);
  for (int i = 0; i < 3; ++i) {
    const int fd = ConnectTcp(veth.peer_ip(), kPort);
    ASSERT_EQ(write(fd, "hello", 5), 5);
    const int conn = accept(listener, nullptr, nullptr);
    char buf[8];
    ASSERT_EQ(read(conn, buf, sizeof(buf)), 5);
    close(conn);
    close(fd);
  }
  close(listener);
  std::this_thread::sleep_for(300ms);
  for (const auto& f : sink.flows()) {
    const bool ours =
        f.src_ip.ToString() == veth.peer_ip() || f.dst_ip.ToString() == veth.peer_ip();
    EXPECT_FALSE(ours) << "unexpected drop " << KernelDropReasonName(f.kernel_reason) << " "
                       << f.src_ip.ToString() << ":" << f.src_port << " -> " << f.dst_ip.ToString()
                       << ":" << f.dst_port;
  }
}

TEST(TcpLifecycleBpfTest, ConnectAcceptAndCloseWithLatencyAndPid) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  constexpr uint16_t kPort = 8082;
  const int listener = testing::ListenInNetns(veth.ns(), veth.peer_ip(), kPort);
  ASSERT_GE(listener, 0);
  RecordingSink sink;
  metrics::Registry registry;
  TcpLifecycleSensor tcp(sink, registry);
  {
    const absl::Status st = tcp.Start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  const int fd = ConnectTcp(veth.peer_ip(), kPort);
  const uint16_t local_port = testing::LocalPort(fd);
  const int conn = accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  close(fd);
  close(conn);
  close(listener);
  ASSERT_TRUE(sink.WaitFor(
      [&](const RecordingSink& s) {
        int closed = 0;
        for (const auto& e : s.tcp_locked()) {
          closed += e.kind == TcpEvent::Kind::kClosed &&
                    (e.src_port == local_port || e.dst_port == local_port);
        }
        return FindTcp(s.tcp_locked(), TcpEvent::Kind::kConnected, kPort) != nullptr && closed == 2;
      },
      3s))
      << Dump(sink);
  const auto events = sink.tcp();
  const TcpEvent& connected = *FindTcp(events, TcpEvent::Kind::kConnected, kPort);
  EXPECT_EQ(connected.pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(connected.comm, SelfComm());
  EXPECT_EQ(connected.src_port, local_port);
  EXPECT_EQ(connected.src_ip.ToString(), veth.host_ip());
  EXPECT_EQ(connected.dst_ip.ToString(), veth.peer_ip());
  EXPECT_GT(connected.latency_ns, 0u);
  EXPECT_LT(connected.latency_ns, 1'000'000'000u);
  EXPECT_GT(connected.netns, 0u);
  int accepted = 0;
  for (const auto& e : events) {
    if (e.kind != TcpEvent::Kind::kAccepted) continue;
    ++accepted;
    EXPECT_EQ(e.src_port, kPort);
    EXPECT_EQ(e.dst_port, local_port);
    EXPECT_EQ(e.netns, testing::NetnsInode(veth.ns()));
  }
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(FindTcp(events, TcpEvent::Kind::kConnectFailed, kPort), nullptr);
  const TcpEvent* closed = FindTcp(events, TcpEvent::Kind::kClosed, kPort);
  ASSERT_NE(closed, nullptr);
  EXPECT_EQ(closed->pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(closed->comm, SelfComm());
}

TEST(TcpLifecycleBpfTest, LossGivesRetransmits) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  constexpr uint16_t kPort = 8083;
  const int listener = testing::ListenInNetns(veth.ns(), veth.peer_ip(), kPort);
  ASSERT_GE(listener, 0);
  // This kernel has no sch_netem: lose the SYNs with a DROP rule in the peer's namespace.
  ASSERT_EQ(Shell("ip netns exec " + veth.ns() + " iptables -A INPUT -p tcp --dport " +
                  std::to_string(kPort) + " -j DROP"),
            0);
  RecordingSink sink;
  metrics::Registry registry;
  TcpLifecycleSensor tcp(sink, registry);
  {
    const absl::Status st = tcp.Start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr = Ipv4(veth.peer_ip(), kPort);
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const uint16_t local_port = testing::LocalPort(fd);
  // The first SYN retransmission comes after the initial RTO of 1 s.
  ASSERT_TRUE(sink.WaitFor(
      [&](const RecordingSink& s) {
        return FindTcp(s.tcp_locked(), TcpEvent::Kind::kRetransmit, kPort) != nullptr;
      },
      3s));
  const auto events = sink.tcp();
  const TcpEvent& retransmit = *FindTcp(events, TcpEvent::Kind::kRetransmit, kPort);
  EXPECT_EQ(retransmit.src_port, local_port);
  EXPECT_EQ(retransmit.dst_ip.ToString(), veth.peer_ip());
  EXPECT_EQ(retransmit.pid, static_cast<uint32_t>(getpid()));
  close(fd);
  close(listener);
}

}  // namespace
}  // namespace loupe::sensors
