// Reading whole small files (/proc, /sys, configuration) without iostreams.
//
// std::ifstream read through std::istreambuf_iterator throws std::ios_base::failure when read(2)
// fails after open(2) succeeded, e.g. ESRCH on /proc/<pid>/stat of a process that exited in
// between, or EISDIR on a directory. These helpers report such errors as a return value instead.
#pragma once

#include <cstddef>
#include <string>

namespace loupe {

// Reads the file at `path` into `out` (replacing its contents), at most `max_bytes` bytes.
// Returns 0 on success or the errno of the failed open/read. A file longer than `max_bytes` is
// truncated to it; that is not an error. Retries on EINTR. Never throws except std::bad_alloc.
int ReadFileTo(const std::string& path, std::string* out, size_t max_bytes = 16u << 20);

// Same, returning the contents or "" on any error.
std::string ReadFileOrEmpty(const std::string& path, size_t max_bytes = 16u << 20);

}  // namespace loupe
