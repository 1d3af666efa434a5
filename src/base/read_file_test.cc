#include "src/base/read_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace loupe {
namespace {

std::string TempFile(const std::string& contents) {
  char name[] = "/tmp/loupe_read_file_XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
  close(fd);
  return name;
}

TEST(ReadFile, ReadsAWholeFileLongerThanOneChunk) {
  std::string contents(10000, 'x');
  contents[9999] = 'y';
  const std::string path = TempFile(contents);
  std::string out = "stale";
  EXPECT_EQ(ReadFileTo(path, &out), 0);
  EXPECT_EQ(out, contents);
  unlink(path.c_str());
}

TEST(ReadFile, TruncatesAtTheLimit) {
  const std::string path = TempFile("abcdefgh");
  std::string out;
  EXPECT_EQ(ReadFileTo(path, &out, 3), 0);
  EXPECT_EQ(out, "abc");
  unlink(path.c_str());
}

TEST(ReadFile, ReadsProcFilesThatReportSizeZero) {
  std::string out;
  ASSERT_EQ(ReadFileTo("/proc/self/stat", &out), 0);
  EXPECT_EQ(out.substr(0, std::to_string(getpid()).size()), std::to_string(getpid()));
}

TEST(ReadFile, MissingFileIsENOENT) {
  std::string out = "stale";
  EXPECT_EQ(ReadFileTo("/nonexistent/loupe", &out), ENOENT);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ReadFileOrEmpty("/nonexistent/loupe"), "");
}

// open(2) succeeds on a directory and read(2) fails, the same shape as ESRCH from
// /proc/<pid>/stat of a process that exits between the two calls. The istreambuf_iterator
// reader this replaces threw std::ios_base::failure here and aborted the agent.
TEST(ReadFile, AReadErrorAfterOpenIsReturnedNotThrown) {
  std::string out = "stale";
  EXPECT_EQ(ReadFileTo("/tmp", &out), EISDIR);
  EXPECT_TRUE(out.empty());
  EXPECT_NO_THROW(EXPECT_EQ(ReadFileOrEmpty("/tmp"), ""));
}

TEST(ReadWholeFile, ReturnsTheContents) {
  const std::string path = TempFile("abc");
  auto text = ReadWholeFile(path, "");
  unlink(path.c_str());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "abc");
}

TEST(ReadWholeFile, AFileExactlyAtTheLimitIsRead) {
  const std::string path = TempFile("abc");
  auto text = ReadWholeFile(path, "", 3);
  unlink(path.c_str());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "abc");
}

TEST(ReadWholeFile, AFileOverTheLimitIsAnErrorNotCutShort) {
  const std::string path = TempFile("abcd");
  auto text = ReadWholeFile(path, "", 3);
  unlink(path.c_str());
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(text.status().message().find("larger than 3 bytes"), std::string::npos);
}

TEST(ReadWholeFile, MissingIsNotFoundAndADirectoryIsInvalid) {
  auto missing = ReadWholeFile("/nonexistent/loupe", "test file");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("cannot read test file /nonexistent/loupe: ENOENT"),
            std::string::npos);
  auto dir = ReadWholeFile("/tmp", "");
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dir.status().message().find("cannot read /tmp: EISDIR"), std::string::npos);
}

}  // namespace
}  // namespace loupe
