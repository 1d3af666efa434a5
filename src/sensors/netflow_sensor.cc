#include "src/sensors/netflow_sensor.h"

#include <bpf/bpf.h>
#include <linux/types.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/netflow.h"
// clang-format on
#include "netflow.skel.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/clock.h"
#include "src/base/logging.h"
#include "src/base/strings.h"
#include "src/bpf/ringbuf_reader.h"
#include "src/sensors/interfaces.h"

namespace loupe::sensors {
namespace {

InterfaceKind KindOf(const LinkInfo& link) {
  if (link.kind == "veth") return InterfaceKind::kVeth;
  if (link.arp_type == ARPHRD_LOOPBACK) return InterfaceKind::kLoopback;
  return InterfaceKind::kNetwork;
}

uint64_t CurrentNetnsInode() {
  struct stat st {};
  return stat("/proc/self/ns/net", &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

}  // namespace

std::optional<AggregationLevel> ParseAggregationLevel(const std::string& text) {
  const std::string lower = AsciiLower(text);
  if (lower == "none") return AggregationLevel::kNone;
  if (lower == "low") return AggregationLevel::kLow;
  if (lower == "medium") return AggregationLevel::kMedium;
  if (lower == "high" || lower == "maximum") return AggregationLevel::kHigh;
  return std::nullopt;
}

NetflowSensor::NetflowSensor(NetflowOptions options, AggregationOptions aggregation, FlowSink& sink,
                             metrics::Registry& registry)
    : options_(std::move(options)), aggregation_(aggregation), sink_(sink), registry_(registry) {
  events_total_ = registry_
                      .AddCounter("loupe_bpf_events_total",
                                  "Events received from BPF programs, by program.", {"program"})
                      .WithLabels({name_});
  malformed_total_ =
      registry_
          .AddCounter("loupe_bpf_events_malformed_total",
                      "Events from BPF programs rejected for a wrong size, by program.",
                      {"program"})
          .WithLabels({name_});
}

NetflowSensor::~NetflowSensor() { Stop(); }

absl::Status NetflowSensor::Start() {
  auto opened = bpf::Skeleton<struct netflow>::Open(LOUPE_SKELETON_OPS(netflow));
  if (!opened.ok()) return opened.status();
  skel_ = std::move(opened).value();
  skel_->get()->rodata->aggregation_level = static_cast<__u8>(aggregation_.level);
  skel_->get()->rodata->monitor_interval_ns = static_cast<__u64>(aggregation_.interval.count());
  absl::Status status = skel_->Load();
  if (!status.ok()) {
    skel_.reset();
    return status;
  }
  netns_ = CurrentNetnsInode();
  realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
  stop_ = false;
  last_sweep_ = std::chrono::steady_clock::now();

  // Subscribe before listing, so a link added in between is not missed.
  auto watcher = LinkWatcher::Open(
      [this](const LinkInfo& link) {
        std::lock_guard<std::mutex> lock(mu_);
        ReconcileLocked(link).IgnoreError();
      },
      [this](int ifindex) {
        std::lock_guard<std::mutex> lock(mu_);
        ForgetLocked(ifindex);
      });
  std::string follow_note;
  if (watcher.ok()) {
    links_ = std::move(watcher).value();
    status = links_->Dump();
    if (!status.ok()) links_.reset();
  } else {
    status = watcher.status();
  }
  if (!links_) {
    // Degrade: attach to what exists now, without following changes.
    LOG_WARN("network sensor: not following interface changes: {}", std::string(status.message()));
    follow_note = "not following new interfaces (rtnetlink unavailable)";
    std::lock_guard<std::mutex> lock(mu_);
    for (const NetInterface& iface : ListInterfaces()) {
      ReconcileLocked({iface.ifindex, iface.name, iface.arp_type, ""}).IgnoreError();
    }
  }
  std::string failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (attachments_.empty() && !failures_.empty()) failed = Join(failures_, ", ");
    detail_ = follow_note;
  }
  if (!failed.empty()) {
    DetachAll();
    links_.reset();
    skel_.reset();
    return absl::FailedPreconditionError(
        absl::StrCat("network sensor could not attach to any interface (failed: ", failed,
                     "); run `loupe preflight` to check TC support"));
  }
  LOG_INFO("network sensor attached to {} interface(s)", attached_interfaces().size());

  losses_ = std::make_unique<LossTracker>(bpf_map__fd(skel_->get()->maps.packet_lost_map), sink_);
  const int lost_fd = bpf_map__fd(skel_->get()->maps.packet_lost_map);
  collector_id_ =
      registry_.AddCollector([this, lost_fd](std::vector<metrics::FamilySnapshot>* out) {
        auto lost = bpf::SumPerCpuCounter(lost_fd, 0);
        out->push_back({"loupe_bpf_events_lost_total",
                        "Events BPF programs could not deliver because their ring buffer was full.",
                        metrics::MetricType::kCounter,
                        {{{{"program", name_}}, static_cast<double>(lost.ok() ? *lost : 0)}}});
        std::lock_guard<std::mutex> lock(mu_);
        out->push_back({"loupe_netflow_interfaces",
                        "Interfaces the network sensor's TC programs are attached to.",
                        metrics::MetricType::kGauge,
                        {{{}, static_cast<double>(attachments_.size())}}});
      });
  status = reader_.Start(
      name_, bpf_map__fd(skel_->get()->maps.packet_events),
      [this](std::span<const uint8_t> record) { OnRecord(record); },
      [this] {
        losses_->Poll();
        realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
        if (aggregation_.level == AggregationLevel::kNone) return;
        const auto now = std::chrono::steady_clock::now();
        const bool final = stop_.load();
        if (final || now - last_sweep_ >= aggregation_.interval) {
          last_sweep_ = now;
          Sweep(final);
        }
      });
  if (!status.ok()) {
    Stop();
    return status;
  }
  if (links_) link_thread_ = std::thread([this] { LinkLoop(); });
  up_ = true;
  return absl::OkStatus();
}

absl::Status NetflowSensor::ReconcileLocked(const LinkInfo& link) {
  kinds_[link.ifindex] = KindOf(link);
  const bool selected =
      InterfaceSelected(link.name, options_.include_interfaces, options_.exclude_interfaces);
  auto it = attachments_.find(link.ifindex);
  if (it != attachments_.end()) {
    if (selected) {
      it->second.name = link.name;
      return absl::OkStatus();
    }
    LOG_INFO("network sensor: {} left the interface selection", link.name);
    InterfaceAttachment att = std::move(it->second);
    attachments_.erase(it);
    att.ingress.reset();
    att.egress.reset();
    if (att.created_qdisc) bpf::TcAttachment::DestroyQdisc(att.ifindex);
    return absl::OkStatus();
  }
  if (!selected) return absl::OkStatus();

  const NetInterface iface{link.ifindex, link.name, link.arp_type};
  if (!iface.has_ethernet_header()) {
    const __u32 key = static_cast<__u32>(iface.ifindex);
    const __u8 one = 1;
    bpf_map_update_elem(bpf_map__fd(skel_->get()->maps.l3_iface_map), &key, &one, BPF_ANY);
  }
  InterfaceAttachment att{link.ifindex, link.name, KindOf(link)};
  auto ingress = bpf::TcAttachment::Attach(link.ifindex, bpf::TcDirection::kIngress,
                                           bpf_program__fd(skel_->get()->progs.tc__ingress),
                                           &att.created_qdisc, options_.tc_hook);
  auto egress = bpf::TcAttachment::Attach(link.ifindex, bpf::TcDirection::kEgress,
                                          bpf_program__fd(skel_->get()->progs.tc__egress),
                                          &att.created_qdisc, options_.tc_hook);
  if (!ingress.ok() || !egress.ok()) {
    absl::Status err = !ingress.ok() ? ingress.status() : egress.status();
    // Release whichever direction attached, and the qdisc if we created it.
    if (ingress.ok()) ingress->reset();
    if (egress.ok()) egress->reset();
    if (att.created_qdisc) bpf::TcAttachment::DestroyQdisc(link.ifindex);
    if (std::find(failures_.begin(), failures_.end(), link.name) == failures_.end()) {
      LOG_WARN("network sensor: not observing {}: {}", link.name, std::string(err.message()));
      failures_.push_back(link.name);
    }
    return err;
  }
  att.ingress = std::move(ingress).value();
  att.egress = std::move(egress).value();
  if (!hook_logged_) {
    hook_logged_ = true;
    LOG_INFO("network sensor: TC programs attached {}",
             att.ingress->hook() == bpf::TcHook::kTcx
                 ? "as tcx links (the kernel detaches them when the agent exits)"
                 : "as clsact filters (no tcx before Linux 6.6; a killed agent's stay until the "
                   "next agent replaces them)");
  }
  std::erase(failures_, link.name);
  if (up_.load()) LOG_INFO("network sensor: observing new interface {}", link.name);
  attachments_.emplace(link.ifindex, std::move(att));
  return absl::OkStatus();
}

void NetflowSensor::ForgetLocked(int ifindex) {
  kinds_.erase(ifindex);
  auto it = attachments_.find(ifindex);
  if (it == attachments_.end()) return;
  LOG_INFO("network sensor: interface {} was removed", it->second.name);
  // The kernel removed the qdisc and filters with the device; the detach calls find nothing
  // (ENODEV/ENOENT, which TcAttachment does not report).
  InterfaceAttachment att = std::move(it->second);
  attachments_.erase(it);
  att.ingress.reset();
  att.egress.reset();
  if (att.created_qdisc) bpf::TcAttachment::DestroyQdisc(ifindex);
  std::erase(failures_, att.name);
  if (skel_) {
    const __u32 key = static_cast<__u32>(ifindex);
    bpf_map_delete_elem(bpf_map__fd(skel_->get()->maps.l3_iface_map), &key);
  }
}

void NetflowSensor::DetachAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [ifindex, att] : attachments_) {
    att.ingress.reset();
    att.egress.reset();
    if (att.created_qdisc) bpf::TcAttachment::DestroyQdisc(ifindex);
  }
  attachments_.clear();
  failures_.clear();
  // kinds_ stays: the final sweep at Stop still needs the observation points.
}

