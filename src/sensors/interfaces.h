// Host network interfaces and the include/exclude selection of which ones sensors observe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::sensors {

struct NetInterface {
  int ifindex = 0;
  std::string name;
  int arp_type = 0;  // ARPHRD_* from /sys/class/net/<name>/type
  // True when packets start with an Ethernet header at TC (Ethernet and loopback devices).
  bool has_ethernet_header() const;
};

// Interfaces of the current network namespace.
std::vector<NetInterface> ListInterfaces();

// The current name of an interface of this network namespace, or "" when it does not exist.
std::string InterfaceName(uint32_t ifindex);

// True when `name` matches one of the shell globs (fnmatch) in `patterns`.
bool MatchesAny(const std::string& name, const std::vector<std::string>& patterns);

// Applies the selection: included when `include` is empty or matches, and `exclude` doesn't.
bool InterfaceSelected(const std::string& name, const std::vector<std::string>& include,
                       const std::vector<std::string>& exclude);

}  // namespace loupe::sensors
