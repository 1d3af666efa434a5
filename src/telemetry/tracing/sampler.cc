#include "src/telemetry/tracing/sampler.h"

#include <cmath>
#include <cstdlib>

#include "src/base/strings.h"

namespace loupe::tracing {
namespace {

bool ParseRatio(std::string_view text, double* out) {
  text = StripWhitespace(text);
  if (text.empty()) {
    *out = 1.0;
    return true;
  }
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0.0 || v > 1.0) return false;
  *out = v;
  return true;
}

}  // namespace

absl::StatusOr<Sampler> Sampler::Create(std::string_view name, std::string_view arg) {
  Sampler s;
  const std::string lower = AsciiLower(StripWhitespace(name));
  std::string_view root = lower;
  if (root.starts_with("parentbased_")) {
    s.parent_based_ = true;
    root.remove_prefix(std::string_view("parentbased_").size());
  }
  if (root == "always_on") {
    s.root_ = Root::kAlwaysOn;
  } else if (root == "always_off") {
    s.root_ = Root::kAlwaysOff;
    s.all_ = false;
  } else if (root == "traceidratio") {
    s.root_ = Root::kRatio;
    if (!ParseRatio(arg, &s.ratio_)) {
      return absl::InvalidArgumentError(
          "sampler argument '" + std::string(arg) + "' of " + lower +
          " is not a ratio between 0 and 1 (OTEL_TRACES_SAMPLER_ARG / sampler.arg)");
    }
    if (s.ratio_ >= 1.0) {
      s.all_ = true;
    } else {
      s.all_ = false;
      // ratio * 2^64, exact for the double's 53 significant bits.
      s.bound_ = static_cast<uint64_t>(std::ldexp(s.ratio_, 64));
    }
  } else {
    return absl::InvalidArgumentError(
        "unknown sampler '" + std::string(name) +
        "' (OTEL_TRACES_SAMPLER / sampler.name): use always_on, always_off, traceidratio, "
        "parentbased_always_on, parentbased_always_off or parentbased_traceidratio");
  }
  if (s.root_ != Root::kRatio) s.ratio_ = s.root_ == Root::kAlwaysOn ? 1.0 : 0.0;
  s.name_ = lower;
  return s;
}

bool Sampler::SampleRoot(const TraceId& trace_id) const {
  switch (root_) {
    case Root::kAlwaysOn:
      return true;
    case Root::kAlwaysOff:
      return false;
    case Root::kRatio: {
      if (all_) return true;
      uint64_t low = 0;
      for (size_t i = 8; i < 16; ++i) low = (low << 8) | trace_id[i];
      return low < bound_;
    }
  }
  return false;
}

bool Sampler::ShouldSample(const ParentInfo& parent, const TraceId& trace_id) const {
  if (parent_based_ && parent.kind != ParentInfo::Kind::kNone) return parent.sampled;
  return SampleRoot(trace_id);
}

}  // namespace loupe::tracing
