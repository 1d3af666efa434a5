// SplitSocketData: a socket data event's head and HTTP/2 segments become pieces of the call, and
// malformed segment tables are refused.
#include <linux/types.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/intf/socket_trace.h"
#include "gtest/gtest.h"
#include "src/sensors/decode.h"

namespace loupe::sensors {
namespace {

// The bytes after a loupe_sock_data_event: `head`, then each segment's descriptor and bytes.
struct Payload {
  std::vector<uint8_t> bytes;
  explicit Payload(const std::string& head) : bytes(head.begin(), head.end()) {}
  Payload& Segment(uint32_t offset, const std::string& data, uint32_t length_field = UINT32_MAX) {
    loupe_sock_segment seg{
        offset, length_field == UINT32_MAX ? static_cast<uint32_t>(data.size()) : length_field};
    const auto* p = reinterpret_cast<const uint8_t*>(&seg);
    bytes.insert(bytes.end(), p, p + sizeof(seg));
    bytes.insert(bytes.end(), data.begin(), data.end());
    return *this;
  }
};

std::string Text(std::span<const uint8_t> s) { return std::string(s.begin(), s.end()); }

TEST(SplitSocketDataTest, HeadAloneIsOnePieceSpanningTheCall) {
  std::array<SocketDataPiece, kMaxSocketDataPieces> pieces;
  Payload p("abcd");
  ASSERT_EQ(SplitSocketData(p.bytes, 4, 0, 100, &pieces), 1u);
  EXPECT_EQ(pieces[0].offset, 0u);
  EXPECT_EQ(pieces[0].span, 100u);
  EXPECT_EQ(Text(pieces[0].bytes), "abcd");
}

TEST(SplitSocketDataTest, SegmentsBecomePiecesWithTheGapsBetween) {
  // A 5000-byte call: 64 bytes of head, a DATA frame header at 3000, a trailer frame ending the
  // call at 4980..5000.
  std::array<SocketDataPiece, kMaxSocketDataPieces> pieces;
  const std::string head(64, 'h');
  Payload p(head);
  p.Segment(3000, "123456789").Segment(4980, std::string(20, 't'));
  ASSERT_EQ(SplitSocketData(p.bytes, 64, 2, 5000, &pieces), 3u);
  EXPECT_EQ(pieces[0].offset, 0u);
  EXPECT_EQ(pieces[0].span, 3000u);
  EXPECT_EQ(Text(pieces[0].bytes), head);
  EXPECT_EQ(pieces[1].offset, 3000u);
  EXPECT_EQ(pieces[1].span, 1980u);
  EXPECT_EQ(Text(pieces[1].bytes), "123456789");
  EXPECT_EQ(pieces[2].offset, 4980u);
  EXPECT_EQ(pieces[2].span, 20u);
  EXPECT_EQ(Text(pieces[2].bytes), std::string(20, 't'));
}

TEST(SplitSocketDataTest, SegmentRightAfterTheHeadIsAccepted) {
  // The rest of a frame whose header the head cut.
  std::array<SocketDataPiece, kMaxSocketDataPieces> pieces;
  Payload p("1234");
  p.Segment(4, "56789");
  ASSERT_EQ(SplitSocketData(p.bytes, 4, 1, 9000, &pieces), 2u);
  EXPECT_EQ(pieces[0].span, 4u);
  EXPECT_EQ(pieces[1].offset, 4u);
  EXPECT_EQ(pieces[1].span, 8996u);
}

TEST(SplitSocketDataTest, ContinuationEventHasAnEmptyHeadBeforeItsFirstSegment) {
  // The rest of a call whose segments did not fit one event: no head, the first segment at the
  // event's first byte. The head piece spans nothing (the sensor skips it).
  std::array<SocketDataPiece, kMaxSocketDataPieces> pieces;
  Payload p("");
  p.Segment(0, "123456789").Segment(30, "abcdefghi");
  ASSERT_EQ(SplitSocketData(p.bytes, 0, 2, 60, &pieces), 3u);
  EXPECT_EQ(pieces[0].span, 0u);
  EXPECT_TRUE(pieces[0].bytes.empty());
  EXPECT_EQ(pieces[1].offset, 0u);
  EXPECT_EQ(pieces[1].span, 30u);
  EXPECT_EQ(Text(pieces[1].bytes), "123456789");
  EXPECT_EQ(pieces[2].offset, 30u);
  EXPECT_EQ(pieces[2].span, 30u);
}

TEST(SplitSocketDataTest, MalformedTablesAreRefused) {
  std::array<SocketDataPiece, kMaxSocketDataPieces> pieces;
  const std::string head(16, 'h');
  struct Case {
    const char* what;
    Payload payload;
    uint32_t copied, segments, original_size;
  };
  std::vector<Case> cases;
  cases.push_back({"head longer than the call", Payload(head), 16, 0, 10});
  cases.push_back({"payload shorter than the head", Payload("hh"), 16, 0, 100});
  cases.push_back({"bytes left over", Payload(head), 8, 0, 100});
  cases.push_back({"segment overlaps the head", Payload(head).Segment(10, "xx"), 16, 1, 100});
  cases.push_back(
      {"segments out of order", Payload(head).Segment(50, "xx").Segment(40, "yy"), 16, 2, 100});
  cases.push_back(
      {"segments overlap", Payload(head).Segment(50, "xxxx").Segment(52, "y"), 16, 2, 100});
  cases.push_back({"segment past the call", Payload(head).Segment(98, "xxxx"), 16, 1, 100});
  cases.push_back({"empty segment", Payload(head).Segment(50, ""), 16, 1, 100});
  cases.push_back(
      {"length field beyond the record", Payload(head).Segment(50, "xx", 40), 16, 1, 100});
  cases.push_back({"fewer segments than counted", Payload(head).Segment(50, "xx"), 16, 2, 100});
  cases.push_back({"more segments than counted", Payload(head).Segment(50, "xx"), 16, 0, 100});
  cases.push_back({"descriptor cut", Payload(head + "abc"), 16, 1, 100});
  Payload many(head);
  for (uint32_t i = 0; i <= LOUPE_SOCK_MAX_SEGMENTS; ++i) many.Segment(20 + 10 * i, "x");
  // Every segment inside the call: only their number is wrong.
  cases.push_back({"too many segments", many, 16, LOUPE_SOCK_MAX_SEGMENTS + 1, 2000});
  for (const Case& c : cases) {
    EXPECT_EQ(SplitSocketData(c.payload.bytes, c.copied, c.segments, c.original_size, &pieces), 0u)
        << c.what;
  }
  // The same table with LOUPE_SOCK_MAX_SEGMENTS segments is fine.
  Payload most(head);
  for (uint32_t i = 0; i < LOUPE_SOCK_MAX_SEGMENTS; ++i) most.Segment(20 + 10 * i, "x");
  EXPECT_EQ(SplitSocketData(most.bytes, 16, LOUPE_SOCK_MAX_SEGMENTS, 2000, &pieces),
            kMaxSocketDataPieces);
}

}  // namespace
}  // namespace loupe::sensors
