#include "src/identity/netns_addresses.h"

#include <algorithm>

#include "src/base/read_file.h"
#include "src/base/strings.h"

namespace loupe::identity {
namespace {

// Calls fn(line) for every line of `text` (without the newline).
template <typename Fn>
void ForEachLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const size_t end = text.find('\n');
    fn(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AddOnce(const flow::IpAddress& ip, std::vector<flow::IpAddress>* out) {
  if (std::find(out->begin(), out->end(), ip) == out->end()) out->push_back(ip);
}

}  // namespace

std::vector<flow::IpAddress> ParseFibTrieLocalAddresses(std::string_view fib_trie) {
  std::vector<flow::IpAddress> out;
  std::string_view leaf;  // the address of the last "|-- <address>" line
  ForEachLine(fib_trie, [&](std::string_view line) {
    const size_t marker = line.find("|-- ");
    if (marker != std::string_view::npos) {
      leaf = StripWhitespace(line.substr(marker + 4));
      return;
    }
    // A leaf's route lines: "/32 host LOCAL" is an address of this namespace.
    const std::string_view route = StripWhitespace(line);
    if (route != "/32 host LOCAL" || leaf.empty()) return;
    flow::IpAddress ip;
    if (!flow::IpAddress::Parse(std::string(leaf), &ip) || ip.version != 4) return;
    if (ip.bytes[0] == 127) return;  // loopback
    AddOnce(ip, &out);
  });
  return out;
}

std::vector<flow::IpAddress> ParseIfInet6Addresses(std::string_view if_inet6) {
  std::vector<flow::IpAddress> out;
  ForEachLine(if_inet6, [&](std::string_view line) {
    line = StripWhitespace(line);
    const std::string_view hex = line.substr(0, line.find(' '));
    if (hex.size() != 32) return;
    flow::IpAddress ip;
    ip.version = 6;
    for (size_t i = 0; i < 16; ++i) {
      const int hi = HexValue(hex[i * 2]);
      const int lo = HexValue(hex[i * 2 + 1]);
      if (hi < 0 || lo < 0) return;
      ip.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    const bool loopback =
        std::all_of(ip.bytes.begin(), ip.bytes.begin() + 15, [](uint8_t b) { return b == 0; }) &&
        ip.bytes[15] == 1;
    const bool link_local = ip.bytes[0] == 0xfe && (ip.bytes[1] & 0xc0) == 0x80;
    if (!loopback && !link_local) AddOnce(ip, &out);
  });
  return out;
}

std::vector<flow::IpAddress> NetnsAddressesOf(uint32_t pid, const std::string& proc_root) {
  const std::string base = proc_root + "/" + std::to_string(pid) + "/net/";
  std::vector<flow::IpAddress> out = ParseFibTrieLocalAddresses(ReadFileOrEmpty(base + "fib_trie"));
  for (const flow::IpAddress& ip : ParseIfInet6Addresses(ReadFileOrEmpty(base + "if_inet6"))) {
    out.push_back(ip);
  }
  return out;
}

}  // namespace loupe::identity
