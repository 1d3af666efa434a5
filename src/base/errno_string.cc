#include "src/base/errno_string.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace loupe {

std::string ErrnoName(int err) {
  if (err < 0) err = -err;
  // glibc's strerrorname_np gives the symbolic name (glibc >= 2.32).
  const char* name = strerrorname_np(err);
  if (name == nullptr) return absl::StrCat("errno ", err);
  return name;
}

std::string ErrnoDescription(int err) {
  if (err < 0) err = -err;
  return absl::StrCat(ErrnoName(err), " (", std::strerror(err), ")");
}

}  // namespace loupe
