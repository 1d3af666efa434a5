#include "src/agent/line_printer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace loupe::agent {
namespace {

// A FILE* on the write end of a pipe; the test reads the other end without blocking.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    read_fd_ = fds[0];
    EXPECT_EQ(fcntl(read_fd_, F_SETFL, O_NONBLOCK), 0);
    EXPECT_EQ(fcntl(fds[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
    out_ = fdopen(fds[1], "w");
  }
  ~Pipe() {
    std::fclose(out_);
    close(read_fd_);
  }
  std::FILE* out() { return out_; }
  // What the pipe holds now, after waiting up to `wait` for something to arrive.
  std::string Read(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    pollfd p{read_fd_, POLLIN, 0};
    poll(&p, 1, static_cast<int>(wait.count()));
    std::string got;
    char buf[65536];
    ssize_t n;
    while ((n = read(read_fd_, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
    return got;
  }

 private:
  int read_fd_ = -1;
  std::FILE* out_ = nullptr;
};

// Lines are not written one by one: nothing reaches the stream before the interval, and all of
// them, in order, at destruction.
TEST(LinePrinterTest, HoldsLinesUntilTheIntervalAndWritesThemAtDestruction) {
  Pipe pipe;
  auto printer = std::make_unique<LinePrinter>(pipe.out(), std::chrono::hours(1));
  printer->Print("one");
  printer->PrintWith([](std::string* out) { out->append("two"); });
  printer->Print("");
  EXPECT_EQ(pipe.Read(std::chrono::milliseconds(100)), "");
  printer.reset();
  EXPECT_EQ(pipe.Read(), "one\ntwo\n\n");
}

// A printer left alone writes its lines within the interval.
TEST(LinePrinterTest, WritesPendingLinesEveryInterval) {
  Pipe pipe;
  LinePrinter printer(pipe.out(), std::chrono::milliseconds(20));
  printer.Print("first");
  EXPECT_EQ(pipe.Read(std::chrono::seconds(5)), "first\n");
  printer.Print("second");
  EXPECT_EQ(pipe.Read(std::chrono::seconds(5)), "second\n");
}

// kFlushBytes pending are written at once, without waiting for the interval.
TEST(LinePrinterTest, WritesAtOnceWhenTheBufferFills) {
  Pipe pipe;
  LinePrinter printer(pipe.out(), std::chrono::hours(1));
  const std::string line(999, 'x');  // 1000 bytes with its newline
  size_t printed = 0;
  while (printed + 1000 < LinePrinter::kFlushBytes) {
    printer.Print(line);
    printed += 1000;
  }
  EXPECT_EQ(pipe.Read(std::chrono::milliseconds(50)), "");
  printer.Print(line);
  printed += 1000;
  EXPECT_EQ(pipe.Read().size(), printed);
}

// A stream that fails (a pipe whose reader is gone, as the agent sees it with SIGPIPE ignored)
// stops the printing: the printer goes on accepting lines and drops them without formatting.
TEST(LinePrinterTest, AFailedWriteStopsThePrintingWithoutStoppingTheCaller) {
  struct sigaction ignore {};
  struct sigaction before {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &before), 0);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  std::FILE* out = fdopen(fds[1], "w");
  ASSERT_NE(out, nullptr);
  close(fds[0]);
  {
    LinePrinter printer(out, std::chrono::milliseconds(1));
    const std::string line(999, 'x');
    for (int i = 0; i < 1000; ++i) printer.Print(line);  // 1 MB: the first write fails
    EXPECT_TRUE(std::ferror(out));
    bool formatted = false;
    printer.PrintWith([&formatted](std::string* text) {
      formatted = true;
      text->append("late");
    });
    EXPECT_FALSE(formatted);  // lines are no longer even formatted
  }
  std::fclose(out);
  sigaction(SIGPIPE, &before, nullptr);
}

}  // namespace
}  // namespace loupe::agent
