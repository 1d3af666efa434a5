// Turns a failed libbpf open/load/attach into an absl::Status an operator can act on: the errno by
// name, the last lines of the verifier log, and a hint for the likely cause.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace loupe::bpf {

// Number of verifier-log lines kept in a load error.
inline constexpr size_t kVerifierTailLines = 12;

// `err` is a libbpf return value or errno (sign ignored). `log_tail` is libbpf output captured
// during the operation (see LibbpfLogCapture).
absl::Status BpfError(const std::string& what, int err, const std::vector<std::string>& log_tail);

// The hint attached to an error, exposed for tests and for `loupe preflight`.
std::string HintForError(int err, const std::vector<std::string>& log_tail);

}  // namespace loupe::bpf
