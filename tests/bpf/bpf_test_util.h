// Helpers for BPF tests: root check and shell commands for namespaces and links.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loupe::testing {

#define LOUPE_REQUIRE_ROOT()                                               \
  do {                                                                     \
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs"; \
  } while (0)

// Runs a shell command; returns its exit status and captures stdout.
inline int Shell(const std::string& cmd, std::string* out = nullptr) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf{};
  std::string text;
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), n);
  const int status = pclose(pipe);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Saves the calling thread's CPU affinity and puts it back on destruction. Pin() confines the
// thread to one CPU; Cpus() lists the CPUs it was allowed before.
class ScopedAffinity {
 public:
  ScopedAffinity() { ok_ = sched_getaffinity(0, sizeof(saved_), &saved_) == 0; }
  ~ScopedAffinity() {
    if (ok_) sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  ScopedAffinity(const ScopedAffinity&) = delete;
  ScopedAffinity& operator=(const ScopedAffinity&) = delete;

  bool ok() const { return ok_; }
  // Up to `n` of the saved CPUs, lowest first.
  std::vector<int> Cpus(size_t n) const {
    std::vector<int> cpus;
    for (int cpu = 0; ok_ && cpu < CPU_SETSIZE && cpus.size() < n; ++cpu)
      if (CPU_ISSET(cpu, &saved_)) cpus.push_back(cpu);
    return cpus;
  }
  static bool Pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0;
  }

 private:
  cpu_set_t saved_{};
  bool ok_ = false;
};

// A network namespace joined to the root namespace by a veth pair with IPv4 addresses on both
// ends. Removed (with the pair) on destruction.
class VethPair {
 public:
  VethPair() {
    const std::string id = std::to_string(getpid() % 100000);
    ns_ = "lpt" + id;
    host_ = "lpth" + id;
    peer_ = "lptp" + id;
    Shell("ip netns add " + ns_);
    Shell("ip link add " + host_ + " type veth peer name " + peer_ + " netns " + ns_);
    Shell("ip addr add 198.19.250.1/30 dev " + host_);
    Shell("ip link set " + host_ + " up");
    Shell("ip -n " + ns_ + " addr add 198.19.250.2/30 dev " + peer_);
    Shell("ip -n " + ns_ + " link set " + peer_ + " up");
    Shell("ip -n " + ns_ + " link set lo up");
  }
  ~VethPair() {
    Shell("ip link del " + host_);
    Shell("ip netns del " + ns_);
  }
  const std::string& ns() const { return ns_; }
  const std::string& host_if() const { return host_; }
  std::string host_ip() const { return "198.19.250.1"; }
  std::string peer_ip() const { return "198.19.250.2"; }

 private:
  std::string ns_, host_, peer_;
};

}  // namespace loupe::testing
