#include "src/metrics/registry.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/base/logging.h"

namespace loupe::metrics {

namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr std::array<bool, 256> kHexDigits = [] {
  std::array<bool, 256> table{};
  for (const char* c = "0123456789abcdefABCDEF"; *c != '\0'; ++c) {
    table[static_cast<unsigned char>(*c)] = true;
  }
  return table;
}();

// Exemplar ids are checked on the per-event path: a table and no early exit (vectorises).
bool AllHex(std::string_view s) {
  bool all = true;
  for (char c : s) all &= kHexDigits[static_cast<unsigned char>(c)];
  return all;
}

bool ValidExemplar(const ExemplarRef& exemplar) {
  return !exemplar.trace_id.empty() && exemplar.trace_id.size() <= kMaxExemplarTraceIdSize &&
         exemplar.span_id.size() <= kMaxExemplarSpanIdSize && AllHex(exemplar.trace_id) &&
         AllHex(exemplar.span_id);
}

// Registration errors are programming errors found at start-up.
[[noreturn]] void RegistrationError(const std::string& message) {
  // stderr, not the logger: this ends the process and must be seen whatever the log sink.
  std::fprintf(stderr, "metrics registration: %s\n", message.c_str());
  std::abort();
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsNameStart(c) || IsDigit(c) || c == ':'; });
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0])) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameStart(c) || IsDigit(c); });
}

// ---------------------------------------------------------------------------------------------
// Histogram

struct Histogram::ExemplarSlot {
  std::atomic<bool> busy{false};
  bool present = false;
  uint8_t trace_id_size = 0;
  uint8_t span_id_size = 0;
  char trace_id[kMaxExemplarTraceIdSize];
  char span_id[kMaxExemplarSpanIdSize];
  double value = 0;
  int64_t timestamp_ns = 0;
};

Histogram::Histogram(const std::vector<double>* bounds) : Histogram(bounds, &RealClock::Get()) {}

Histogram::Histogram(const std::vector<double>* bounds, const Clock* clock)
    : bounds_(bounds), clock_(clock), buckets_(bounds->size() + 1) {}

Histogram::~Histogram() { delete[] exemplars_.load(std::memory_order_acquire); }

size_t Histogram::BucketIndex(double v) const {
  return static_cast<size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), v) -
                             bounds_->begin());
}

void Histogram::Record(size_t bucket, double v) {
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  double current = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
}

void Histogram::Observe(double v) { Record(BucketIndex(v), v); }

Histogram::ExemplarSlot* Histogram::ExemplarSlots() {
  ExemplarSlot* slots = exemplars_.load(std::memory_order_acquire);
  if (slots != nullptr) return slots;
  auto* fresh = new ExemplarSlot[buckets_.size()];
  if (exemplars_.compare_exchange_strong(slots, fresh, std::memory_order_acq_rel)) return fresh;
  delete[] fresh;  // another thread installed its array first; `slots` holds it
  return slots;
}

void Histogram::Observe(double v, const ExemplarRef& exemplar) {
  const size_t bucket = BucketIndex(v);
  Record(bucket, v);
  if (!ValidExemplar(exemplar)) return;
  ExemplarSlot& slot = ExemplarSlots()[bucket];
  if (slot.busy.load(std::memory_order_relaxed) ||
      slot.busy.exchange(true, std::memory_order_acquire)) {
    return;  // another writer or a scrape holds the slot: keep theirs, never wait
  }
  slot.present = true;
  slot.trace_id_size = static_cast<uint8_t>(exemplar.trace_id.size());
  std::memcpy(slot.trace_id, exemplar.trace_id.data(), exemplar.trace_id.size());
  slot.span_id_size = static_cast<uint8_t>(exemplar.span_id.size());
  std::memcpy(slot.span_id, exemplar.span_id.data(), exemplar.span_id.size());
  slot.value = v;
  slot.timestamp_ns = clock_->NowRealtimeNs();
  slot.busy.store(false, std::memory_order_release);
}

