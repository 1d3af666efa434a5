#include "src/bpf/load_error.h"

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::bpf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LoadErrorTest, CarriesErrnoTailOfLogAndHint) {
  std::vector<std::string> log;
  for (int i = 0; i < 30; ++i) log.push_back("line " + std::to_string(i));
  log.push_back("R1 invalid mem access 'scalar'");
  absl::Status status = BpfError("loading BPF object 'x'", -EACCES, log);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("loading BPF object 'x': EACCES"));
  EXPECT_THAT(status.message(), HasSubstr("R1 invalid mem access"));
  EXPECT_THAT(status.message(), HasSubstr("line 29"));
  // Only the tail is kept.
  EXPECT_THAT(status.message(), Not(HasSubstr("line 3\n")));
  EXPECT_THAT(status.message(), HasSubstr("hint: the verifier rejected the program"));
}

TEST(LoadErrorTest, HintsForEnvironmentProblems) {
  EXPECT_THAT(HintForError(EPERM, {}), HasSubstr("CAP_BPF"));
  EXPECT_THAT(HintForError(ENOENT, {}), HasSubstr("attach target does not exist"));
  // What libbpf logs when tracefs is not mounted (or the tracepoint is missing).
  EXPECT_THAT(HintForError(-ENOENT, {"libbpf: failed to open "
                                     "'/sys/kernel/tracing/events/sched/sched_process_exec/id': "
                                     "No such file or directory"}),
              HasSubstr("tracefs is not mounted"));
  EXPECT_THAT(HintForError(EINVAL, {"libbpf: failed to find valid kernel BTF"}),
              HasSubstr("CONFIG_DEBUG_INFO_BTF"));
  EXPECT_THAT(HintForError(ENOMEM, {}), HasSubstr("RLIMIT_MEMLOCK"));
}

}  // namespace
}  // namespace loupe::bpf
