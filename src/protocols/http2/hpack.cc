#include "src/protocols/http2/hpack.h"

#include <algorithm>
#include <cstring>

#include "src/protocols/http2/huffman.h"

namespace loupe::protocols::http2 {
namespace {

constexpr StaticEntry kStaticTable[kStaticTableSize + 1] = {
    {"", ""},
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};

// RFC 7541 §5.1. `prefix_bits` low bits of the first byte hold the value's start.
bool DecodeInt(std::span<const uint8_t> in, size_t* pos, int prefix_bits, uint64_t* out) {
  if (*pos >= in.size()) return false;
  const uint8_t mask = static_cast<uint8_t>((1u << prefix_bits) - 1);
  uint64_t value = in[(*pos)++] & mask;
  if (value < mask) {
    *out = value;
    return true;
  }
  int shift = 0;
  for (;;) {
    if (*pos >= in.size() || shift > 28) return false;  // truncated, or beyond 2^35
    const uint8_t b = in[(*pos)++];
    value += static_cast<uint64_t>(b & 0x7f) << shift;
    shift += 7;
    if ((b & 0x80) == 0) break;
  }
  *out = value;
  return true;
}

// RFC 7541 §5.2.
bool DecodeString(std::span<const uint8_t> in, size_t* pos, std::string* out) {
  if (*pos >= in.size()) return false;
  const bool huffman = (in[*pos] & 0x80) != 0;
  uint64_t length = 0;
  if (!DecodeInt(in, pos, 7, &length)) return false;
  if (length > in.size() - *pos) return false;
  const auto bytes = in.subspan(*pos, static_cast<size_t>(length));
  *pos += static_cast<size_t>(length);
  out->clear();
  if (!huffman) {
    out->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return true;
  }
  return HuffmanDecode(bytes, out);
}

}  // namespace

const StaticEntry& StaticTableEntry(size_t index) {
  return kStaticTable[index <= kStaticTableSize ? index : 0];
}

HpackDecoder::HpackDecoder(uint32_t max_table_size)
    : max_table_size_(std::min(max_table_size, kMaxHeaderTableSize)),
      allowed_table_size_(max_table_size_) {}

void HpackDecoder::SetMaxAllowedTableSize(uint32_t size) {
  // The encoder acknowledges a lower bound with a size update in its next block; the table
  // shrinks then, not here (blocks encoded before the SETTINGS took effect may still use it).
  allowed_table_size_ = std::min(size, kMaxHeaderTableSize);
}

void HpackDecoder::MarkUnsynced() {
  synced_ = false;
  table_.clear();
  table_size_ = 0;
}

const HeaderField* HpackDecoder::DynamicEntry(size_t index) const {
  if (index <= kStaticTableSize || index - kStaticTableSize - 1 >= table_.size()) return nullptr;
  const Entry& e = table_[index - kStaticTableSize - 1];
  return e.field.known ? &e.field : nullptr;
}

bool HpackDecoder::Lookup(uint64_t index, HeaderField* out, bool name_only) const {
  if (index == 0) return false;
  if (index <= kStaticTableSize) {
    const StaticEntry& e = kStaticTable[index];
    out->name.assign(e.name);
    if (!name_only) out->value.assign(e.value);
    out->known = true;
    return true;
  }
  const uint64_t dyn = index - kStaticTableSize - 1;
  if (dyn >= table_.size()) {
    if (synced_) return false;
    out->name.clear();
    out->value.clear();
    out->known = false;
    return true;
  }
  const Entry& e = table_[dyn];
  out->name = e.field.name;
  if (!name_only) out->value = e.field.value;
  out->known = e.field.known;
  return true;
}

void HpackDecoder::EvictTo(size_t size) {
  while (table_size_ > size && !table_.empty()) {
    table_size_ -= table_.back().size;
    table_.pop_back();
  }
}

void HpackDecoder::Insert(const HeaderField& field) {
  // RFC 7541 §4.1; an entry of unknown name is counted by its value only: an underestimate, so
  // we evict no earlier than the encoder does.
  const size_t size = field.name.size() + field.value.size() + 32;
  if (size > max_table_size_) {
    // §4.4: an entry larger than the table empties it and is not added.
    table_.clear();
    table_size_ = 0;
    return;
  }
  EvictTo(max_table_size_ - size);
  Entry& e = table_.emplace_front();
  e.field = field;
  e.size = size;
  table_size_ += size;
}

ParseState HpackDecoder::Decode(std::span<const uint8_t> block, std::vector<HeaderField>* out,
                                size_t* count) {
  *count = 0;
  size_t pos = 0;
  auto fail = [this]() {
    MarkUnsynced();
    return ParseState::kInvalid;
  };
  while (pos < block.size()) {
    const uint8_t b = block[pos];
    if ((b & 0xe0) == 0x20) {
      // §6.3 dynamic table size update.
      uint64_t size = 0;
      if (!DecodeInt(block, &pos, 5, &size)) return fail();
      if (size > allowed_table_size_ && synced_) return fail();
      max_table_size_ = static_cast<uint32_t>(std::min<uint64_t>(size, kMaxHeaderTableSize));
      EvictTo(max_table_size_);
      // An emptied table is a known state again.
      if (max_table_size_ == 0) synced_ = true;
      continue;
    }
    if (*count == out->size()) out->emplace_back();
    HeaderField& f = (*out)[*count];
    if (b & 0x80) {
      // §6.1 indexed field.
      uint64_t index = 0;
      if (!DecodeInt(block, &pos, 7, &index) || !Lookup(index, &f, false)) return fail();
      ++*count;
      continue;
    }
    // §6.2 literals: with incremental indexing (01), never indexed (0001), without (0000).
    const bool indexing = (b & 0xc0) == 0x40;
    const int prefix = indexing ? 6 : 4;
    uint64_t index = 0;
    if (!DecodeInt(block, &pos, prefix, &index)) return fail();
    if (index == 0) {
      if (!DecodeString(block, &pos, &f.name)) return fail();
      f.known = true;
    } else if (!Lookup(index, &f, true)) {
      return fail();
    }
    if (!DecodeString(block, &pos, &f.value)) return fail();
    if (f.name.size() + f.value.size() > kMaxFieldBytes) return fail();
    if (indexing) Insert(f);
    ++*count;
  }
  return ParseState::kSuccess;
}

}  // namespace loupe::protocols::http2
