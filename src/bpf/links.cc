#include "src/bpf/links.h"

#include <system_error>
#include <thread>

namespace loupe::bpf {

void DestroyLinksConcurrently(std::span<struct bpf_link* const> links) {
  std::vector<std::thread> threads;
  threads.reserve(links.size());
  for (struct bpf_link* link : links) {
    if (link == nullptr) continue;
    try {
      threads.emplace_back([link] { bpf_link__destroy(link); });
    } catch (const std::system_error&) {
      bpf_link__destroy(link);  // no thread to be had: detach here, one after the other
    }
  }
  for (std::thread& t : threads) t.join();
}

std::vector<struct bpf_link*> TakeSkeletonLinks(struct bpf_object_skeleton* skeleton) {
  std::vector<struct bpf_link*> links;
  if (skeleton == nullptr) return links;
  for (int i = 0; i < skeleton->prog_cnt; ++i) {
    // The array's stride is the generator's prog_skel_sz, which may differ from this libbpf's.
    auto* prog = reinterpret_cast<struct bpf_prog_skeleton*>(
        reinterpret_cast<char*>(skeleton->progs) +
        static_cast<size_t>(i) * static_cast<size_t>(skeleton->prog_skel_sz));
    if (prog->link != nullptr && *prog->link != nullptr) {
      links.push_back(*prog->link);
      *prog->link = nullptr;
    }
  }
  return links;
}

}  // namespace loupe::bpf
