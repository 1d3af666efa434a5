// The network sensor's user-space path per event, on synthetic ring-buffer records: the bytes the
// TC programs deliver (struct loupe_packet_event), decoded by the real decoder into a Flow, turned
// into per-report counts by the ReportLedger, matched by a FlowPredicate and appended to the
// FlowBuffer. Target (issue 3): >= 2 M flow events/s on one core.
#include <linux/types.h>

#include <cstring>
#include <vector>

// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/netflow.h"
// clang-format on
#include "benchmark/benchmark.h"
#include "src/flow/filter.h"
#include "src/flow/flow_buffer.h"
#include "src/sensors/decode.h"

namespace loupe {
namespace {

// `flows` distinct TCP connections (client 198.18.x.y:port -> 198.18.0.3:80/443), one record per
// event with growing running totals, as the kernel sends them at medium aggregation.
std::vector<std::vector<uint8_t>> SyntheticRecords(size_t count, size_t flows) {
  std::vector<std::vector<uint8_t>> out;
  out.reserve(count);
  std::vector<uint64_t> packets(flows, 0);
  for (size_t i = 0; i < count; ++i) {
    const size_t conn = i % flows;
    loupe_packet_event ev{};
    ev.ts_ns = 1'000'000'000ULL + i * 1000;
    ev.packets = ++packets[conn];
    ev.bytes = ev.packets * 1514;
    ev.ct_first_ns = 1'000'000'000ULL + conn;
    ev.ifindex = 3;
    ev.len = 1514;
    const uint8_t src[4] = {198, 18, static_cast<uint8_t>(conn >> 8), static_cast<uint8_t>(conn)};
    const uint8_t dst[4] = {198, 18, 0, 3};
    std::memcpy(ev.saddr, src, 4);
    std::memcpy(ev.daddr, dst, 4);
    const uint8_t smac[6] = {2, 0, 0, 0, 0, 1}, dmac[6] = {2, 0, 0, 0, 0, 2};
    std::memcpy(ev.smac, smac, 6);
    std::memcpy(ev.dmac, dmac, 6);
    ev.sport = static_cast<uint16_t>(30000 + conn % 30000);
    ev.dport = conn % 4 == 0 ? 443 : 80;
    ev.eth_proto = 0x0800;
    ev.direction = LOUPE_DIR_EGRESS;
    ev.ip_version = 4;
    ev.l4_proto = 6;
    ev.tcp_flags = 0x18;  // PSH, ACK
    ev.is_reply = LOUPE_REPLY_NO;
    ev.emit_reason = LOUPE_EMIT_INTERVAL;
    ev.has_eth = 1;
    const auto* bytes = reinterpret_cast<const uint8_t*>(&ev);
    out.emplace_back(bytes, bytes + sizeof(ev));
  }
  return out;
}

// decode -> ledger -> filter -> buffer, one event per iteration. Arg: distinct connections.
void BM_DecodeBufferFilter(benchmark::State& state) {
  const auto records = SyntheticRecords(1 << 16, static_cast<size_t>(state.range(0)));
  flow::FlowBuffer buffer(65535);
  sensors::ReportLedger ledger;
  flow::FilterSpec spec;
  spec.destination_port = {"443"};
  auto predicate = flow::FlowPredicate::Compile({spec}, {}, {"node", nullptr});
  const sensors::DecodeContext ctx{0, 4026531840};
  sensors::DecodedPacket decoded;
  size_t matched = 0, i = 0;
  for (auto _ : state) {
    const auto& record = records[i++ & (records.size() - 1)];
    if (!sensors::DecodePacketEvent(record, ctx, sensors::InterfaceKind::kVeth, &decoded)) {
      state.SkipWithError("decode failed");
      break;
    }
    ledger.Account(decoded.counters, &decoded.flow);
    matched += predicate->Matches(decoded.flow) ? 1 : 0;
    buffer.Append(std::move(decoded.flow));
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeBufferFilter)->Arg(64)->Arg(4096)->Arg(65536);

// The decoder alone.
void BM_DecodePacketEvent(benchmark::State& state) {
  const auto records = SyntheticRecords(1024, 64);
  const sensors::DecodeContext ctx{0, 4026531840};
  sensors::DecodedPacket decoded;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sensors::DecodePacketEvent(records[i++ & 1023], ctx,
                                                        sensors::InterfaceKind::kVeth, &decoded));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodePacketEvent);

}  // namespace
}  // namespace loupe
