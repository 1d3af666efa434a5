#include "src/protocols/dns/dns_parser.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "src/base/utf8.h"

namespace loupe::protocols::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameLength = 255;

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  bool U16(uint16_t* v) {
    if (pos_ + 2 > data_.size()) return false;
    *v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    uint16_t hi = 0;
    uint16_t lo = 0;
    if (!U16(&hi) || !U16(&lo)) return false;
    *v = static_cast<uint32_t>(hi) << 16 | lo;
    return true;
  }
  // Reads a possibly compressed name starting at the current position. Returns kSuccess,
  // kNeedsMoreData (ran off the end) or kInvalid.
  ParseState Name(std::string* out) {
    out->clear();
    size_t pos = pos_;
    bool jumped = false;
    size_t jump_floor = pos_;  // pointers must go strictly backwards: no loops
    while (true) {
      if (pos >= data_.size()) return ParseState::kNeedsMoreData;
      const uint8_t len = data_[pos];
      if ((len & 0xC0) == 0xC0) {
        if (pos + 1 >= data_.size()) return ParseState::kNeedsMoreData;
        const size_t target = static_cast<size_t>(len & 0x3F) << 8 | data_[pos + 1];
        if (target >= jump_floor) return ParseState::kInvalid;
        if (!jumped) pos_ = pos + 2;
        jumped = true;
        jump_floor = target;
        pos = target;
        continue;
      }
      if ((len & 0xC0) != 0) return ParseState::kInvalid;  // extended label types
      if (len == 0) {
        if (!jumped) pos_ = pos + 1;
        if (out->empty()) *out = ".";
        // Labels are raw bytes; flows (protobuf strings) and labels need valid UTF-8.
        MakeValidUtf8(out);
        return ParseState::kSuccess;
      }
      if (pos + 1 + len > data_.size()) return ParseState::kNeedsMoreData;
      if (out->size() + len + 1 > kMaxNameLength) return ParseState::kInvalid;
      out->append(reinterpret_cast<const char*>(data_.data() + pos + 1), len);
      out->push_back('.');
      pos += 1 + len;
    }
  }
  bool Skip(size_t n) {
    if (pos_ + n > data_.size()) return false;
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }
  std::span<const uint8_t> data() const { return data_; }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace

std::string TypeName(uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 41:
      return "OPT";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
    default:
      return absl::StrCat("TYPE", type);
  }
}

ParseState ParseMessage(std::span<const uint8_t> data, Message* out) {
  if (data.size() < kHeaderSize) return ParseState::kNeedsMoreData;
  Reader r(data);
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;
  r.U16(&out->id);
  r.U16(&flags);
  r.U16(&qdcount);
  r.U16(&ancount);
  r.U16(&nscount);
  r.U16(&arcount);
  out->is_response = (flags & 0x8000) != 0;
  out->opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  out->truncated = (flags & 0x0200) != 0;
  out->rcode = static_cast<uint8_t>(flags & 0xF);
  if (out->opcode > 6 || qdcount > kMaxRecords) return ParseState::kInvalid;
  out->questions.clear();
  out->answers.clear();
  for (uint16_t i = 0; i < qdcount; ++i) {
    Question q;
    if (ParseState s = r.Name(&q.name); s != ParseState::kSuccess) return s;
    if (!r.U16(&q.qtype) || !r.U16(&q.qclass)) return ParseState::kNeedsMoreData;
    out->questions.push_back(std::move(q));
  }
  const size_t answers = ancount < kMaxRecords ? ancount : kMaxRecords;
  for (size_t i = 0; i < answers; ++i) {
    Answer a;
    uint16_t rclass = 0;
    uint16_t rdlength = 0;
    if (ParseState s = r.Name(&a.name); s != ParseState::kSuccess) return s;
    if (!r.U16(&a.type) || !r.U16(&rclass) || !r.U32(&a.ttl) || !r.U16(&rdlength)) {
      return ParseState::kNeedsMoreData;
    }
    const size_t rdata = r.pos();
    if (rdata + rdlength > data.size()) return ParseState::kNeedsMoreData;
    char text[INET6_ADDRSTRLEN] = {};
    if (a.type == 1) {
      if (rdlength != 4) return ParseState::kInvalid;
      inet_ntop(AF_INET, data.data() + rdata, text, sizeof(text));
      a.address = text;
    } else if (a.type == 28) {
      if (rdlength != 16) return ParseState::kInvalid;
      inet_ntop(AF_INET6, data.data() + rdata, text, sizeof(text));
      a.address = text;
    } else if (a.type == 5) {
      Reader target(data.first(rdata + rdlength));
      target.Skip(rdata);
      if (ParseState s = target.Name(&a.target); s != ParseState::kSuccess) {
        return ParseState::kInvalid;
      }
    }
    r.Skip(rdlength);
    out->answers.push_back(std::move(a));
  }
  return ParseState::kSuccess;
}

}  // namespace loupe::protocols::dns
