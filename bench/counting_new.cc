#include "bench/counting_new.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

namespace loupe::bench {
uint64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace loupe::bench

// g++ 12 flags free() of memory from this replaced operator new as mismatched, wrongly: both sides
// of the pair are replaced here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
