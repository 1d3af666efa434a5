#include "src/identity/netns_addresses.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::identity {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

flow::IpAddress Ip(const std::string& text) {
  flow::IpAddress ip;
  EXPECT_TRUE(flow::IpAddress::Parse(text, &ip)) << text;
  return ip;
}

// /proc/net/fib_trie of a lab pod (recorded): loopback plus eth0 192.0.2.2/24; the Main and
// Local tables both list the leaves.
constexpr char kPodFibTrie[] = R"(Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
)";

// A node with two interfaces and a secondary address: 10.0.0.5 and 10.0.0.9 on eth0, 172.17.0.1
// on docker0; a leaf with both a LOCAL and a BROADCAST route.
constexpr char kNodeFibTrie[] = R"(Main:
  +-- 0.0.0.0/0 3 0 6
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.0.0/24 2 0 2
        +-- 10.0.0.0/28 2 0 2
           |-- 10.0.0.0
              /24 link UNICAST
           +-- 10.0.0.4/30 2 0 2
              |-- 10.0.0.5
                 /32 host LOCAL
        |-- 10.0.0.9
           /32 host LOCAL
        |-- 10.0.0.255
           /32 link BROADCAST
     |-- 172.17.0.1
        /32 host LOCAL
        /16 link UNICAST
)";

TEST(FibTrieTest, RecordedPodTextGivesItsAddressOnce) {
  EXPECT_THAT(ParseFibTrieLocalAddresses(kPodFibTrie), ElementsAre(Ip("192.0.2.2")));
}

TEST(FibTrieTest, EveryLocalLeafInOrder) {
  EXPECT_THAT(ParseFibTrieLocalAddresses(kNodeFibTrie),
              ElementsAre(Ip("10.0.0.5"), Ip("10.0.0.9"), Ip("172.17.0.1")));
}

TEST(FibTrieTest, BadInputGivesNothingAndNeverThrows) {
  const char* const cases[] = {
      "",
      "\n\n\n",
      "/32 host LOCAL\n",                             // a marker with no leaf before it
      "     |-- not-an-address\n  /32 host LOCAL\n",  // the leaf is not an address
      "     |-- \n  /32 host LOCAL\n",                // empty leaf
      "     |-- 999.1.1.1\n  /32 host LOCAL\n",
      "     |-- fd00::1\n  /32 host LOCAL\n",  // not IPv4
      "     |-- 10.0.0.1\n  /32 host LOCALX\n",
      "     |-- 10.0.0.1\n  /24 host LOCAL\n",  // not a host route
      "     |-- 10.0.0.1",                      // truncated before the route line
      "\x01\x02\xff|-- \xff\n/32 host LOCAL",
  };
  for (const char* text : cases) EXPECT_THAT(ParseFibTrieLocalAddresses(text), IsEmpty()) << text;
  // Truncated in the middle of the second table: what came before still counts.
  const std::string full(kPodFibTrie);
  const std::string truncated = full.substr(0, full.find("Local:") + 60);
  EXPECT_THAT(ParseFibTrieLocalAddresses(truncated), ElementsAre(Ip("192.0.2.2")));
}

TEST(IfInet6Test, SkipsLoopbackAndLinkLocal) {
  constexpr char kRecorded[] =
      "00000000000000000000000000000001 01 80 10 80       lo\n"
      "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
      "fd000000000000000000000000000002 04 40 00 82     eth0\n";
  EXPECT_THAT(ParseIfInet6Addresses(kRecorded), ElementsAre(Ip("fd00::2")));
}

TEST(IfInet6Test, BadLinesAreSkipped) {
  const std::string text =
      "fd00000000000000000000000000000g 04 40 00 82 eth0\n"   // not hex
      "fd00000000000000000000000000002 04 40 00 82 eth0\n"    // 31 digits
      "fd0000000000000000000000000000022 04 40 00 82 eth0\n"  // 33 digits
      "\n"
      "garbage\n"
      "FD000000000000000000000000000003 04 40 00 82 eth0\n"  // upper case is hex too
      "fd000000000000000000000000000003 04 40 00 82 eth1";   // again, no newline
  EXPECT_THAT(ParseIfInet6Addresses(text), ElementsAre(Ip("fd00::3")));
}

TEST(NetnsAddressesTest, ReadsBothFilesOfAProcRoot) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("netns_addresses_test." + std::to_string(getpid()));
  std::filesystem::create_directories(root / "42" / "net");
  std::ofstream(root / "42" / "net" / "fib_trie") << kNodeFibTrie;
  std::ofstream(root / "42" / "net" / "if_inet6")
      << "fd000000000000000000000000000002 04 40 00 82     eth0\n";
  EXPECT_THAT(NetnsAddressesOf(42, root.string()),
              ElementsAre(Ip("10.0.0.5"), Ip("10.0.0.9"), Ip("172.17.0.1"), Ip("fd00::2")));
  EXPECT_THAT(NetnsAddressesOf(43, root.string()), IsEmpty());  // gone
  std::filesystem::remove_all(root);
}

// The test's own namespace: whatever it holds, loopback never appears.
TEST(NetnsAddressesTest, OwnProcessHasNoLoopback) {
  for (const flow::IpAddress& ip : NetnsAddressesOf(static_cast<uint32_t>(getpid()))) {
    EXPECT_NE(ip, Ip("127.0.0.1"));
    EXPECT_NE(ip, Ip("::1"));
  }
}

}  // namespace
}  // namespace loupe::identity
