// Reading whole small files (/proc, /sys, configuration) without iostreams.
//
// std::ifstream read through std::istreambuf_iterator throws std::ios_base::failure when read(2)
// fails after open(2) succeeded, e.g. ESRCH on /proc/<pid>/stat of a process that exited in
// between, or EISDIR on a directory. These helpers report such errors as a return value instead.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace loupe {

// Reads the file at `path` into `out` (replacing its contents), at most `max_bytes` bytes.
// Returns 0 on success or the errno of the failed open/read. A file longer than `max_bytes` is
// truncated to it; that is not an error. Retries on EINTR. Never throws except std::bad_alloc.
int ReadFileTo(const std::string& path, std::string* out, size_t max_bytes = 16u << 20);

// Reads a whole file the user named (configuration, kubeconfig, CA bundle, token). Unlike
// ReadFileTo, a file longer than `max_bytes` is an error rather than silently cut short, and
// errors carry the path and the reason: NotFound for ENOENT, InvalidArgument for anything else
// (EISDIR for a directory, EACCES, EIO, too large). `what` names the file in messages:
// "cannot read <what> <path>: EISDIR (Is a directory)".
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what,
                                          size_t max_bytes = 16u << 20);

// Same, returning the contents or "" on any error.
std::string ReadFileOrEmpty(const std::string& path, size_t max_bytes = 16u << 20);

}  // namespace loupe
