#include "src/protocols/dns/dns_tracker.h"

#include <algorithm>
#include <functional>

#include "src/protocols/dns/dns_parser.h"

namespace loupe::protocols::dns {

size_t DnsTracker::KeyHash::operator()(const Key& k) const {
  size_t h = std::hash<uint64_t>()(static_cast<uint64_t>(k.id) << 32 |
                                   static_cast<uint64_t>(k.client_port) << 16 | k.server_port);
  for (uint8_t b : k.client.bytes) h = h * 131 + b;
  for (uint8_t b : k.server.bytes) h = h * 131 + b;
  return h;
}

DnsTracker::DnsTracker(size_t max_pending, std::chrono::nanoseconds pending_timeout)
    : max_pending_(max_pending), pending_timeout_ns_(pending_timeout.count()) {}

void DnsTracker::Expire(int64_t now_ns) {
  while (!order_.empty() &&
         (order_.front().first < now_ns - pending_timeout_ns_ || order_.size() > max_pending_)) {
    auto it = pending_.find(order_.front().second);
    // Only erase when the entry is the one this queue slot recorded (not a newer re-query).
    if (it != pending_.end() && it->second == order_.front().first) {
      if (order_.size() > max_pending_) ++stats_.evicted;
      pending_.erase(it);
    }
    order_.pop_front();
  }
}

ParseState DnsTracker::Process(const flow::Flow& packet, std::span<const uint8_t> payload,
                               flow::Flow* l7) {
  if (packet.l4 == flow::L4Protocol::kTcp) {
    // DNS over TCP: a 2-byte length prefix; parse only segments that start a message.
    if (payload.size() < 2) return ParseState::kIgnored;
    const size_t len = static_cast<size_t>(payload[0]) << 8 | payload[1];
    payload = payload.subspan(2, std::min(len, payload.size() - 2));
  }
  Message msg;
  const ParseState state = ParseMessage(payload, &msg);
  if (state != ParseState::kSuccess) {
    if (state == ParseState::kInvalid) ++stats_.invalid;
    return state == ParseState::kNeedsMoreData ? ParseState::kInvalid : state;
  }
  if (msg.questions.empty()) {
    ++stats_.invalid;
    return ParseState::kInvalid;
  }
  Expire(packet.time_ns);

  auto info = std::make_shared<flow::L7Info>();
  auto dns = std::make_unique<flow::DnsInfo>();
  dns->id = msg.id;
  dns->query = msg.questions.front().name;
  dns->observation_source = "tc";
  for (const auto& q : msg.questions) dns->qtypes.push_back(TypeName(q.qtype));

  *l7 = packet;
  l7->type = flow::FlowType::kL7;
  l7->event_type = flow::EventType::kL7;
  l7->event_subtype = 0;
  l7->packets = 0;
  l7->bytes = 0;
  if (!msg.is_response) {
    ++stats_.requests;
    info->type = flow::L7Type::kRequest;
    l7->is_reply = 0;
    const Key key{msg.id, packet.src_port, packet.dst_port, packet.src_ip, packet.dst_ip};
    auto [it, inserted] = pending_.try_emplace(key, packet.time_ns);
    // A query seen again (on a second interface, or a retry) keeps its first timestamp.
    if (inserted) {
      order_.emplace_back(packet.time_ns, key);
      Expire(packet.time_ns);
    }
  } else {
    ++stats_.responses;
    info->type = flow::L7Type::kResponse;
    l7->is_reply = 1;
    dns->rcode = msg.rcode;
    bool have_ttl = false;
    for (const auto& a : msg.answers) {
      dns->rrtypes.push_back(TypeName(a.type));
      if (!a.address.empty()) dns->ips.push_back(a.address);
      if (!a.target.empty()) dns->cnames.push_back(a.target);
      if (a.type == 1 || a.type == 28 || a.type == 5) {
        dns->ttl = have_ttl ? std::min(dns->ttl, a.ttl) : a.ttl;
        have_ttl = true;
      }
    }
    const Key key{msg.id, packet.dst_port, packet.src_port, packet.dst_ip, packet.src_ip};
    auto it = pending_.find(key);
    if (it != pending_.end() && packet.time_ns >= it->second) {
      info->latency_ns = static_cast<uint64_t>(packet.time_ns - it->second);
      ++stats_.matched;
      // Keep the entry: the same response is seen again on the next interface it crosses; the
      // queue expires it.
    }
  }
  info->dns = std::move(dns);
  l7->l7 = std::move(info);
  return ParseState::kSuccess;
}

}  // namespace loupe::protocols::dns