void NetflowSensor::LinkLoop() {
  while (!stop_.load()) {
    if (links_->Poll(100)) continue;
    // The kernel dropped notifications: list the links again and forget the ones that are gone.
    LOG_WARN("network sensor: missed interface notifications; listing interfaces again");
    if (!links_->Dump().ok()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int> gone;
    char name[IF_NAMESIZE];
    for (const auto& [ifindex, att] : attachments_) {
      if (if_indextoname(static_cast<unsigned>(ifindex), name) == nullptr) gone.push_back(ifindex);
    }
    for (int ifindex : gone) ForgetLocked(ifindex);
  }
}

void NetflowSensor::OnRecord(std::span<const uint8_t> record) {
  events_total_->Inc();
  InterfaceKind kind = InterfaceKind::kNetwork;
  {
    const int ifindex = static_cast<int>(PacketEventIfindex(record));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kinds_.find(ifindex);
    if (it != kinds_.end()) kind = it->second;
  }
  const DecodeContext ctx{realtime_offset_ns_.load(std::memory_order_relaxed), netns_};
  DecodedPacket decoded;
  if (!DecodePacketEvent(record, ctx, kind, &decoded)) {
    malformed_total_->Inc();
    return;
  }
  ledger_.Account(decoded.counters, &decoded.flow);
  if (decoded.is_dns) {
    sink_.OnDnsPacket(std::move(decoded.flow), decoded.dns_payload);
  } else {
    sink_.OnFlow(std::move(decoded.flow));
  }
}

void NetflowSensor::Stop() {
  stop_ = true;
  if (link_thread_.joinable()) link_thread_.join();
  // Detach first: the reader's last tick drains the ring buffer and then reports every entry's
  // remaining packets, which are final only once no program counts into the map any more.
  DetachAll();
  reader_.Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    kinds_.clear();
  }
  if (collector_id_ != 0) {
    registry_.RemoveCollector(collector_id_);
    collector_id_ = 0;
  }
  links_.reset();
  losses_.reset();
  skel_.reset();
  up_ = false;
}