void Histogram::Read(Sample* out) const {
  out->bounds = *bounds_;
  out->bucket_counts.resize(buckets_.size());
  uint64_t total = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    out->bucket_counts[i] = buckets_[i].load(std::memory_order_relaxed);
    total += out->bucket_counts[i];
  }
  out->sum = sum_.load(std::memory_order_relaxed);
  // Derive count from the buckets so a scrape racing an Observe() stays self-consistent.
  out->count = total;
  out->exemplars.clear();
  ExemplarSlot* slots = exemplars_.load(std::memory_order_acquire);
  if (slots == nullptr) return;
  out->exemplars.resize(buckets_.size());
  for (size_t i = 0; i < buckets_.size(); ++i) {
    ExemplarSlot& slot = slots[i];
    // A writer holds the slot for a few stores; wait for it (scrape side only). Yield in case
    // the writer was preempted while holding it.
    for (int spins = 0; slot.busy.exchange(true, std::memory_order_acquire); ++spins) {
      if (spins > 64) std::this_thread::yield();
    }
    if (slot.present) {
      out->exemplars[i] = StoredExemplar{std::string(slot.trace_id, slot.trace_id_size),
                                         std::string(slot.span_id, slot.span_id_size), slot.value,
                                         static_cast<double>(slot.timestamp_ns) / 1e9};
    }
    slot.busy.store(false, std::memory_order_release);
  }
}

// ---------------------------------------------------------------------------------------------
// Label values

namespace internal {

RegistryState& RegistryState::Standalone() {
  static RegistryState state(&RealClock::Get());
  return state;
}

namespace {

// Reads one LEB128 length at `*pos`.
size_t ReadLength(const std::string& packed, size_t* pos) {
  size_t length = 0;
  int shift = 0;
  while (*pos < packed.size()) {
    const auto byte = static_cast<unsigned char>(packed[(*pos)++]);
    length |= static_cast<size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
    shift += 7;
  }
  return length;
}

char* WriteLength(size_t length, char* out) {
  do {
    auto byte = static_cast<unsigned char>(length & 0x7f);
    length >>= 7;
    if (length != 0) byte |= 0x80;
    *out++ = static_cast<char>(byte);
  } while (length != 0);
  return out;
}

}  // namespace

PackedKey::PackedKey(std::span<const std::string_view> values) {
  size_t max_size = 0;
  for (std::string_view v : values) max_size += v.size() + 10;  // 10: longest LEB128 of a size_t
  char* out = inline_;
  if (max_size > kInlineBytes) {
    heap_.resize(max_size);
    out = heap_.data();
  }
  char* const begin = out;
  for (std::string_view v : values) {
    out = WriteLength(v.size(), out);
    if (!v.empty()) std::memcpy(out, v.data(), v.size());
    out += v.size();
  }
  data_ = begin;
  size_ = static_cast<size_t>(out - begin);
  // absl's hash is seeded per process: label values come from the network, and a fixed hash
  // would let a sender pick colliding values.
  hash_ = absl::Hash<absl::string_view>{}(absl::string_view(data_, size_));
}

std::vector<std::string_view> UnpackLabelValues(const std::string& packed) {
  std::vector<std::string_view> values;
  size_t pos = 0;
  while (pos < packed.size()) {
    const size_t length = std::min(ReadLength(packed, &pos), packed.size() - pos);
    values.emplace_back(packed.data() + pos, length);
    pos += length;
  }
  return values;
}

bool IsOverflowKey(std::span<const std::string_view> values) {
  return !values.empty() && std::all_of(values.begin(), values.end(), [](std::string_view v) {
    return v == kOverflowLabelValue;
  });
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Family

template <typename Cell>
Family<Cell>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)),
      state_(&internal::RegistryState::Standalone()) {}

template <typename Cell>
Family<Cell>::~Family() = default;

