#include "src/bpf/skeleton.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <iostream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netflow.skel.h"
#include "tests/bpf/bpf_test_util.h"
#include "verifier_reject.skel.h"

namespace loupe::bpf {
namespace {

using ::testing::HasSubstr;

TEST(SkeletonBpfTest, VerifierRejectionCarriesLogTailAndHint) {
  LOUPE_REQUIRE_ROOT();
  auto skel = Skeleton<struct verifier_reject>::Open(LOUPE_SKELETON_OPS(verifier_reject));
  ASSERT_TRUE(skel.ok()) << skel.status();
  absl::Status status = (*skel)->Load();
  ASSERT_FALSE(status.ok());
  const std::string message(status.message());
  std::cerr << message << "\n";
  EXPECT_THAT(message, HasSubstr("loading BPF object 'verifier_reject'"));
  EXPECT_THAT(message, HasSubstr("last log lines:"));
  // The verifier's verdict on the unchecked pointer is in the tail of the log.
  EXPECT_THAT(message, HasSubstr("invalid mem access 'map_value_or_null'"));
  EXPECT_THAT(message, HasSubstr("hint:"));
  EXPECT_FALSE((*skel)->loaded());
}

TEST(SkeletonBpfTest, LoadsNetflowAndFreesEverythingOnDestruction) {
  LOUPE_REQUIRE_ROOT();
  int prog_id = 0;
  {
    auto skel = Skeleton<struct netflow>::Open(LOUPE_SKELETON_OPS(netflow));
    ASSERT_TRUE(skel.ok()) << skel.status();
    ASSERT_TRUE((*skel)->Load().ok());
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    ASSERT_EQ(
        bpf_obj_get_info_by_fd(bpf_program__fd((*skel)->get()->progs.tc__ingress), &info, &len), 0);
    prog_id = static_cast<int>(info.id);
    EXPECT_GT(prog_id, 0);
  }
  // The program is freed once its last fd closes; freeing is asynchronous (RCU), so poll.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    const int fd = bpf_prog_get_fd_by_id(static_cast<uint32_t>(prog_id));
    if (fd < 0) {
      gone = true;
    } else {
      close(fd);
      usleep(10'000);
    }
  }
  EXPECT_TRUE(gone) << "program " << prog_id << " still loaded after the skeleton was destroyed";
}

}  // namespace
}  // namespace loupe::bpf