namespace {

struct CtRecord {
  loupe_ct_key key;
  loupe_ct_entry entry;
};

// Every entry of the conntrack map, by batches (one syscall per 4096 entries); entries created
// or deleted meanwhile may or may not be included, which the sweep tolerates.
std::vector<CtRecord> ReadConntrack(int fd) {
  constexpr uint32_t kBatch = 4096;
  std::vector<CtRecord> out;
  std::vector<loupe_ct_key> keys(kBatch);
  std::vector<loupe_ct_entry> values(kBatch);
  uint64_t token = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t count = kBatch;
    const int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(),
                                         values.data(), &count, &opts);
    first = false;
    for (uint32_t i = 0; i < count && i < kBatch; ++i) out.push_back({keys[i], values[i]});
    if (err == 0) continue;
    if (errno == ENOENT) break;
    // Batch operations unavailable or a bucket larger than a batch: walk key by key.
    out.clear();
    loupe_ct_key key{}, next{};
    const loupe_ct_key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      key = next;
      prev = &key;
      loupe_ct_entry value{};
      if (bpf_map_lookup_elem(fd, &key, &value) == 0) out.push_back({key, value});
    }
    break;
  }
  return out;
}

ConntrackKey KeyOf(const loupe_ct_key& k) {
  ConntrackKey key;
  std::memcpy(key.saddr.data(), k.saddr, 16);
  std::memcpy(key.daddr.data(), k.daddr, 16);
  key.sport = k.sport;
  key.dport = k.dport;
  key.ifindex = k.ifindex;
  key.proto = k.proto;
  key.direction = k.direction;
  return key;
}

