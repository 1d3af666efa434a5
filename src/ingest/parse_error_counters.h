// The one owner of `loupe_parse_errors_total{protocol}` (payloads a protocol parser rejected):
// the application view's ingest (http1, http2) and the network view's DNS path both count into
// it, so the family is registered once per registry, by whichever asks first.
//
// For() returns the registry's instance, created and registered on the first call; it lives as
// long as the registry (the registry keeps it through a collector that adds nothing). Thread-safe.
#pragma once

#include <string>

#include "src/metrics/registry.h"

namespace loupe::ingest {

class ParseErrorCounters {
 public:
  static ParseErrorCounters& For(metrics::Registry& registry);

  // The series of one protocol ("dns", "http1", "http2"): intern at setup, Inc() per rejection.
  metrics::Counter* ForProtocol(const std::string& protocol) {
    return family_.WithLabels({protocol});
  }

  explicit ParseErrorCounters(metrics::Registry& registry);
  ParseErrorCounters(const ParseErrorCounters&) = delete;
  ParseErrorCounters& operator=(const ParseErrorCounters&) = delete;

 private:
  metrics::Family<metrics::Counter>& family_;
};

}  // namespace loupe::ingest
