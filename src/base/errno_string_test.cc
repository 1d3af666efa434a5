#include "src/base/errno_string.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(ErrnoStringTest, NamesKnownErrnos) {
  EXPECT_EQ(ErrnoName(EPERM), "EPERM");
  EXPECT_EQ(ErrnoName(-ENOENT), "ENOENT");
  EXPECT_EQ(ErrnoDescription(EPERM), "EPERM (Operation not permitted)");
}

TEST(ErrnoStringTest, UnknownErrnoFallsBackToNumber) { EXPECT_EQ(ErrnoName(9999), "errno 9999"); }

}  // namespace
}  // namespace loupe
