// HPACK header block decoder (RFC 7541): static and dynamic tables, dynamic table size updates,
// integer and string literals, Huffman strings. One decoder per direction per connection.
//
// Unsynced mode (the agent joined a connection mid-way, or a header block was lost in a gap): the
// dynamic table's earlier contents are unknown. The decoder then keeps only the entries it saw
// inserted; they are the newest entries of the peer's table, so their indices agree with the
// encoder's. A reference past them yields a field with `known == false` instead of an error or a
// guess. Our eviction never removes an entry the encoder still has unless our size bound is lower
// than the encoder's, which only turns more references into unknowns, never into wrong values.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "src/protocols/common/parse_state.h"

namespace loupe::protocols::http2 {

inline constexpr uint32_t kDefaultHeaderTableSize = 4096;
// Bound on a table size the decoder accepts (SETTINGS may announce up to 2^32-1).
inline constexpr uint32_t kMaxHeaderTableSize = 64 * 1024;
// Bound on one decoded header field (name + value), as a hostile block could inflate it.
inline constexpr size_t kMaxFieldBytes = 64 * 1024;

struct HeaderField {
  std::string name;
  std::string value;
  bool known = true;  // false: a dynamic-table reference an unsynced decoder cannot resolve
};

class HpackDecoder {
 public:
  explicit HpackDecoder(uint32_t max_table_size = kDefaultHeaderTableSize);

  // Decodes one complete header block (HEADERS/PUSH_PROMISE + CONTINUATION fragments). Fields are
  // written to out[0..*count) (the vector is reused: strings keep their capacity). kInvalid: the
  // block is malformed; the table may then be inconsistent and the decoder becomes unsynced.
  ParseState Decode(std::span<const uint8_t> block, std::vector<HeaderField>* out, size_t* count);

  // SETTINGS_HEADER_TABLE_SIZE announced by this decoder's side: the bound for size updates.
  void SetMaxAllowedTableSize(uint32_t size);
  // Forgets the table: the decoder continues in unsynced mode.
  void MarkUnsynced();
  bool synced() const { return synced_; }

  // Current dynamic table size in RFC 7541 §4.1 units (sum of name + value + 32).
  size_t table_size() const { return table_size_; }
  size_t table_entries() const { return table_.size(); }
  uint32_t max_table_size() const { return max_table_size_; }
  // Dynamic entry by HPACK index (62 = newest); nullptr when out of range or unknown.
  const HeaderField* DynamicEntry(size_t index) const;

 private:
  struct Entry {
    HeaderField field;
    size_t size = 0;
  };
  // Resolves an index into name/value. Returns false for an invalid index (synced mode).
  bool Lookup(uint64_t index, HeaderField* out, bool name_only) const;
  void Insert(const HeaderField& field);
  void EvictTo(size_t size);

  std::deque<Entry> table_;
  size_t table_size_ = 0;
  uint32_t max_table_size_;
  uint32_t allowed_table_size_;
  bool synced_ = true;
};

// The RFC 7541 Appendix A static table, 1-based; index 0 and > 61 are invalid.
struct StaticEntry {
  const char* name;
  const char* value;
};
inline constexpr size_t kStaticTableSize = 61;
const StaticEntry& StaticTableEntry(size_t index);

}  // namespace loupe::protocols::http2
