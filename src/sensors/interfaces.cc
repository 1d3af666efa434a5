#include "src/sensors/interfaces.h"

#include <fnmatch.h>
#include <net/if.h>
#include <net/if_arp.h>

#include <fstream>

namespace loupe::sensors {

bool NetInterface::has_ethernet_header() const {
  return arp_type == ARPHRD_ETHER || arp_type == ARPHRD_LOOPBACK;
}

std::vector<NetInterface> ListInterfaces() {
  std::vector<NetInterface> out;
  struct if_nameindex* list = if_nameindex();
  if (list == nullptr) return out;
  for (struct if_nameindex* it = list; it->if_index != 0 && it->if_name != nullptr; ++it) {
    NetInterface iface{static_cast<int>(it->if_index), it->if_name, ARPHRD_ETHER};
    std::ifstream type_file("/sys/class/net/" + iface.name + "/type");
    int type = 0;
    if (type_file >> type) iface.arp_type = type;
    out.push_back(std::move(iface));
  }
  if_freenameindex(list);
  return out;
}

std::string InterfaceName(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = {};
  return if_indextoname(ifindex, buf) != nullptr ? std::string(buf) : std::string();
}

bool MatchesAny(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& pattern : patterns) {
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

bool InterfaceSelected(const std::string& name, const std::vector<std::string>& include,
                       const std::vector<std::string>& exclude) {
  if (!include.empty() && !MatchesAny(name, include)) return false;
  return !MatchesAny(name, exclude);
}

}  // namespace loupe::sensors
