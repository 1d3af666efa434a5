// `loupe preflight`: the pre-deployment checklist. Checks the kernel (release, BTF, tracefs,
// cgroup v2), the process (capabilities, RLIMIT_MEMLOCK) and, by really loading and attaching a
// tiny program for each, every BPF hook type Loupe uses. Prints a table or a JSON document and
// returns 0 when every required check passes, 1 otherwise. See docs/preflight.md.
//
// Runs its checks on the calling thread; call from one thread at a time.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loupe::cli {

struct PreflightOptions {
  std::string output = "table";  // or "json"
};

// ok: passed. missing: a required check failed (exit code 1). unavailable: an optional feature
// is absent. warn: passed with a caveat, or could not be decided; never fails the exit code.
enum class CheckStatus { kOk, kMissing, kUnavailable, kWarn };

// "ok", "MISSING", "unavailable", "warn".
const char* CheckStatusName(CheckStatus status);

struct PreflightCheck {
  std::string
      name;  // "kernel", "btf", "tracefs", "capabilities", "memlock", "cgroup_v2", or a hook
  std::string kind;  // "system", "privilege", "limit" or "hook"
  bool required = false;
  CheckStatus status = CheckStatus::kOk;
  bool available = false;
  std::optional<bool> fired;  // hooks the check triggered: whether the program ran
  int err = 0;                // positive errno of the failing step, 0 if none
  std::string error;          // the failing step and its errno
  std::string detail;         // what was found, in one line
  std::string disables;       // what Loupe cannot do without it
  std::string fix;            // what the operator can do about it
};

struct PreflightReport {
  std::string kernel;  // uname release
  // The capabilities preflight reports, in order, with whether they are in the effective set.
  std::vector<std::pair<std::string, bool>> capabilities;
  std::vector<PreflightCheck> checks;

  // Every required check passed (status ok or warn).
  bool ok() const;
};

// Runs every check. May mount tracefs when it is missing and the process is allowed to.
PreflightReport RunPreflightChecks();

std::string FormatPreflightTable(const PreflightReport& report);
std::string FormatPreflightJson(const PreflightReport& report);

// Runs the checks, prints the report to stdout and returns the exit code.
int RunPreflight(const PreflightOptions& opts);

}  // namespace loupe::cli
