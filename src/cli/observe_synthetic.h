// A fixed set of synthetic flows (TCP handshake, drops, DNS, ICMP, HTTP, a lost event) used by the
// Observer API tests and by the test-only `loupe debug serve-synthetic` command, so the C++ and
// Python tests query the same, known data.
#pragma once

#include <cstdint>

#include "src/flow/flow_buffer.h"

namespace loupe::cli {

// Appends the synthetic set: 15 flows and one PERF_EVENT_RING_BUFFER lost event (after the 7th
// flow). Flow i (1-based) gets time `now_ns - (16 - i) * 60 s`, so the last one is a minute old.
void AppendSyntheticFlows(flow::FlowBuffer& buffer, int64_t now_ns);

// One more flow (UDP 10.9.9.9:9999 -> 10.9.9.10:53 at `now_ns`), for follow tests.
flow::Flow SyntheticFollowFlow(int64_t now_ns);

inline constexpr int kSyntheticFlowCount = 15;

}  // namespace loupe::cli
