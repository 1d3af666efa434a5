// Fuzz target: the parsers of /proc/<pid>/net/fib_trie and /proc/<pid>/net/if_inet6, which the
// identity caches read for every pod's network namespace. The kernel writes these files, but their
// format differs across versions and a read can be cut short: any text must give a list of
// addresses (possibly empty), never a crash, hang or out-of-range read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "src/identity/netns_addresses.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& ip : loupe::identity::ParseFibTrieLocalAddresses(text)) {
    if (ip.version != 4) std::abort();  // fib_trie lists IPv4 only
  }
  for (const auto& ip : loupe::identity::ParseIfInet6Addresses(text)) {
    if (ip.version != 6) std::abort();
  }
  return 0;
}
