// RAII attachment of a BPF program to the TC clsact hook of one interface and direction.
// Creates the clsact qdisc when the interface has none and removes it again on destruction; when
// the qdisc already existed, only our filter is removed. Our filters use a fixed handle and
// priority so a restarted agent replaces leftovers of a crashed one instead of stacking them.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace loupe::bpf {

enum class TcDirection { kIngress, kEgress };

inline constexpr unsigned kLoupeTcHandle = 0x4c50;  // "LP"
inline constexpr unsigned kLoupeTcPriority = 0xc0de;

class TcAttachment {
 public:
  // Attaches `prog_fd` to `ifindex` in `direction`. `created_qdisc_shared` lets the ingress and
  // egress attachments of one interface share ownership of a qdisc one of them created.
  static absl::StatusOr<std::unique_ptr<TcAttachment>> Attach(int ifindex, TcDirection direction,
                                                              int prog_fd, bool* created_qdisc);
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  int ifindex() const { return ifindex_; }
  TcDirection direction() const { return direction_; }

  // Deletes the clsact qdisc of `ifindex` (and with it every filter on it). Used by the owner of
  // an interface's attachments when it created the qdisc, after detaching both directions.
  static void DestroyQdisc(int ifindex);

 private:
  TcAttachment(int ifindex, TcDirection direction) : ifindex_(ifindex), direction_(direction) {}
  int ifindex_;
  TcDirection direction_;
};

}  // namespace loupe::bpf
