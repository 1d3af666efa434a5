// A strict checker of OpenMetrics 1.0 text expositions, for tests: the grammar (metadata lines,
// sample names per type, label and exemplar syntax, escapes, UTF-8, numbers, `# EOF`) and the
// semantic rules we rely on (families contiguous and unique, histogram buckets sorted and
// cumulative with +Inf last and `_count` equal to it, canonical `le`, exemplar label sets of at
// most 128 characters, exemplars only on `_bucket` and `_total` samples).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace loupe::prometheus {

// One message per problem ("line 3: ..."); empty when the exposition is valid.
std::vector<std::string> CheckOpenMetrics(std::string_view exposition);

}  // namespace loupe::prometheus
