#include "src/base/read_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "src/base/errno_string.h"

namespace loupe {

int ReadFileTo(const std::string& path, std::string* out, size_t max_bytes) {
  out->clear();
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  // /proc and /sys files report size 0, so read in chunks until EOF rather than trusting fstat.
  constexpr size_t kChunk = 4096;
  int err = 0;
  while (out->size() < max_bytes) {
    const size_t old = out->size();
    const size_t want = std::min(kChunk, max_bytes - old);
    out->resize(old + want);
    const ssize_t n = ::read(fd, out->data() + old, want);
    if (n < 0) {
      out->resize(old);
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    out->resize(old + static_cast<size_t>(n));
    if (n == 0) break;
  }
  ::close(fd);
  if (err != 0) out->clear();
  return err;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what,
                                          size_t max_bytes) {
  std::string out;
  const int err = ReadFileTo(path, &out, max_bytes + 1);
  const std::string prefix =
      absl::StrCat("cannot read ", what, what.empty() ? "" : " ", path, ": ");
  if (err == ENOENT) return absl::NotFoundError(absl::StrCat(prefix, ErrnoDescription(err)));
  if (err != 0) return absl::InvalidArgumentError(absl::StrCat(prefix, ErrnoDescription(err)));
  if (out.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "larger than ", max_bytes, " bytes"));
  }
  return out;
}

std::string ReadFileOrEmpty(const std::string& path, size_t max_bytes) {
  std::string out;
  ReadFileTo(path, &out, max_bytes);
  return out;
}

}  // namespace loupe