template <typename Cell>
void Family<Cell>::Attach(internal::RegistryState* state, bool registry_owned) {
  state_ = state;
  registry_owned_ = registry_owned;
}

template <typename Cell>
std::unique_ptr<typename Family<Cell>::Entry> Family<Cell>::NewEntry(const internal::PackedKey& key,
                                                                     bool pinned) const {
  std::unique_ptr<Entry> entry;
  if constexpr (std::is_same_v<Cell, Histogram>) {
    entry = std::make_unique<Entry>(key.hash(), std::string(key.bytes()), pinned, &bounds_,
                                    state_->clock);
  } else {
    entry = std::make_unique<Entry>(key.hash(), std::string(key.bytes()), pinned);
  }
  entry->last_epoch.store(state_->epoch.load(std::memory_order_relaxed), std::memory_order_relaxed);
  entry->last_seen_ns = state_->clock->NowMonotonicNs();
  return entry;
}

template <typename Cell>
typename Family<Cell>::Entry* Family<Cell>::FindOrInsertDynamicLocked(
    Shard& shard, const internal::PackedKey& key, std::span<const std::string_view> values) {
  auto it = shard.entries.find(internal::LabelValuesRef{key.hash(), key.bytes()});
  if (it != shard.entries.end()) return it->get();  // inserted since the shared-lock lookup
  if (internal::IsOverflowKey(values)) return nullptr;
  if (!label_names_.empty()) {
    const size_t max_series = EffectiveOptions().max_series;
    if (dynamic_series_.fetch_add(1, std::memory_order_relaxed) >= max_series && max_series != 0) {
      dynamic_series_.fetch_sub(1, std::memory_order_relaxed);
      if (Counter* counter = OverflowCounter()) counter->Inc();
      return nullptr;
    }
  } else {
    dynamic_series_.fetch_add(1, std::memory_order_relaxed);
  }
  auto entry = NewEntry(key, /*pinned=*/false);
  Entry* raw = entry.get();
  shard.entries.insert(std::move(entry));
  return raw;
}

template <typename Cell>
typename Family<Cell>::Entry& Family<Cell>::OverflowEntry() {
  Entry* entry = overflow_.load(std::memory_order_acquire);
  if (entry != nullptr) return *entry;
  std::lock_guard<std::mutex> lock(overflow_mu_);
  entry = overflow_.load(std::memory_order_relaxed);
  if (entry == nullptr) {
    const std::vector<std::string_view> values(label_names_.size(), kOverflowLabelValue);
    overflow_owner_ = NewEntry(internal::PackedKey(values), /*pinned=*/true);
    entry = overflow_owner_.get();
    overflow_.store(entry, std::memory_order_release);
  }
  return *entry;
}

template <typename Cell>
Counter* Family<Cell>::OverflowCounter() {
  Counter* counter = overflow_counter_.load(std::memory_order_acquire);
  if (counter != nullptr || state_->overflow_family == nullptr || registry_owned_) return counter;
  counter = state_->overflow_family->WithLabels({name_});
  overflow_counter_.store(counter, std::memory_order_release);
  return counter;
}

template <typename Cell>
void Family<Cell>::ReportBadLabelCount(size_t got) {
  LOG_EVERY_SECONDS(error, 10, "metrics: {} got {} label values, expects {}; update dropped", name_,
                    got, label_names_.size());
  if (state_->internal_errors != nullptr) {
    state_->internal_errors->WithLabels({"metrics_label_values"})->Inc();
  }
  assert(false && "wrong number of label values");
}

template <typename Cell>
void Family<Cell>::SetOptions(const FamilyOptions& options) {
  max_series_.store(options.max_series, std::memory_order_relaxed);
  ttl_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(options.ttl).count(),
                std::memory_order_relaxed);
  has_own_options_.store(true, std::memory_order_release);
  // Expose the overflow counter at 0 from now on, so that increase() sees its first step.
  if (options.max_series != 0 && !label_names_.empty()) OverflowCounter();
}

