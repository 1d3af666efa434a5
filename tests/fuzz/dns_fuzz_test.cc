// Fuzz target: the DNS parser and tracker (packets on port 53 are untrusted input).
#include <cstddef>
#include <cstdint>
#include <span>

#include "src/protocols/dns/dns_parser.h"
#include "src/protocols/dns/dns_tracker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  loupe::protocols::dns::Message message;
  loupe::protocols::dns::ParseMessage(bytes, &message);

  // Through the tracker as a UDP and as a TCP packet, so the length-prefix path runs too.
  static loupe::protocols::dns::DnsTracker tracker(64);
  loupe::flow::Flow packet;
  packet.time_ns = static_cast<int64_t>(size);
  packet.l4 = size % 2 == 0 ? loupe::flow::L4Protocol::kUdp : loupe::flow::L4Protocol::kTcp;
  packet.src_port = 53;
  loupe::flow::Flow l7;
  tracker.Process(packet, bytes, &l7);
  return 0;
}
