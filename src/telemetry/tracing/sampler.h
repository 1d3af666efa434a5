// Head samplers with the OpenTelemetry names and semantics (OTEL_TRACES_SAMPLER):
// always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off,
// parentbased_traceidratio.
//
// traceidratio is deterministic: a trace is sampled when the big-endian value of the trace id's
// lower 8 bytes is below ratio * 2^64 (the rightmost, random bytes of a W3C trace id; the same
// comparison as the OpenTelemetry Go SDK, which uses 63 of those bits). The same trace id gives
// the same decision in every Loupe agent, and a trace sampled at ratio r is sampled at every
// ratio >= r. parentbased_* follow the parent's sampled flag when there is a parent (remote:
// from an incoming traceparent; local: the in-process server span of a client span) and apply
// the named root sampler otherwise.
//
// Thread expectations: immutable after Create; ShouldSample is const and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/telemetry/tracing/span.h"

namespace loupe::tracing {

struct ParentInfo {
  enum class Kind : uint8_t { kNone, kRemote, kLocal };
  Kind kind = Kind::kNone;
  bool sampled = false;
};

class Sampler {
 public:
  enum class Root : uint8_t { kAlwaysOn, kAlwaysOff, kRatio };

  // `name` as OTEL_TRACES_SAMPLER; `arg` as OTEL_TRACES_SAMPLER_ARG (the ratio, used by the two
  // ratio samplers; "" means 1.0). Unknown names and ratios that are not numbers in [0, 1] are
  // errors naming the bad value.
  static absl::StatusOr<Sampler> Create(std::string_view name, std::string_view arg);

  bool ShouldSample(const ParentInfo& parent, const TraceId& trace_id) const;
  // The root decision alone (what a span without parent gets).
  bool SampleRoot(const TraceId& trace_id) const;

  bool parent_based() const { return parent_based_; }
  double ratio() const { return ratio_; }
  const std::string& name() const { return name_; }
  // Bound the lower 8 bytes are compared against; 2^64 - 1 with ratio 1 means "all".
  uint64_t ratio_bound() const { return bound_; }

 private:
  std::string name_;
  bool parent_based_ = false;
  Root root_ = Root::kAlwaysOn;
  double ratio_ = 1.0;
  uint64_t bound_ = UINT64_MAX;
  bool all_ = true;
};

}  // namespace loupe::tracing
