// RAII owner of one libbpf skeleton: open -> configure read-only data -> load -> attach; everything
// it attached is detached and every map and program freed on destruction.
//
// Usage:
//   ASSIGN_OR_RETURN(auto skel, Skeleton<netflow>::Open(LOUPE_SKELETON_OPS(netflow)));
//   skel->get()->rodata->target_tgid = getpid();   // before Load()
//   RETURN_IF_ERROR(skel->Load());
//   RETURN_IF_ERROR(skel->Attach());               // auto-attachable programs only
//
// Not thread-safe: one owner thread; maps may be read from other threads through their fds.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "src/bpf/libbpf_log.h"
#include "src/bpf/links.h"
#include "src/bpf/load_error.h"
#include "src/bpf/tracefs.h"

namespace loupe::bpf {

template <typename Skel>
struct SkeletonOps {
  const char* name;
  Skel* (*open)(const struct bpf_object_open_opts*);
  int (*load)(Skel*);
  int (*attach)(Skel*);
  void (*destroy)(Skel*);
};

// Builds the SkeletonOps of a skeleton generated with `bpftool gen skeleton ... name <name>`.
#define LOUPE_SKELETON_OPS(name)                                                                  \
  (::loupe::bpf::SkeletonOps<struct name>{#name, name##__open_opts, name##__load, name##__attach, \
                                          name##__destroy})

template <typename Skel>
class Skeleton {
 public:
  static absl::StatusOr<std::unique_ptr<Skeleton>> Open(const SkeletonOps<Skel>& ops) {
    LibbpfLogCapture capture;
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    Skel* raw = ops.open(&opts);
    if (raw == nullptr) {
      return BpfError(absl::StrCat("opening BPF object '", ops.name, "'"), errno, capture.lines());
    }
    return std::unique_ptr<Skeleton>(new Skeleton(ops, raw));
  }

  ~Skeleton() {
    if (skel_ == nullptr) return;
    DestroyLinksConcurrently(TakeSkeletonLinks(skel_->skeleton));
    ops_.destroy(skel_);
  }
  Skeleton(const Skeleton&) = delete;
  Skeleton& operator=(const Skeleton&) = delete;

  Skel* get() const { return skel_; }
  Skel* operator->() const { return skel_; }
  const char* name() const { return ops_.name; }

  // Loads every program whose autoload flag is set. On a verifier failure the error carries the
  // last lines of the verifier log and a hint.
  [[nodiscard]] absl::Status Load() {
    LibbpfLogCapture capture;
    const int err = ops_.load(skel_);
    if (err != 0) {
      return BpfError(absl::StrCat("loading BPF object '", ops_.name, "'"), err, capture.lines());
    }
    loaded_ = true;
    return absl::OkStatus();
  }

  // Attaches every program libbpf can attach from its section name (tracepoints, uprobes with a
  // target in the section, ...). TC and cgroup programs are attached by their owners. Mounts
  // tracefs first when it is missing (tracepoints attach through it; see tracefs.h).
  [[nodiscard]] absl::Status Attach() {
    EnsureTracefsOnce();
    LibbpfLogCapture capture;
    const int err = ops_.attach(skel_);
    if (err != 0) {
      return BpfError(absl::StrCat("attaching BPF object '", ops_.name, "'"), err, capture.lines());
    }
    return absl::OkStatus();
  }

  bool loaded() const { return loaded_; }

 private:
  Skeleton(const SkeletonOps<Skel>& ops, Skel* skel) : ops_(ops), skel_(skel) {}

  SkeletonOps<Skel> ops_;
  Skel* skel_;
  bool loaded_ = false;
};

}  // namespace loupe::bpf