ConntrackKey ReverseOf(const ConntrackKey& k) {
  ConntrackKey r = k;
  std::swap(r.saddr, r.daddr);
  std::swap(r.sport, r.dport);
  r.direction = k.direction ^ 1;
  return r;
}

PacketCounters CountersOf(const loupe_ct_key& k, const loupe_ct_entry& e) {
  return PacketCounters{KeyOf(k), e.first_ns, e.packets, e.bytes};
}

// The event the kernel would have sent for the entry's last packet, with its running totals.
loupe_packet_event FlushEvent(const loupe_ct_key& k, const loupe_ct_entry& e) {
  constexpr uint8_t kIcmp = 1, kIcmpv6 = 58;
  loupe_packet_event ev{};
  ev.ts_ns = e.last_seen_ns;
  ev.packets = e.packets;
  ev.bytes = e.bytes;
  ev.ct_first_ns = e.first_ns;
  ev.cgroup_id = e.cgroup_id;
  ev.ifindex = k.ifindex;
  std::memcpy(ev.saddr, k.saddr, 16);
  std::memcpy(ev.daddr, k.daddr, 16);
  std::memcpy(ev.smac, e.smac, 6);
  std::memcpy(ev.dmac, e.dmac, 6);
  if (k.proto == kIcmp || k.proto == kIcmpv6) {
    ev.icmp_echo_id = k.sport;  // 0 for ICMP other than echo, as the kernel keys it
    ev.icmp_type = e.icmp_type;
    ev.icmp_code = e.icmp_code;
  } else {
    ev.sport = k.sport;
    ev.dport = k.dport;
  }
  ev.eth_proto = e.ip_version == 6 ? 0x86DD : 0x0800;
  ev.direction = k.direction;
  ev.ip_version = e.ip_version;
  ev.l4_proto = k.proto;
  ev.tcp_flags = e.last_flags;
  ev.is_reply = e.is_reply;
  ev.emit_reason = LOUPE_EMIT_IDLE_FLUSH;
  ev.has_eth = e.has_eth;
  return ev;
}

}  // namespace

