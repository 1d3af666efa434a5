// Identity lookups on the flow path: IP → PeerInfo, pid → process PeerInfo, and Enrich() of a
// flow, with caches the size of a busy node (5 000 pods, 50 000 DNS-named addresses).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "src/identity/identity_cache.h"

namespace loupe::identity {
namespace {

flow::IpAddress V4(uint32_t n) {
  flow::IpAddress ip;
  ip.version = 4;
  ip.bytes[0] = static_cast<uint8_t>(n >> 24);
  ip.bytes[1] = static_cast<uint8_t>(n >> 16);
  ip.bytes[2] = static_cast<uint8_t>(n >> 8);
  ip.bytes[3] = static_cast<uint8_t>(n);
  return ip;
}

IdentityCache& Populated() {
  static IdentityCache* cache = [] {
    auto* c = new IdentityCache();
    for (uint32_t i = 0; i < 5000; ++i) {
      flow::Endpoint ep;
      ep.namespace_name = "ns" + std::to_string(i % 20);
      ep.pod_name = "pod-" + std::to_string(i);
      ep.labels = {"k8s:app=app" + std::to_string(i % 200)};
      ep.workloads = {{"app" + std::to_string(i % 200), "Deployment"}};
      c->UpsertEndpoint(V4(0x0A000000 + i), ep, 0);
    }
    std::vector<std::string> ips;
    for (uint32_t i = 0; i < 50000; ++i) {
      const flow::IpAddress ip = V4(0x5D000000 + i);
      c->OnDnsAnswer({"host" + std::to_string(i) + ".example.com"}, {ip.ToString()}, 300, 1);
    }
    return c;
  }();
  return *cache;
}

void BM_LookupPodIp(benchmark::State& state) {
  IdentityCache& cache = Populated();
  uint32_t i = 0;
  for (auto _ : state) {
    auto peer = cache.Lookup(V4(0x0A000000 + (i++ % 5000)), 1'000);
    benchmark::DoNotOptimize(peer);
  }
}
BENCHMARK(BM_LookupPodIp);

void BM_LookupWorldIp(benchmark::State& state) {
  IdentityCache& cache = Populated();
  uint32_t i = 0;
  for (auto _ : state) {
    auto peer = cache.Lookup(V4(0xC6336400 + (i++ % 1000)), 1'000);
    benchmark::DoNotOptimize(peer);
  }
}
BENCHMARK(BM_LookupWorldIp);

void BM_LookupProcess(benchmark::State& state) {
  IdentityCache& cache = Populated();
  const uint32_t pid = static_cast<uint32_t>(getpid());
  flow::IpAddress host = V4(0x7F000001);
  for (auto _ : state) {
    auto peer = cache.LookupProcess(pid, host, 1'000);
    benchmark::DoNotOptimize(peer);
  }
}
BENCHMARK(BM_LookupProcess);

void BM_EnrichFlow(benchmark::State& state) {
  IdentityCache& cache = Populated();
  uint32_t i = 0;
  for (auto _ : state) {
    flow::Flow f;
    f.time_ns = 1'000;
    f.src_ip = V4(0x0A000000 + (i % 5000));
    f.dst_ip = V4(0x5D000000 + (i % 50000));
    ++i;
    cache.Enrich(&f, true);
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_EnrichFlow);

}  // namespace
}  // namespace loupe::identity
