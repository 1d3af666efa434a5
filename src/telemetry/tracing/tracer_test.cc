#include "src/telemetry/tracing/tracer.h"

#include <gtest/gtest.h>

#include <vector>

#include "src/telemetry/tracing/ids.h"

namespace loupe::tracing {
namespace {

using telemetry::Protocol;
using telemetry::Request;
using telemetry::Role;

constexpr int64_t kMs = 1'000'000;

Request Make(Role role, uint32_t tid, int64_t start_ms, int64_t end_ms) {
  Request r;
  r.pid = 100;
  r.tid = tid;
  r.role = role;
  r.protocol = Protocol::kHttp1;
  r.method = "GET";
  r.path = "/";
  r.status = 200;
  r.start_ns = start_ms * kMs;
  r.end_ns = end_ms * kMs;
  return r;
}

class TracerTest : public ::testing::Test {
 protected:
  explicit TracerTest(const char* sampler = "parentbased_always_on", const char* arg = "")
      : tracer_(Sampler::Create(sampler, arg).value(), TracerOptions{},
                [this](Span&& s) { spans_.push_back(std::move(s)); }) {}
  std::vector<Span> spans_;
  Tracer tracer_;
  std::shared_ptr<const Resource> resource_ = std::make_shared<Resource>();
};

TEST_F(TracerTest, ServerWithoutTraceparentStartsATrace) {
  auto ids = tracer_.Process(Make(Role::kServer, 1, 0, 10), "", resource_);
  ASSERT_EQ(spans_.size(), 1u);
  ASSERT_TRUE(ids.has_value());
  EXPECT_EQ(ids->trace_id, ToHex(spans_[0].trace_id));
  EXPECT_EQ(ids->span_id, ToHex(spans_[0].span_id));
  EXPECT_FALSE(spans_[0].has_parent());
  EXPECT_EQ(spans_[0].trace_flags & 1, 1);
  EXPECT_EQ(spans_[0].resource, resource_);
}

TEST_F(TracerTest, ServerWithTraceparentContinuesTheTrace) {
  Request r = Make(Role::kServer, 1, 0, 10);
  r.trace = {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1};
  tracer_.Process(r, "", resource_);
  ASSERT_EQ(spans_.size(), 1u);
  EXPECT_EQ(ToHex(spans_[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ToHex(spans_[0].parent_span_id), "00f067aa0ba902b7");
  EXPECT_NE(ToHex(spans_[0].span_id), "00f067aa0ba902b7");
}

TEST_F(TracerTest, UnsampledRemoteParentIsNotExported) {
  Request r = Make(Role::kServer, 1, 0, 10);
  r.trace = {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 0};
  EXPECT_FALSE(tracer_.Process(r, "", resource_).has_value());
  EXPECT_TRUE(spans_.empty());
  EXPECT_EQ(tracer_.stats().spans, 1u);
}

TEST_F(TracerTest, ClientInsideServerOfSameThreadBecomesChild) {
  EXPECT_FALSE(tracer_.Process(Make(Role::kClient, 7, 2, 5), "", resource_).has_value());
  EXPECT_TRUE(spans_.empty());  // held until its server completes
  EXPECT_EQ(tracer_.pending_clients(), 1u);
  tracer_.Process(Make(Role::kServer, 7, 1, 9), "", resource_);
  ASSERT_EQ(spans_.size(), 2u);
  const Span& client = spans_[0];
  const Span& server = spans_[1];
  EXPECT_EQ(client.kind, SpanKind::kClient);
  EXPECT_EQ(client.trace_id, server.trace_id);
  EXPECT_EQ(client.parent_span_id, server.span_id);
  EXPECT_EQ(tracer_.stats().linked_clients, 1u);
  EXPECT_EQ(tracer_.pending_clients(), 0u);
}

TEST_F(TracerTest, ClientOnAnotherThreadOrOutsideTheServerIsNotLinked) {
  tracer_.Process(Make(Role::kClient, 8, 2, 5), "", resource_);  // other thread
  tracer_.Process(Make(Role::kClient, 7, 0, 5), "", resource_);  // starts before the server
  tracer_.Process(Make(Role::kServer, 7, 1, 9), "", resource_);
  ASSERT_EQ(spans_.size(), 1u);          // the server; the clients still wait
  tracer_.Flush(9 * kMs + 4'000 * kMs);  // not yet past link_hold (5 s after their end)
  EXPECT_EQ(spans_.size(), 1u);
  tracer_.Flush(5 * kMs + 5'001 * kMs);
  ASSERT_EQ(spans_.size(), 3u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_FALSE(spans_[i].has_parent());
    EXPECT_NE(spans_[i].trace_id, spans_[0].trace_id);
  }
  EXPECT_EQ(tracer_.stats().unlinked_clients, 2u);
}

TEST_F(TracerTest, ClientWithoutTidIsDecidedAtOnce) {
  tracer_.Process(Make(Role::kClient, 0, 2, 5), "", resource_);
  ASSERT_EQ(spans_.size(), 1u);
  EXPECT_FALSE(spans_[0].has_parent());
}

TEST_F(TracerTest, ClientAfterItsServerCompletedIsLinked) {
  tracer_.Process(Make(Role::kServer, 7, 1, 9), "", resource_);
  tracer_.Process(Make(Role::kClient, 7, 2, 5), "", resource_);
  ASSERT_EQ(spans_.size(), 2u);
  EXPECT_EQ(spans_[1].parent_span_id, spans_[0].span_id);
}

TEST_F(TracerTest, OverlappingServersMarkTheThreadMultiplexed) {
  tracer_.Process(Make(Role::kServer, 7, 0, 10), "", resource_);
  tracer_.Process(Make(Role::kClient, 7, 6, 8), "", resource_);    // linked: no overlap seen yet
  tracer_.Process(Make(Role::kClient, 7, 12, 14), "", resource_);  // held
  tracer_.Process(Make(Role::kServer, 7, 5, 20), "", resource_);   // overlaps the first
  EXPECT_EQ(tracer_.stats().multiplexed_threads, 1u);
  tracer_.Process(Make(Role::kClient, 7, 21, 22), "", resource_);  // at once, unlinked
  ASSERT_EQ(spans_.size(), 5u);
  EXPECT_EQ(tracer_.stats().linked_clients, 1u);
  EXPECT_EQ(tracer_.stats().unlinked_clients, 2u);
  EXPECT_FALSE(spans_[2].has_parent());  // the held client went out unlinked
  EXPECT_FALSE(spans_[4].has_parent());
}

TEST_F(TracerTest, ClientTraceparentMustMatchTheServerTrace) {
  Request server = Make(Role::kServer, 7, 0, 10);
  server.trace = {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1};
  Request same = Make(Role::kClient, 7, 1, 2);
  same.trace = {"4bf92f3577b34da6a3ce929d0e0e4736", "1111111111111111", 1};
  Request other = Make(Role::kClient, 7, 3, 4);
  other.trace = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "2222222222222222", 1};
  tracer_.Process(same, "", resource_);
  tracer_.Process(other, "", resource_);
  tracer_.Process(server, "", resource_);
  tracer_.Flush(INT64_MAX);
  ASSERT_EQ(spans_.size(), 3u);
  const Span* linked = nullptr;
  const Span* unlinked = nullptr;
  const Span* srv = nullptr;
  for (const auto& s : spans_) {
    if (s.kind == SpanKind::kServer)
      srv = &s;
    else if (ToHex(s.span_id) == "1111111111111111")
      linked = &s;
    else if (ToHex(s.span_id) == "2222222222222222")
      unlinked = &s;
  }
  ASSERT_TRUE(linked && unlinked && srv);
  EXPECT_EQ(linked->parent_span_id, srv->span_id);
  EXPECT_EQ(ToHex(unlinked->trace_id), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_FALSE(unlinked->has_parent());
}

TEST_F(TracerTest, PendingClientsAreBounded) {
  TracerOptions options;
  options.max_pending_clients = 3;
  std::vector<Span> out;
  Tracer tracer(Sampler::Create("always_on", "").value(), options,
                [&](Span&& s) { out.push_back(std::move(s)); });
  for (int i = 0; i < 10; ++i) tracer.Process(Make(Role::kClient, 7, i, i + 1), "", resource_);
  EXPECT_EQ(tracer.pending_clients(), 3u);
  EXPECT_EQ(out.size(), 7u);
  EXPECT_EQ(tracer.stats().pending_overflow, 7u);
  tracer.Flush(INT64_MAX);
  EXPECT_EQ(out.size(), 10u);
  EXPECT_EQ(tracer.pending_clients(), 0u);
}

class RatioTracerTest : public TracerTest {
 protected:
  RatioTracerTest() : TracerTest("parentbased_traceidratio", "0") {}
};

TEST_F(RatioTracerTest, LinkedClientFollowsItsServersDecision) {
  // Ratio 0: roots are dropped; a sampled remote parent is always continued, with its child.
  Request server = Make(Role::kServer, 7, 0, 10);
  server.trace = {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1};
  tracer_.Process(Make(Role::kClient, 7, 1, 2), "", resource_);
  tracer_.Process(server, "", resource_);
  tracer_.Process(Make(Role::kServer, 8, 0, 10), "", resource_);  // root: not sampled
  ASSERT_EQ(spans_.size(), 2u);
  EXPECT_EQ(ToHex(spans_[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ToHex(spans_[1].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
}

}  // namespace
}  // namespace loupe::tracing
