#include "src/ingest/parse_error_counters.h"

#include <map>
#include <memory>
#include <mutex>

namespace loupe::ingest {

ParseErrorCounters::ParseErrorCounters(metrics::Registry& registry)
    : family_(registry.AddCounter("loupe_parse_errors_total",
                                  "Payloads a protocol parser rejected, by protocol.",
                                  {"protocol"})) {}

ParseErrorCounters& ParseErrorCounters::For(metrics::Registry& registry) {
  static std::mutex mu;
  // By registry address; an entry expires with its registry (whose collector holds the only
  // strong reference), so a later registry at the same address gets a fresh instance.
  static std::map<const metrics::Registry*, std::weak_ptr<ParseErrorCounters>> instances;
  std::lock_guard<std::mutex> lock(mu);
  std::weak_ptr<ParseErrorCounters>& slot = instances[&registry];
  if (std::shared_ptr<ParseErrorCounters> existing = slot.lock()) return *existing;
  for (auto it = instances.begin(); it != instances.end();) {
    it = it->second.expired() && it->first != &registry ? instances.erase(it) : std::next(it);
  }
  auto created = std::make_shared<ParseErrorCounters>(registry);
  slot = created;
  ParseErrorCounters& result = *created;
  registry.AddCollector([keep = std::move(created)](std::vector<metrics::FamilySnapshot>*) {});
  return result;
}

}  // namespace loupe::ingest
