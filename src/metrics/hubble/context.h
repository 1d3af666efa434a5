// Label values of one flow for one Hubble handler: the context labels (labelsContext,
// source/destination context with `|` fallbacks, reference/hubble.md §5.2) and the handler's own
// labels, kept as string_views. Values that need formatting (addresses, ports, joined lists,
// "namespace/pod") are written into a fixed stack arena; only values longer than the arena
// (about 1 KiB in total per flow and handler) spill to the heap.
//
// A LabelValues lives on the caller's stack for one OnFlow call; not thread-safe, not copyable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <span>
#include <string>
#include <string_view>

#include "src/flow/flow.h"
#include "src/metrics/hubble/spec.h"

namespace loupe::metrics::hubble {

class LabelValues {
 public:
  static constexpr size_t kMaxLabels = 24;
  static constexpr size_t kArenaSize = 1024;

  LabelValues() = default;
  LabelValues(const LabelValues&) = delete;
  LabelValues& operator=(const LabelValues&) = delete;

  // Appends a value that outlives this object (a literal, or a string of the flow).
  void Push(std::string_view v) {
    if (size_ < kMaxLabels) values_[size_++] = v;
  }
  // Builds one formatted value: Begin(), Append()..., then End() pushes it.
  void Begin();
  void Append(std::string_view s);
  void AppendUint(uint64_t v);
  void AppendIp(const flow::IpAddress& ip);
  void End() { Push(Finish()); }
  std::string_view Finish();
  // Formats and pushes a number.
  void PushUint(uint64_t v) {
    Begin();
    AppendUint(v);
    End();
  }

  // Forgets every value and the arena's contents (heap spills are freed).
  void Reset() {
    size_ = 0;
    used_ = 0;
    start_ = 0;
    spill_ = nullptr;
    spills_.clear();
  }
  // Drops values from position `n` on (the context prefix stays).
  void Truncate(size_t n) { size_ = n < size_ ? n : size_; }
  void Set(size_t i, std::string_view v) { values_[i] = v; }
  size_t size() const { return size_; }
  std::string_view operator[](size_t i) const { return values_[i]; }
  std::span<const std::string_view> span() const { return {values_.data(), size_}; }
  // Values that did not fit the arena (for tests and the benchmark).
  size_t spilled() const { return spilled_; }

 private:
  // Neither array is initialised: only the first size_ / used_ entries are ever read.
  std::array<std::string_view, kMaxLabels> values_;
  size_t size_ = 0;
  std::array<char, kArenaSize> arena_;
  size_t used_ = 0;
  size_t start_ = 0;
  std::string* spill_ = nullptr;
  std::forward_list<std::string> spills_;
  size_t spilled_ = 0;
};

// Appends the context label values of `f` in LabelNames() order. `invert` computes them from the
// request's perspective for response flows (httpV2: source and destination swap).
void AppendContextValues(const ContextOptions& options, const flow::Flow& f, bool invert,
                         LabelValues* out);

// Pieces of the context computation, exposed for tests.
// "web-7d4b9c5f6-x2kq9" -> "web": strips one or two trailing "-[a-z0-9]+" segments, keeping a
// non-empty prefix (Hubble's `^(.+?)(-[a-z0-9]+){1,2}$`).
std::string_view ShortenPodName(std::string_view pod);
// The value of the first label "k8s:app.kubernetes.io/name=", "k8s:k8s-app=" or "k8s:app=" (in the
// endpoint's label order) with a non-empty value; "" if none.
std::string_view AppFromLabels(const std::vector<std::string>& labels);
// "reserved:kube-apiserver" if present, else the first "reserved:..." label, else "".
std::string_view ReservedIdentity(const std::vector<std::string>& labels);
// "ingress", "egress" or "unknown".
const char* TrafficDirectionValue(flow::TrafficDirection direction);

}  // namespace loupe::metrics::hubble