template <typename Cell>
FamilyOptions Family<Cell>::EffectiveOptions() const {
  if (has_own_options_.load(std::memory_order_acquire)) {
    return FamilyOptions{max_series_.load(std::memory_order_relaxed),
                         std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::nanoseconds(ttl_ns_.load(std::memory_order_relaxed)))};
  }
  return FamilyOptions{state_->default_max_series.load(std::memory_order_relaxed),
                       std::chrono::duration_cast<std::chrono::seconds>(std::chrono::nanoseconds(
                           state_->default_ttl_ns.load(std::memory_order_relaxed)))};
}

template <typename Cell>
Cell* Family<Cell>::WithLabels(const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  if (views.size() != label_names_.size()) {
    ReportBadLabelCount(views.size());
    views.resize(label_names_.size());  // release builds: a usable cell with "" for missing ones
  }
  if (internal::IsOverflowKey(views)) return &OverflowEntry().cell;
  const internal::PackedKey key(views);
  Shard& shard = shards_[key.hash() >> kShardShift];
  std::unique_lock<std::shared_mutex> lock(shard.mu);
  auto it = shard.entries.find(internal::LabelValuesRef{key.hash(), key.bytes()});
  if (it != shard.entries.end()) {
    Entry& entry = **it;
    if (!entry.pinned) {
      entry.pinned = true;
      dynamic_series_.fetch_sub(1, std::memory_order_relaxed);
    }
    return &entry.cell;
  }
  auto entry = NewEntry(key, /*pinned=*/true);
  Cell* cell = &entry->cell;
  shard.entries.insert(std::move(entry));
  return cell;
}

template <typename Cell>
void Family<Cell>::AppendSample(const Entry& entry, std::vector<Sample>* out) const {
  Sample& sample = out->emplace_back();
  const std::vector<std::string_view> values = internal::UnpackLabelValues(entry.key);
  sample.labels.reserve(label_names_.size());
  for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
    sample.labels.emplace_back(label_names_[i], std::string(values[i]));
  }
  if constexpr (std::is_same_v<Cell, Histogram>) {
    entry.cell.Read(&sample);
  } else {
    sample.value = static_cast<double>(entry.cell.Value());
  }
}

template <typename Cell>
void Family<Cell>::SortSamples(std::vector<Sample>* samples) {
  // All samples of a family have the same label names: compare values only, and sort indices
  // rather than moving Samples around.
  std::vector<uint32_t> order(samples->size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [samples](uint32_t a, uint32_t b) {
    const Labels& x = (*samples)[a].labels;
    const Labels& y = (*samples)[b].labels;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (const int c = x[i].second.compare(y[i].second); c != 0) return c < 0;
    }
    return x.size() < y.size();
  });
  std::vector<Sample> sorted;
  sorted.reserve(samples->size());
  for (uint32_t i : order) sorted.push_back(std::move((*samples)[i]));
  *samples = std::move(sorted);
}

template <typename Cell>
FamilySnapshot Family<Cell>::Snapshot(MetricType type) const {
  FamilySnapshot snap{name_, help_, type, {}, exemplar_labels()};
  for (const Shard& shard : shards_) {
    std::shared_lock<std::shared_mutex> lock(shard.mu);
    for (const auto& entry : shard.entries) AppendSample(*entry, &snap.samples);
  }
  if (const Entry* overflow = overflow_.load(std::memory_order_acquire)) {
    AppendSample(*overflow, &snap.samples);
  }
  SortSamples(&snap.samples);
  return snap;
}

