// The protocol registry (ARCHITECTURE.md principle 3): one row per protocol. Ids are stable and
// shared with the BPF side's inference (bpf/lib/protocol_inference.h). Inference is ordered (the
// first row whose rule accepts the bytes wins); the HTTP/1 and HTTP/2 rules are disjoint: HTTP/1
// wants a known method or "HTTP/1.", HTTP/2 its preface or frame headers whose type byte is <= 9.
#include "src/protocols/common/interface.h"
#include "src/protocols/http1/http1_parser.h"
#include "src/protocols/http2/http2_parser.h"

namespace loupe::protocols {

const std::vector<ProtocolDescriptor>& ProtocolRegistry() {
  static const std::vector<ProtocolDescriptor> kRegistry = {
      {http1::kProtocolId, "http1", &http1::InferHttp1, &http1::CreateHttp1Parser},
      {http2::kProtocolId, "http2", &http2::InferHttp2, &http2::CreateHttp2Parser,
       &http2::HeadersAreRequest},
  };
  return kRegistry;
}

const ProtocolDescriptor* FindProtocol(uint8_t id) {
  for (const ProtocolDescriptor& row : ProtocolRegistry()) {
    if (row.id == id) return &row;
  }
  return nullptr;
}

const ProtocolDescriptor* InferProtocol(std::span<const uint8_t> first_bytes,
                                        bool is_request_side) {
  for (const ProtocolDescriptor& row : ProtocolRegistry()) {
    if (row.infer(first_bytes, is_request_side)) return &row;
  }
  return nullptr;
}

}  // namespace loupe::protocols
