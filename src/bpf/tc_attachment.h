// RAII attachment of a BPF program to the TC hook of one interface and direction.
//
// On Linux 6.6+ the program is attached as a tcx link: the link belongs to the agent's process,
// so the kernel detaches it when the process exits, however it exits (SIGKILL, OOM kill, crash),
// and no qdisc is involved. Elsewhere it is a filter on the interface's clsact qdisc, created when
// the interface has none and removed again on destruction (when the qdisc already existed, only
// our filter is removed). Such a filter outlives a killed agent and keeps running; it uses a fixed
// handle and priority so that a restarted agent replaces it instead of stacking another, and a
// tcx attachment removes it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace loupe::bpf {

enum class TcDirection { kIngress, kEgress };

// How a program is attached.
enum class TcHook {
  kAuto,    // tcx where the kernel has it, else clsact
  kTcx,     // a tcx link (Linux 6.6+); an error elsewhere
  kClsact,  // a filter on the clsact qdisc
};

inline constexpr unsigned kLoupeTcHandle = 0x4c50;  // "LP"
inline constexpr unsigned kLoupeTcPriority = 0xc0de;

class TcAttachment {
 public:
  // Attaches `prog_fd` to `ifindex` in `direction`. `*created_qdisc` is set when a clsact qdisc
  // was created for it, so that the ingress and egress attachments of one interface share
  // ownership of a qdisc one of them created.
  static absl::StatusOr<std::unique_ptr<TcAttachment>> Attach(int ifindex, TcDirection direction,
                                                              int prog_fd, bool* created_qdisc,
                                                              TcHook hook = TcHook::kAuto);
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  int ifindex() const { return ifindex_; }
  TcDirection direction() const { return direction_; }
  // kTcx or kClsact: how this attachment was made.
  TcHook hook() const { return link_fd_ >= 0 ? TcHook::kTcx : TcHook::kClsact; }

  // Deletes the clsact qdisc of `ifindex` (and with it every filter on it). Used by the owner of
  // an interface's attachments when it created the qdisc, after detaching both directions.
  static void DestroyQdisc(int ifindex);

 private:
  TcAttachment(int ifindex, TcDirection direction) : ifindex_(ifindex), direction_(direction) {}
  int ifindex_;
  TcDirection direction_;
  int link_fd_ = -1;  // the tcx link; -1 for a clsact filter
};

}  // namespace loupe::bpf