template <typename Cell>
FamilySnapshot Family<Cell>::CollectAndExpire(MetricType type, uint64_t previous_epoch,
                                              int64_t now_ns) {
  FamilySnapshot snap{name_, help_, type, {}, exemplar_labels()};
  const int64_t ttl_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(EffectiveOptions().ttl).count();
  std::vector<const Entry*> idle;
  for (Shard& shard : shards_) {
    idle.clear();
    {
      std::shared_lock<std::shared_mutex> lock(shard.mu);
      for (const auto& entry : shard.entries) {
        if (!entry->pinned) {
          // Updated since the previous collection: seen now. Collections are serialised by the
          // registry, so last_seen_ns has one writer.
          if (entry->last_epoch.load(std::memory_order_relaxed) >= previous_epoch) {
            entry->last_seen_ns = now_ns;
          } else if (ttl_ns > 0 && now_ns - entry->last_seen_ns >= ttl_ns) {
            idle.push_back(entry.get());
            continue;
          }
        }
        AppendSample(*entry, &snap.samples);
      }
    }
    if (idle.empty()) continue;
    std::unique_lock<std::shared_mutex> lock(shard.mu);
    for (const Entry* entry : idle) {
      // Re-check: an Update or WithLabels may have reached it between the two locks.
      if (entry->pinned || entry->last_epoch.load(std::memory_order_relaxed) >= previous_epoch) {
        continue;
      }
      auto it = shard.entries.find(entry);
      if (it == shard.entries.end()) continue;
      shard.entries.erase(it);
      dynamic_series_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  if (const Entry* overflow = overflow_.load(std::memory_order_acquire)) {
    AppendSample(*overflow, &snap.samples);
  }
  SortSamples(&snap.samples);
  return snap;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------------------------
// Registry

Registry::Registry() : Registry(RealClock::Get()) {}

Registry::Registry(const Clock& clock)
    : state_(std::make_unique<internal::RegistryState>(&clock)),
      overflow_family_(std::make_unique<Family<Counter>>(
          kSeriesOverflowMetric,
          "Updates of a metric family redirected to its overflow series (every label value "
          "\"overflow\") because the family reached its series limit.",
          std::vector<std::string>{"family"})),
      internal_errors_(std::make_unique<Family<Counter>>(
          "loupe_internal_errors_total",
          "States the agent treats as impossible, counted where they happened; please report.",
          std::vector<std::string>{"site"})) {
  overflow_family_->Attach(state_.get(), /*registry_owned=*/true);
  internal_errors_->Attach(state_.get(), /*registry_owned=*/true);
  state_->overflow_family = overflow_family_.get();
  state_->internal_errors = internal_errors_.get();
  types_[overflow_family_->name()] = MetricType::kCounter;
  types_[internal_errors_->name()] = MetricType::kCounter;
}

Registry::~Registry() = default;

void Registry::CheckRegistration(const std::string& name, MetricType type,
                                 const std::vector<std::string>& label_names) {
  if (!IsValidMetricName(name)) RegistrationError("invalid metric name \"" + name + "\"");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidLabelName(label)) {
      RegistrationError(absl::StrCat("invalid label name \"", label, "\" of ", name));
    }
    if (type == MetricType::kHistogram && label == "le") {
      RegistrationError("histogram " + name + " uses the reserved label name \"le\"");
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        RegistrationError(absl::StrCat("duplicate label ", label, " of ", name));
      }
    }
  }
  auto [it, inserted] = types_.emplace(name, type);
  if (!inserted && it->second != type) {
    RegistrationError(name + " is already registered with another type");
  }
}

