#include "src/protocols/http2/hpack.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "src/protocols/http2/huffman.h"

namespace loupe::protocols::http2 {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::vector<uint8_t> Dehex(std::string_view hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

Fields DecodeOk(HpackDecoder& d, std::string_view hex) {
  std::vector<HeaderField> fields;
  size_t count = 0;
  const auto block = Dehex(hex);
  EXPECT_EQ(d.Decode(block, &fields, &count), ParseState::kSuccess) << hex;
  Fields out;
  for (size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(fields[i].known);
    out.emplace_back(fields[i].name, fields[i].value);
  }
  return out;
}

Fields Table(const HpackDecoder& d) {
  Fields out;
  for (size_t i = 0; i < d.table_entries(); ++i) {
    const HeaderField* f = d.DynamicEntry(62 + i);
    out.emplace_back(f->name, f->value);
  }
  return out;
}

// RFC 7541 Appendix C.2.
TEST(HpackTest, C2SingleRepresentations) {
  {
    HpackDecoder d;
    EXPECT_EQ(DecodeOk(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
              (Fields{{"custom-key", "custom-header"}}));
    EXPECT_EQ(d.table_size(), 55u);
    EXPECT_EQ(Table(d), (Fields{{"custom-key", "custom-header"}}));
  }
  {
    HpackDecoder d;
    EXPECT_EQ(DecodeOk(d, "040c 2f73 616d 706c 652f 7061 7468"),
              (Fields{{":path", "/sample/path"}}));
    EXPECT_EQ(d.table_size(), 0u);
  }
  {
    HpackDecoder d;
    EXPECT_EQ(DecodeOk(d, "1008 7061 7373 776f 7264 0673 6563 7265 74"),
              (Fields{{"password", "secret"}}));
    EXPECT_EQ(d.table_size(), 0u);
  }
  {
    HpackDecoder d;
    EXPECT_EQ(DecodeOk(d, "82"), (Fields{{":method", "GET"}}));
    EXPECT_EQ(d.table_size(), 0u);
  }
}

struct Step {
  const char* hex;
  Fields headers;
  Fields table;
  size_t table_size;
};

void RunSeries(uint32_t table_size, const std::vector<Step>& steps) {
  HpackDecoder d(table_size);
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(DecodeOk(d, steps[i].hex), steps[i].headers);
    EXPECT_EQ(Table(d), steps[i].table);
    EXPECT_EQ(d.table_size(), steps[i].table_size);
  }
}

const Fields kC3Headers1 = {
    {":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "www.example.com"}};
const Fields kC3Headers2 = {{":method", "GET"},
                            {":scheme", "http"},
                            {":path", "/"},
                            {":authority", "www.example.com"},
                            {"cache-control", "no-cache"}};
const Fields kC3Headers3 = {{":method", "GET"},
                            {":scheme", "https"},
                            {":path", "/index.html"},
                            {":authority", "www.example.com"},
                            {"custom-key", "custom-value"}};
const Fields kC3Table1 = {{":authority", "www.example.com"}};
const Fields kC3Table2 = {{"cache-control", "no-cache"}, {":authority", "www.example.com"}};
const Fields kC3Table3 = {{"custom-key", "custom-value"},
                          {"cache-control", "no-cache"},
                          {":authority", "www.example.com"}};

TEST(HpackTest, C3RequestsWithoutHuffman) {
  RunSeries(4096,
            {
                {"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", kC3Headers1, kC3Table1, 57},
                {"8286 84be 5808 6e6f 2d63 6163 6865", kC3Headers2, kC3Table2, 110},
                {"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                 kC3Headers3, kC3Table3, 164},
            });
}

TEST(HpackTest, C4RequestsWithHuffman) {
  RunSeries(4096, {
                      {"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", kC3Headers1, kC3Table1, 57},
                      {"8286 84be 5886 a8eb 1064 9cbf", kC3Headers2, kC3Table2, 110},
                      {"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", kC3Headers3,
                       kC3Table3, 164},
                  });
}

const Fields kC5Headers1 = {{":status", "302"},
                            {"cache-control", "private"},
                            {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                            {"location", "https://www.example.com"}};
const Fields kC5Table1 = {{"location", "https://www.example.com"},
                          {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                          {"cache-control", "private"},
                          {":status", "302"}};
const Fields kC5Headers2 = {{":status", "307"},
                            {"cache-control", "private"},
                            {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                            {"location", "https://www.example.com"}};
const Fields kC5Table2 = {{":status", "307"},
                          {"location", "https://www.example.com"},
                          {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                          {"cache-control", "private"}};
const Fields kC5Headers3 = {
    {":status", "200"},
    {"cache-control", "private"},
    {"date", "Mon, 21 Oct 2013 20:13:22 GMT"},
    {"location", "https://www.example.com"},
    {"content-encoding", "gzip"},
    {"set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"}};
const Fields kC5Table3 = {
    {"set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"},
    {"content-encoding", "gzip"},
    {"date", "Mon, 21 Oct 2013 20:13:22 GMT"}};

TEST(HpackTest, C5ResponsesWithoutHuffmanAndEviction) {
  RunSeries(256, {
                     {"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 "
                      "3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 "
                      "7861 6d70 6c65 2e63 6f6d",
                      kC5Headers1, kC5Table1, 222},
                     {"4803 3330 37c1 c0bf", kC5Headers2, kC5Table2, 222},
                     {"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 "
                      "474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 "
                      "454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 "
                      "6572 7369 6f6e 3d31",
                      kC5Headers3, kC5Table3, 215},
                 });
}

TEST(HpackTest, C6ResponsesWithHuffmanAndEviction) {
  RunSeries(256, {
                     {"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 "
                      "82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                      kC5Headers1, kC5Table1, 222},
                     {"4883 640e ffc1 c0bf", kC5Headers2, kC5Table2, 222},
                     {"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b "
                      "d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 "
                      "0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                      kC5Headers3, kC5Table3, 215},
                 });
}

TEST(HpackTest, DynamicTableSizeUpdate) {
  HpackDecoder d;
  DecodeOk(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
  EXPECT_EQ(d.table_entries(), 1u);
  // Size update to 0 (0x20) empties the table; then to 4096 (0x3f e1 1f).
  EXPECT_TRUE(DecodeOk(d, "20").empty());
  EXPECT_EQ(d.table_entries(), 0u);
  EXPECT_EQ(d.max_table_size(), 0u);
  EXPECT_TRUE(DecodeOk(d, "3fe1 1f").empty());
  EXPECT_EQ(d.max_table_size(), 4096u);
  // Above the SETTINGS bound is an error.
  d.SetMaxAllowedTableSize(100);
  std::vector<HeaderField> fields;
  size_t count = 0;
  const auto too_big = Dehex("3fe1 1f");
  EXPECT_EQ(d.Decode(too_big, &fields, &count), ParseState::kInvalid);
}

TEST(HpackTest, InvalidInputs) {
  const char* cases[] = {
      "80",                       // index 0
      "be",                       // dynamic index 62 in an empty table
      "ff ff ff ff ff ff ff 7f",  // integer overflow
      "400a 6375",                // string longer than the block
      "0085 ffff ffff ff",        // Huffman: EOS / padding too long
      "41",                       // truncated literal
  };
  for (const char* hex : cases) {
    HpackDecoder d;
    std::vector<HeaderField> fields;
    size_t count = 0;
    const auto block = Dehex(hex);
    EXPECT_EQ(d.Decode(block, &fields, &count), ParseState::kInvalid) << hex;
  }
}

TEST(HpackTest, UnsyncedDecoderResolvesOnlyWhatItSaw) {
  HpackDecoder d;
  d.MarkUnsynced();
  std::vector<HeaderField> fields;
  size_t count = 0;
  // Indexed 62 (unknown), static :method GET, then a literal with indexing of custom-key.
  auto block = Dehex("be 82 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
  ASSERT_EQ(d.Decode(block, &fields, &count), ParseState::kSuccess);
  ASSERT_EQ(count, 3u);
  EXPECT_FALSE(fields[0].known);
  EXPECT_TRUE(fields[1].known);
  EXPECT_EQ(fields[1].value, "GET");
  EXPECT_EQ(fields[2].name, "custom-key");
  // 62 is now the entry we saw inserted; 63 is older than the join: unknown.
  block = Dehex("be bf");
  ASSERT_EQ(d.Decode(block, &fields, &count), ParseState::kSuccess);
  ASSERT_EQ(count, 2u);
  EXPECT_TRUE(fields[0].known);
  EXPECT_EQ(fields[0].value, "custom-header");
  EXPECT_FALSE(fields[1].known);
  // A size update to 0 makes the state known again.
  block = Dehex("20 3fe1 1f");
  ASSERT_EQ(d.Decode(block, &fields, &count), ParseState::kSuccess);
  EXPECT_TRUE(d.synced());
}

TEST(HuffmanTest, RfcStrings) {
  struct Case {
    const char* hex;
    const char* text;
  };
  const Case cases[] = {
      {"f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"},
      {"a8eb 1064 9cbf", "no-cache"},
      {"25a8 49e9 5ba9 7d7f", "custom-key"},
      {"25a8 49e9 5bb8 e8b4 bf", "custom-value"},
      {"6402", "302"},
      {"aec3 771a 4b", "private"},
      {"d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT"},
      {"9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com"},
      {"", ""},
  };
  for (const Case& c : cases) {
    std::string out;
    const auto in = Dehex(c.hex);
    EXPECT_TRUE(HuffmanDecode(in, &out)) << c.hex;
    EXPECT_EQ(out, c.text);
  }
}

TEST(HuffmanTest, AllSymbolsRoundTrip) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t len = 0; len <= all.size(); len += 7) {
    const std::string text = all.substr(all.size() - len) + all.substr(0, len);
    std::string encoded;
    HuffmanEncode(text, &encoded);
    std::string decoded;
    ASSERT_TRUE(HuffmanDecode({reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size()},
                              &decoded));
    EXPECT_EQ(decoded, text);
  }
}

TEST(HuffmanTest, LongCodesEosAndPadding) {
  // 0x00 = 13 bits 1111111111000, padded with ones: 1111 1111 1100 0111 -> ff c7.
  std::string out;
  const std::vector<uint8_t> zero = {0xff, 0xc7};
  ASSERT_TRUE(HuffmanDecode(zero, &out));
  EXPECT_EQ(out, std::string(1, '\0'));
  out.clear();
  // EOS (30 ones) must be rejected.
  out.clear();
  const std::vector<uint8_t> eos = {0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(HuffmanDecode(eos, &out));
  // Padding of zeros is invalid.
  out.clear();
  const std::vector<uint8_t> zero_pad = {0x00};  // '0' (00000) + 000 padding
  EXPECT_FALSE(HuffmanDecode(zero_pad, &out));
}

}  // namespace
}  // namespace loupe::protocols::http2
