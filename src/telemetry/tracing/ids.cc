#include "src/telemetry/tracing/ids.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "src/base/build_info.h"

namespace loupe::tracing {
namespace {

// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, good statistical quality. Ids
// need to be unique and uniformly distributed (the ratio sampler reads their low bytes), not
// unpredictable.
class Xoshiro256 {
 public:
  Xoshiro256() {
    std::random_device device;
    for (auto& word : state_) {
      word = (static_cast<uint64_t>(device()) << 32) ^ device();
    }
    if (std::all_of(state_.begin(), state_.end(), [](uint64_t w) { return w == 0; })) {
      state_[0] = 0x9e3779b97f4a7c15ULL;
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> state_{};
};

Xoshiro256& ThreadGenerator() {
  thread_local Xoshiro256 generator;
  return generator;
}

void StoreBigEndian(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <size_t N>
bool ParseHex(std::string_view hex, std::array<uint8_t, N>* out) {
  if (hex.size() != 2 * N) return false;
  std::array<uint8_t, N> bytes{};
  for (size_t i = 0; i < N; ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  if (std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; })) return false;
  *out = bytes;
  return true;
}

template <size_t N>
std::string FormatHex(const std::array<uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace

TraceId NewTraceId() {
  TraceId id;
  auto& gen = ThreadGenerator();
  do {
    StoreBigEndian(gen.Next(), id.data());
    StoreBigEndian(gen.Next(), id.data() + 8);
  } while (IsZero(id));
  return id;
}

SpanId NewSpanId() {
  SpanId id;
  auto& gen = ThreadGenerator();
  do {
    StoreBigEndian(gen.Next(), id.data());
  } while (IsZero(id));
  return id;
}

std::string ToHex(const TraceId& id) { return FormatHex(id); }
std::string ToHex(const SpanId& id) { return FormatHex(id); }
bool ParseTraceId(std::string_view hex, TraceId* out) { return ParseHex(hex, out); }
bool ParseSpanId(std::string_view hex, SpanId* out) { return ParseHex(hex, out); }

bool IsZero(const TraceId& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}
bool IsZero(const SpanId& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}

void Resource::Add(std::string key, AttributeValue value) {
  for (auto& entry : entries_) {
    if (entry.key == key) {
      entry.value = std::move(value);
      return;
    }
  }
  entries_.push_back({std::move(key), std::move(value)});
}

bool Resource::Has(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.key == key) return true;
  }
  return false;
}

std::string_view Resource::GetString(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.key == key) {
      if (const auto* s = std::get_if<std::string>(&entry.value)) return *s;
    }
  }
  return {};
}

void AddSdkAttributes(Resource* resource, std::string_view host_name) {
  resource->Add("telemetry.sdk.name", std::string("loupe"));
  resource->Add("telemetry.sdk.language", std::string("cpp"));
  resource->Add("telemetry.sdk.version", std::string(kVersion));
  if (!host_name.empty()) resource->Add("host.name", std::string(host_name));
}

bool Span::has_parent() const { return !IsZero(parent_span_id); }

}  // namespace loupe::tracing
