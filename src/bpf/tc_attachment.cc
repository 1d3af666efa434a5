#include "src/bpf/tc_attachment.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "src/base/logging.h"
#include "src/bpf/libbpf_log.h"
#include "src/bpf/load_error.h"

namespace loupe::bpf {
namespace {

bpf_tc_attach_point ToAttachPoint(TcDirection direction) {
  return direction == TcDirection::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

const char* DirectionName(TcDirection direction) {
  return direction == TcDirection::kIngress ? "ingress" : "egress";
}

// BPF_TCX_INGRESS/BPF_TCX_EGRESS (Linux 6.6 UAPI; the build's headers may predate them).
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

// Removes our clsact filter from `ifindex`/`direction`, if there is one (left by an agent that was
// killed while it used clsact).
void RemoveClsactFilter(int ifindex, TcDirection direction) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ToAttachPoint(direction));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kLoupeTcHandle, .priority = kLoupeTcPriority);
  bpf_tc_detach(&hook, &opts);  // ENOENT/EINVAL: no qdisc or no filter, as usual
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcAttachment>> TcAttachment::Attach(int ifindex,
                                                                   TcDirection direction,
                                                                   int prog_fd, bool* created_qdisc,
                                                                   TcHook tc_hook) {
  LibbpfLogCapture capture;
  char name_buf[IF_NAMESIZE] = {};
  const char* ifname = if_indextoname(ifindex, name_buf);
  const std::string where = absl::StrCat(ifname != nullptr ? ifname : "?", " (ifindex ", ifindex,
                                         ") ", DirectionName(direction));

  if (tc_hook != TcHook::kClsact) {
    // Appended after any other tcx program; ours return TCX_NEXT (TC_ACT_UNSPEC), so the others
    // and the clsact filters still run.
    const int attach_type = direction == TcDirection::kIngress ? kBpfTcxIngress : kBpfTcxEgress;
    const int fd =
        bpf_link_create(prog_fd, ifindex, static_cast<bpf_attach_type>(attach_type), nullptr);
    if (fd >= 0) {
      RemoveClsactFilter(ifindex, direction);
      std::unique_ptr<TcAttachment> attachment(new TcAttachment(ifindex, direction));
      attachment->link_fd_ = fd;
      return attachment;
    }
    // Before Linux 6.6 the attach type is unknown (EINVAL): clsact it is.
    if (tc_hook == TcHook::kTcx) {
      return BpfError(absl::StrCat("attaching TC program (tcx link) to ", where), fd,
                      capture.lines());
    }
  }

  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ToAttachPoint(direction));
  int err = bpf_tc_hook_create(&hook);
  if (err == 0) {
    *created_qdisc = true;
  } else if (err != -EEXIST) {
    return BpfError(absl::StrCat("creating clsact qdisc on ", where), err, capture.lines());
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
              .handle = kLoupeTcHandle, .priority = kLoupeTcPriority);
  err = bpf_tc_attach(&hook, &opts);
  if (err != 0) {
    return BpfError(absl::StrCat("attaching TC program to ", where), err, capture.lines());
  }
  return std::unique_ptr<TcAttachment>(new TcAttachment(ifindex, direction));
}

TcAttachment::~TcAttachment() {
  if (link_fd_ >= 0) {
    close(link_fd_);  // the link's only reference: the kernel detaches it
    return;
  }
  LibbpfLogCapture capture;  // keep expected "No such device" noise out of the log
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = ToAttachPoint(direction_));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kLoupeTcHandle, .priority = kLoupeTcPriority);
  const int err = bpf_tc_detach(&hook, &opts);
  // ENOENT/ENODEV: the interface or qdisc is already gone, nothing is left to remove.
  if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
    LOG_WARN("detaching TC program from ifindex {} {}: error {}", ifindex_,
             DirectionName(direction_), err);
  }
}

void TcAttachment::DestroyQdisc(int ifindex) {
  LibbpfLogCapture capture;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  const int err = bpf_tc_hook_destroy(&hook);
  if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
    LOG_WARN("removing clsact qdisc from ifindex {}: error {}", ifindex, err);
  }
}

}  // namespace loupe::bpf
