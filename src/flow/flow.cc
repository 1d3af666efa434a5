#include "src/flow/flow.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace loupe::flow {

static_assert(INET6_ADDRSTRLEN == 46);

std::string_view IpAddress::Format(char (&buf)[46]) const {
  if (version == 4) {
    char* p = buf;
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *p++ = '.';
      p = std::to_chars(p, buf + sizeof(buf), bytes[i]).ptr;
    }
    return {buf, static_cast<size_t>(p - buf)};
  }
  if (version == 6 && inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf)) != nullptr) {
    return {buf, std::strlen(buf)};
  }
  return {};
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  return std::string(Format(buf));
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
