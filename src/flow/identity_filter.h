// The identity-derived parts of a FlowFilter (Hubble semantics): pods and services by
// "[ns/]name" prefix, FQDN patterns, Kubernetes label selectors, workloads, numeric identities
// and cluster names. A flow whose end has no identity matches none of these.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/flow/flow.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace loupe::flow {

// One side's (source or destination) identity filter.
struct IdentitySpec {
  std::vector<std::string> pod;      // "[ns/]pod-prefix", "ns/" = the namespace, "/pod" any ns
  std::vector<std::string> service;  // same syntax as pod
  std::vector<std::string> fqdn;     // "*.example.com" patterns, case-insensitive
  std::vector<std::string> label;    // label selectors ("app=web,tier!=db", "k8s:app in (a,b)")
  std::vector<Workload> workload;    // empty name/kind = any
  std::vector<uint32_t> identity;
  std::vector<std::string> cluster_name;

  bool empty() const {
    return pod.empty() && service.empty() && fqdn.empty() && label.empty() && workload.empty() &&
           identity.empty() && cluster_name.empty();
  }
};

class IdentityMatcher {
 public:
  // `side` ("source" or "destination") names the field in errors.
  static absl::StatusOr<IdentityMatcher> Compile(const IdentitySpec& spec, const char* side);
  bool empty() const { return empty_; }
  bool Matches(const PeerInfo* peer) const;

 private:
  struct NameRef {
    std::string ns;    // "" = any namespace
    std::string name;  // prefix, "" = any
  };
  struct Requirement {
    enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
    std::string source;  // "k8s", "reserved", ... ; "" = any source
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };
  using Selector = std::vector<Requirement>;  // all must hold

  static bool RefMatches(const std::vector<NameRef>& refs, const std::string& ns,
                         const std::string& name);
  static bool SelectorMatches(const Selector& selector, const std::vector<std::string>& labels);

  bool empty_ = true;
  std::vector<NameRef> pods_;
  std::vector<NameRef> services_;
  // RE2 (linear-time matching); shared so that a compiled matcher stays copyable.
  std::vector<std::shared_ptr<const re2::RE2>> fqdns_;
  std::vector<Selector> selectors_;
  std::vector<Workload> workloads_;
  std::vector<uint32_t> identities_;
  std::vector<std::string> clusters_;
};

// Parses a Kubernetes label selector; exposed for tests. Errors name `field`.
absl::Status ValidateLabelSelector(const std::string& text, const std::string& field);

}  // namespace loupe::flow
