// The addresses of a process's network namespace (a pod's IPs), from /proc/<pid>/net/fib_trie
// (IPv4: the "/32 host LOCAL" leaves of the routing trie) and /proc/<pid>/net/if_inet6 (IPv6).
// Loopback (127.0.0.0/8, ::1) and IPv6 link-local (fe80::/10) addresses are left out: they name
// no pod.
//
// Thread expectations: pure functions; NetnsAddressesOf reads /proc and is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/flow/flow.h"

namespace loupe::identity {

// IPv4 addresses marked "/32 host LOCAL" in the text of /proc/net/fib_trie, in order of
// appearance, each once (the Main and Local tables list them twice). Lines that are not part of
// the format are ignored; a LOCAL marker with no preceding leaf, or a leaf that is not an IPv4
// address, contributes nothing.
std::vector<flow::IpAddress> ParseFibTrieLocalAddresses(std::string_view fib_trie);

// IPv6 addresses of the text of /proc/net/if_inet6 (one "<32 hex digits> ifindex prefix scope
// flags name" line per address), each once. Lines whose first field is not 32 hex digits are
// skipped.
std::vector<flow::IpAddress> ParseIfInet6Addresses(std::string_view if_inet6);

// Both, for the network namespace of `pid` (IPv4 first). Empty when the process is gone.
std::vector<flow::IpAddress> NetnsAddressesOf(uint32_t pid, const std::string& proc_root = "/proc");

}  // namespace loupe::identity