template <typename Cell>
Family<Cell>& Registry::Register(std::vector<std::unique_ptr<Family<Cell>>>* families,
                                 MetricType type, std::unique_ptr<Family<Cell>> family,
                                 const std::optional<FamilyOptions>& options) {
  CheckRegistration(family->name(), type, family->label_names());
  family->Attach(state_.get(), /*registry_owned=*/false);
  Family<Cell>& ref = *family;
  families->push_back(std::move(family));
  if (options.has_value()) {
    ref.SetOptions(*options);
  } else if (state_->default_max_series.load(std::memory_order_relaxed) != 0 &&
             !ref.label_names().empty()) {
    ref.OverflowCounter();
  }
  return ref;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names,
                                      std::optional<FamilyOptions> options) {
  std::lock_guard<std::mutex> lock(mu_);
  return Register(&counters_, MetricType::kCounter,
                  std::make_unique<Family<Counter>>(name, help, std::move(label_names)), options);
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::optional<FamilyOptions> options) {
  std::lock_guard<std::mutex> lock(mu_);
  return Register(&gauges_, MetricType::kGauge,
                  std::make_unique<Family<Gauge>>(name, help, std::move(label_names)), options);
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds,
                                          std::optional<FamilyOptions> options) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      RegistrationError("histogram " + name +
                        " needs finite, strictly ascending bounds (+Inf is implicit)");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Register(
      &histograms_, MetricType::kHistogram,
      std::make_unique<Family<Histogram>>(name, help, std::move(label_names), std::move(bounds)),
      options);
}

void Registry::SetDefaultFamilyOptions(const FamilyOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  state_->default_max_series.store(options.max_series, std::memory_order_relaxed);
  state_->default_ttl_ns.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.ttl).count(),
      std::memory_order_relaxed);
  if (options.max_series == 0) return;
  auto pin = [](auto& families) {
    for (auto& family : families) {
      if (!family->has_own_options_.load(std::memory_order_acquire) &&
          !family->label_names().empty()) {
        family->OverflowCounter();
      }
    }
  };
  pin(counters_);
  pin(gauges_);
  pin(histograms_);
}

FamilyOptions Registry::DefaultFamilyOptions() const {
  return FamilyOptions{state_->default_max_series.load(std::memory_order_relaxed),
                       std::chrono::duration_cast<std::chrono::seconds>(std::chrono::nanoseconds(
                           state_->default_ttl_ns.load(std::memory_order_relaxed)))};
}

int Registry::AddCollector(Collector collector) {
  std::lock_guard<std::mutex> lock(mu_);
  const int id = next_collector_id_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void Registry::RemoveCollector(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.erase(id);
}

std::vector<FamilySnapshot> Registry::Collect() const {
  std::vector<FamilySnapshot> out;
  {
    // mu_ also serialises collections, which TTL bookkeeping relies on.
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t previous_epoch = state_->epoch.fetch_add(1, std::memory_order_relaxed);
    const int64_t now_ns = state_->clock->NowMonotonicNs();
    for (const auto& family : counters_) {
      out.push_back(family->CollectAndExpire(MetricType::kCounter, previous_epoch, now_ns));
    }
    for (const auto& family : gauges_) {
      out.push_back(family->CollectAndExpire(MetricType::kGauge, previous_epoch, now_ns));
    }
    for (const auto& family : histograms_) {
      out.push_back(family->CollectAndExpire(MetricType::kHistogram, previous_epoch, now_ns));
    }
    for (const auto* family : {overflow_family_.get(), internal_errors_.get()}) {
      FamilySnapshot snap = family->Snapshot(MetricType::kCounter);
      if (!snap.samples.empty()) out.push_back(std::move(snap));
    }
    for (const auto& [id, collector] : collectors_) collector(&out);
  }
  std::stable_sort(out.begin(), out.end(), [](const FamilySnapshot& a, const FamilySnapshot& b) {
    return a.name < b.name;
  });
  // Merge families that share a name (e.g. one per sensor) so each name is exposed once.
  std::vector<FamilySnapshot> merged;
  for (auto& family : out) {
    if (!merged.empty() && merged.back().name == family.name) {
      auto& samples = merged.back().samples;
      samples.insert(samples.end(), std::make_move_iterator(family.samples.begin()),
                     std::make_move_iterator(family.samples.end()));
    } else {
      merged.push_back(std::move(family));
    }
  }
  return merged;
}

}  // namespace loupe::metrics
