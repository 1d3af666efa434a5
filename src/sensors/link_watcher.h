// Network interfaces of the current namespace from rtnetlink: a dump of the existing links, then
// RTM_NEWLINK/RTM_DELLINK notifications (RTMGRP_LINK) as links are added, changed or removed.
//
// Thread expectations: one thread at a time calls Dump()/Poll(); callbacks run on that thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace loupe::sensors {

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  int arp_type = 0;  // ARPHRD_*
  std::string kind;  // IFLA_INFO_KIND ("veth", "bridge", ...); empty for physical devices
};

class LinkWatcher {
 public:
  using OnNewLink = std::function<void(const LinkInfo&)>;
  using OnDelLink = std::function<void(int ifindex)>;

  // Opens a NETLINK_ROUTE socket subscribed to link notifications.
  static absl::StatusOr<std::unique_ptr<LinkWatcher>> Open(OnNewLink on_new, OnDelLink on_del);
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  // Requests every current link and delivers it to on_new (notifications that arrive meanwhile
  // are delivered too). Returns once the dump is complete.
  [[nodiscard]] absl::Status Dump();

  // Waits up to `timeout_ms` for notifications and delivers them. Returns false when the kernel
  // dropped notifications (socket overrun): the caller should Dump() again to resynchronise.
  bool Poll(int timeout_ms);

 private:
  LinkWatcher(int fd, OnNewLink on_new, OnDelLink on_del)
      : fd_(fd), on_new_(std::move(on_new)), on_del_(std::move(on_del)) {}
  // Reads one datagram; returns -errno, 0, or 1 when it ended the dump with sequence `dump_seq`.
  int ReadOnce(uint32_t dump_seq);

  int fd_;
  OnNewLink on_new_;
  OnDelLink on_del_;
  uint32_t seq_ = 1;
};

}  // namespace loupe::sensors
