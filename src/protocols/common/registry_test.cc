#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

#include "src/protocols/common/interface.h"

namespace loupe::protocols {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(RegistryTest, RowsHaveStableUniqueIds) {
  const auto& rows = ProtocolRegistry();
  ASSERT_EQ(rows.size(), 2u);
  std::set<uint8_t> ids;
  for (const ProtocolDescriptor& row : rows) {
    EXPECT_TRUE(ids.insert(row.id).second) << row.name;
    EXPECT_NE(row.infer, nullptr);
    ASSERT_NE(row.create, nullptr);
    EXPECT_NE(row.create(ParserOptions{}), nullptr);
  }
  ASSERT_NE(FindProtocol(1), nullptr);
  EXPECT_EQ(std::string(FindProtocol(1)->name), "http1");
  ASSERT_NE(FindProtocol(2), nullptr);
  EXPECT_EQ(std::string(FindProtocol(2)->name), "http2");
  EXPECT_EQ(FindProtocol(0), nullptr);
  EXPECT_EQ(FindProtocol(200), nullptr);
}

TEST(RegistryTest, Inference) {
  const ProtocolDescriptor* p = InferProtocol(Bytes("POST /x HTTP/1.1\r\n"), true);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, 1);
  p = InferProtocol(Bytes("HTTP/1.1 503 Unavailable\r\n"), false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, 1);
  p = InferProtocol(Bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), true);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, 2);
  p = InferProtocol(Bytes(std::string_view("\0\0\0\x04\0\0\0\0\0", 9)), false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, 2);
  EXPECT_EQ(InferProtocol(Bytes("SSH-2.0-OpenSSH_9.2\r\n"), true), nullptr);
  EXPECT_EQ(InferProtocol(Bytes(""), true), nullptr);
}

}  // namespace
}  // namespace loupe::protocols
