// errno values as the symbolic names operators search for (EPERM, ENOENT, ...).
#pragma once

#include <string>

namespace loupe {

// Returns e.g. "EPERM" for 1; "errno 1234" for values without a name. Accepts negative values.
std::string ErrnoName(int err);

// Returns "EPERM (Operation not permitted)".
std::string ErrnoDescription(int err);

}  // namespace loupe
