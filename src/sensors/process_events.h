// Process lifecycle events for discovery, from the sched:sched_process_exec and
// sched:sched_process_exit tracepoints (delivered by SocketTraceSensor). Discovery uses them to
// pick up a process that starts (exec) and drop one that ends (exit) within a second, instead of
// waiting for its next /proc scan.
//
// Every exec on the host is reported (not only traced processes: discovery decides what to
// trace). An exit is reported once per process, when its last thread exits; the sensor has
// already removed that pid from the kernel's traced set when OnExit runs.
//
// Threads: the sink is called from the sensor's process-event reader thread (one thread, in
// kernel order); implementations hand work to their own thread if it may block.
#pragma once

#include <cstdint>
#include <string>

namespace loupe::sensors {

struct ProcessExecEvent {
  uint32_t pid = 0;      // tgid
  uint32_t ppid = 0;     // tgid of the parent
  int64_t time_ns = 0;   // wall clock
  std::string comm;      // the new command name (at most 15 characters)
  std::string filename;  // the path given to execve (at most 255 bytes), not resolved
};

struct ProcessExitEvent {
  uint32_t pid = 0;  // tgid
  int64_t time_ns = 0;
  int32_t exit_code = 0;  // wait status: exit status << 8 | terminating signal
  std::string comm;
};

class ProcessEventSink {
 public:
  virtual ~ProcessEventSink() = default;
  virtual void OnExec(const ProcessExecEvent& event) = 0;
  virtual void OnExit(const ProcessExitEvent& event) = 0;
  // `count` process events were lost because their ring buffer was full: discovery should rescan
  // /proc soon instead of trusting the event stream.
  virtual void OnProcessEventsLost(uint64_t count) = 0;
};

}  // namespace loupe::sensors
