#include "src/flow/flow.h"

#include <arpa/inet.h>

#include <cstring>

namespace loupe::flow {

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (version == 4) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof(buf));
  } else if (version == 6) {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

bool IpAddress::Parse(const std::string& text, IpAddress* out) {
  IpAddress addr;
  if (inet_pton(AF_INET, text.c_str(), addr.bytes.data()) == 1) {
    addr.version = 4;
  } else if (inet_pton(AF_INET6, text.c_str(), addr.bytes.data()) == 1) {
    addr.version = 6;
  } else {
    return false;
  }
  *out = addr;
  return true;
}

}  // namespace loupe::flow
