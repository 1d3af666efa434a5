#include "src/flow/flow.h"

#include "gtest/gtest.h"
#include "src/flow/filter.h"

namespace loupe::flow {
namespace {

TEST(IpAddressTest, ParsesAndFormatsBothFamilies) {
  IpAddress a;
  ASSERT_TRUE(IpAddress::Parse("198.18.0.2", &a));
  EXPECT_EQ(a.version, 4);
  EXPECT_EQ(a.ToString(), "198.18.0.2");
  ASSERT_TRUE(IpAddress::Parse("fd4c:6f75::2", &a));
  EXPECT_EQ(a.version, 6);
  EXPECT_EQ(a.ToString(), "fd4c:6f75::2");
  EXPECT_FALSE(IpAddress::Parse("198.18.0.256", &a));
  EXPECT_FALSE(IpAddress::Parse("", &a));
  EXPECT_EQ(IpAddress{}.ToString(), "");
}

TEST(IpAddressTest, FormatsEveryIpv4OctetWidth) {
  IpAddress a;
  char buf[46];
  for (const char* text : {"0.0.0.0", "255.255.255.255", "10.0.99.1", "1.22.133.4"}) {
    ASSERT_TRUE(IpAddress::Parse(text, &a));
    EXPECT_EQ(a.Format(buf), text);
  }
  ASSERT_TRUE(IpAddress::Parse("::ffff:10.1.2.3", &a));
  EXPECT_EQ(a.Format(buf), "::ffff:10.1.2.3");
  EXPECT_EQ(IpAddress{}.Format(buf), "");
}

TEST(FlowUuidTest, UniquePerFlowAndStable) {
  EXPECT_EQ(FlowUuid(7), FlowUuid(7));
  EXPECT_NE(FlowUuid(7), FlowUuid(8));
  const std::string uuid = FlowUuid(1);
  ASSERT_EQ(uuid.size(), 36u);
  EXPECT_EQ(uuid[8], '-');
  EXPECT_EQ(uuid[14], '4');  // version nibble
  EXPECT_TRUE(uuid[19] == '8' || uuid[19] == '9' || uuid[19] == 'a' || uuid[19] == 'b');
}

}  // namespace
}  // namespace loupe::flow
