// Heap allocations of the whole process, for benchmarks that report allocations per operation.
// Link bench/counting_new.cc into the benchmark binary: it replaces the global operator new.
#pragma once

#include <cstdint>

namespace loupe::bench {

// operator new calls so far (the benchmark's own setup included: read it around the timed loop).
uint64_t Allocations();

}  // namespace loupe::bench
