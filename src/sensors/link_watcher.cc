#include "src/sensors/link_watcher.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/base/errno_string.h"

namespace loupe::sensors {
namespace {

std::string ErrnoString(int err) {
  return absl::StrCat(ErrnoName(err), " (", ErrnoDescription(err), ")");
}

LinkInfo ParseLink(const nlmsghdr* nh) {
  LinkInfo link;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(nh));
  link.ifindex = ifi->ifi_index;
  link.arp_type = ifi->ifi_type;
  int len = static_cast<int>(nh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(*ifi)));
  for (const rtattr* rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
    if (rta->rta_type == IFLA_IFNAME) {
      link.name.assign(static_cast<const char*>(RTA_DATA(rta)),
                       strnlen(static_cast<const char*>(RTA_DATA(rta)), RTA_PAYLOAD(rta)));
    } else if (rta->rta_type == IFLA_LINKINFO) {
      int nested_len = static_cast<int>(RTA_PAYLOAD(rta));
      for (const rtattr* n = static_cast<const rtattr*>(RTA_DATA(rta)); RTA_OK(n, nested_len);
           n = RTA_NEXT(n, nested_len)) {
        if (n->rta_type == IFLA_INFO_KIND) {
          link.kind.assign(static_cast<const char*>(RTA_DATA(n)),
                           strnlen(static_cast<const char*>(RTA_DATA(n)), RTA_PAYLOAD(n)));
        }
      }
    }
  }
  return link;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkWatcher>> LinkWatcher::Open(OnNewLink on_new, OnDelLink on_del) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("opening a netlink socket: ", ErrnoString(errno)));
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_LINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("subscribing to link notifications: ", ErrnoString(err)));
  }
  // Bursts of link changes (many veths at once) must not overrun the socket.
  const int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  return std::unique_ptr<LinkWatcher>(new LinkWatcher(fd, std::move(on_new), std::move(on_del)));
}

LinkWatcher::~LinkWatcher() { close(fd_); }

int LinkWatcher::ReadOnce(uint32_t dump_seq) {
  alignas(nlmsghdr) std::array<char, 32768> buf;
  const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
  if (n < 0) return -errno;
  int done = 0;
  int len = static_cast<int>(n);
  for (const auto* nh = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(nh, len);
       nh = NLMSG_NEXT(nh, len)) {
    const bool ours = dump_seq != 0 && nh->nlmsg_seq == dump_seq;
    if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
      if (ours) done = 1;
      continue;
    }
    if (nh->nlmsg_type == RTM_NEWLINK) {
      const LinkInfo link = ParseLink(nh);
      if (link.ifindex > 0) on_new_(link);
    } else if (nh->nlmsg_type == RTM_DELLINK) {
      const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(nh));
      if (ifi->ifi_index > 0) on_del_(ifi->ifi_index);
    }
  }
  return done;
}

absl::Status LinkWatcher::Dump() {
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req{};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = ++seq_;
  req.ifi.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return absl::InternalError(absl::StrCat("requesting the link list: ", ErrnoString(errno)));
  }
  for (int attempts = 0; attempts < 1000; ++attempts) {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, 2000) <= 0) break;
    const int r = ReadOnce(req.nh.nlmsg_seq);
    if (r == 1) return absl::OkStatus();
    if (r < 0 && r != -EAGAIN && r != -EINTR && r != -ENOBUFS) {
      return absl::InternalError(absl::StrCat("reading the link list: ", ErrnoString(-r)));
    }
  }
  return absl::DeadlineExceededError("the kernel did not finish the link list");
}

bool LinkWatcher::Poll(int timeout_ms) {
  pollfd pfd{fd_, POLLIN, 0};
  if (poll(&pfd, 1, timeout_ms) <= 0) return true;
  for (;;) {
    const int r = ReadOnce(0);
    if (r == -ENOBUFS) return false;
    if (r < 0) return true;  // EAGAIN: drained
  }
}

}  // namespace loupe::sensors
