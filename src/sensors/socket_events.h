// Decoded events of the socket-data sensor (syscall tracepoints): a connection opens (accept or
// connect), data moves in one direction, the connection closes. The ingest layer turns them into
// ordered byte streams per connection. Sinks are called from the sensor's reader thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "src/flow/flow.h"

namespace loupe::sensors {

// Identifies one socket for its lifetime: (pid, fd) plus a generation that changes when the fd
// number is reused (the open time in ns, or a per-CPU counter).
struct ConnId {
  uint32_t pid = 0;  // tgid
  int32_t fd = -1;
  uint64_t tsid = 0;  // generation
  bool operator==(const ConnId&) const = default;
};

struct ConnIdHash {
  size_t operator()(const ConnId& id) const {
    return std::hash<uint64_t>()((static_cast<uint64_t>(id.pid) << 32) ^
                                 static_cast<uint32_t>(id.fd)) ^
           std::hash<uint64_t>()(id.tsid * 0x9E3779B97F4A7C15ull);
  }
};

enum class ConnRole : uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

// Egress: the process wrote/sent; ingress: it read/received.
enum class DataDirection : uint8_t { kEgress = 0, kIngress = 1 };

struct ConnTuple {
  flow::IpAddress local_ip;
  flow::IpAddress remote_ip;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
};

struct SocketOpenEvent {
  ConnId id;
  int64_t time_ns = 0;  // wall clock
  ConnRole role = ConnRole::kUnknown;
  ConnTuple tuple;
  uint32_t tid = 0;
  std::string comm;  // command name of the process at accept/connect
};

struct SocketDataEvent {
  ConnId id;
  int64_t time_ns = 0;  // wall clock, when the syscall returned
  DataDirection direction = DataDirection::kEgress;
  ConnRole role = ConnRole::kUnknown;
  ConnTuple tuple;  // resolved in the kernel from the socket; may be empty if unknown
  // Byte position of this chunk in the direction's stream (total bytes this direction carried
  // before this call, counting what was not copied).
  uint64_t position = 0;
  uint32_t original_size = 0;     // bytes the syscall moved
  std::span<const uint8_t> data;  // the copied prefix (<= original_size)
  uint32_t tid = 0;
  // The protocol the kernel inferred for this connection (registry id; 0 = unknown).
  uint8_t protocol = 0;
  // True when the connection was opened before the sensor started (no open event was seen).
  bool preexisting = false;
  std::string comm;  // command name of the process that made the call
};

struct SocketCloseEvent {
  ConnId id;
  int64_t time_ns = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

class SocketEventSink {
 public:
  virtual ~SocketEventSink() = default;
  virtual void OnOpen(const SocketOpenEvent& event) = 0;
  virtual void OnData(const SocketDataEvent& event) = 0;
  virtual void OnClose(const SocketCloseEvent& event) = 0;
  virtual void OnLost(const flow::LostEvent& lost) = 0;
  // About once a second on the same thread, also when no events arrive (time-driven work such as
  // request timeouts).
  virtual void OnTick() {}
};

}  // namespace loupe::sensors