void NetflowSensor::Sweep(bool final) {
  if (!skel_) return;
  const int fd = bpf_map__fd(skel_->get()->maps.flow_ct_map);
  const std::vector<CtRecord> records = ReadConntrack(fd);
  const uint64_t now = static_cast<uint64_t>(RealClock::Get().NowMonotonicNs());
  const uint64_t idle_ns = static_cast<uint64_t>(aggregation_.idle_flush.count());
  const uint64_t timeout_ns = static_cast<uint64_t>(aggregation_.conntrack_timeout.count());
  constexpr uint64_t kFin = 0x01, kRst = 0x04;
  constexpr uint8_t kTcp = 6;

  std::unordered_map<ConntrackKey, size_t, ConntrackKeyHash> index;
  index.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) index.emplace(KeyOf(records[i].key), i);

  auto flush = [this](const loupe_ct_key& k, const loupe_ct_entry& e) {
    const loupe_packet_event ev = FlushEvent(k, e);
    OnRecord({reinterpret_cast<const uint8_t*>(&ev), sizeof(ev)});
  };

  ledger_.BeginSweep();
  size_t flushed = 0, deleted = 0;
  for (const CtRecord& r : records) {
    const ConntrackKey key = KeyOf(r.key);
    ledger_.Touch(key);
    const uint64_t idle = now > r.entry.last_seen_ns ? now - r.entry.last_seen_ns : 0;
    if (!final && idle < idle_ns) continue;
    if (ledger_.HasUnreported(CountersOf(r.key, r.entry))) {
      flush(r.key, r.entry);
      ++flushed;
    }
    if (final) continue;
    // A TCP connection is over after a RST, or a FIN in both directions (on this interface).
    bool closed = false;
    if (r.key.proto == kTcp) {
      uint64_t reverse_flags = 0;
      auto it = index.find(ReverseOf(key));
      if (it != index.end()) reverse_flags = records[it->second].entry.flags_all;
      closed = ((r.entry.flags_all | reverse_flags) & kRst) != 0 ||
               ((r.entry.flags_all & kFin) != 0 && (reverse_flags & kFin) != 0);
    }
    if (!closed && idle < timeout_ns) continue;
    // Take the final value with the delete: a packet counted since the read above is reported
    // now rather than lost.
    loupe_ct_entry last{};
    if (bpf_map_lookup_and_delete_elem(fd, &r.key, &last) == 0) {
      if (ledger_.HasUnreported(CountersOf(r.key, last))) flush(r.key, last);
      ++deleted;
    } else if (bpf_map_delete_elem(fd, &r.key) == 0) {
      ++deleted;
    }
  }
  ledger_.EndSweep();
  if (flushed > 0 || deleted > 0) {
    LOG_DEBUG("network sensor: swept {} conntrack entries: {} flushed, {} deleted", records.size(),
              flushed, deleted);
  }
}

size_t NetflowSensor::conntrack_entries() const {
  if (!skel_) return 0;
  const int fd = bpf_map__fd(skel_->get()->maps.flow_ct_map);
  size_t n = 0;
  loupe_ct_key key{}, next{};
  const loupe_ct_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    ++n;
  }
  return n;
}

std::string NetflowSensor::status_detail() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> parts;
  if (!failures_.empty()) parts.push_back("not attached to: " + Join(failures_, ", "));
  if (!detail_.empty()) parts.push_back(detail_);
  return Join(parts, "; ");
}

std::vector<std::string> NetflowSensor::attached_interfaces() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [ifindex, att] : attachments_) names.push_back(att.name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace loupe::sensors
