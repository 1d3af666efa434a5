// Hubble's flow metrics (`hubble_*`, reference/hubble.md §5): the handlers a `--hubble-metrics`
// list enables (dns, drop, tcp, flow, flows-to-world, port-distribution, icmp, http, httpV2,
// kafka), each turning Flows into counter and histogram series with Hubble's names, labels, label
// order and value spellings, plus Loupe's always-on `hubble_tcp_connect_duration_seconds`.
//
// Label values are assembled per flow as string_views (see context.h), so a flow whose series
// already exist costs no allocation here; the registry's Family::Update does the lookup.
//
// Thread expectations: Create on the control thread; OnFlow and OnTcpConnect may be called
// concurrently from any number of threads (handlers are immutable after Create, and the registry
// families lock internally).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/flow/flow.h"
#include "src/metrics/hubble/spec.h"
#include "src/metrics/registry.h"
#include "src/telemetry/request.h"

namespace loupe::metrics::hubble {

// The trace context of an L7 exchange, when the caller knows it (the application view's Request
// carries it; the Flow record has no field for it). Hex ids; empty when unknown.
struct TraceIds {
  std::string_view trace_id;
  std::string_view span_id;
};

struct HubbleMetricsOptions {
  // Bound on the series of every event-labelled family (0 = unlimited); past it the registry
  // folds new label sets into one overflow series and counts them.
  size_t max_series_per_family = 20000;
  // Series idle this long are dropped at collection (0 = never, as Hubble).
  std::chrono::seconds series_ttl{0};
};

// Buckets (seconds) of hubble_tcp_connect_duration_seconds.
const std::vector<double>& TcpConnectBuckets();

// The exemplar for an HTTP flow: `trace` when it has a trace id, else the flow's `traceparent`
// header (as Hubble takes trace_context from the HTTP headers). `storage` holds parsed ids; the
// result's views point into `trace`, the flow or `storage`. trace_id is empty when there is none.
ExemplarRef HttpExemplar(const flow::Flow& f, const TraceIds* trace,
                         telemetry::TraceContext* storage);

class HubbleMetrics {
 public:
  // Parses `entries` (ParseHubbleMetrics) and registers every enabled handler's families plus
  // hubble_tcp_connect_duration_seconds in `registry`, which must outlive this object.
  static absl::StatusOr<std::unique_ptr<HubbleMetrics>> Create(
      Registry& registry, const std::vector<std::string>& entries,
      const HubbleMetricsOptions& options = {});
  // For specs already parsed (and checked) by ParseHubbleMetrics.
  static std::unique_ptr<HubbleMetrics> CreateFromSpecs(Registry& registry,
                                                        std::vector<HandlerSpec> specs,
                                                        const HubbleMetricsOptions& options = {});
  ~HubbleMetrics();
  HubbleMetrics(const HubbleMetrics&) = delete;
  HubbleMetrics& operator=(const HubbleMetrics&) = delete;

  // Counts one flow in every enabled handler.
  void OnFlow(const flow::Flow& f) { OnFlow(f, TraceIds{}); }
  // Same, with the trace context of an L7 flow (httpV2/http `exemplars=true` attach it).
  void OnFlow(const flow::Flow& f, const TraceIds& trace);

  // One completed TCP connect (SYN sent -> ESTABLISHED) taking `seconds`. `tuple` describes the
  // connection from the connecting side: src = local address/port, dst = remote, direction egress,
  // src_info/dst_info when the identity caches know the addresses (else the labels are "").
  // Labels: source_namespace, source_workload, destination_namespace, destination_workload, plus
  // the `tcp` handler's other labelsContext labels and its source/destination context.
  void OnTcpConnect(const flow::Flow& tuple, double seconds);

  const std::vector<HandlerSpec>& specs() const { return specs_; }

  class Handler;

 private:
  HubbleMetrics(Registry& registry, std::vector<HandlerSpec> specs,
                const HubbleMetricsOptions& options);

  std::vector<HandlerSpec> specs_;
  std::vector<std::unique_ptr<Handler>> handlers_;
  ContextOptions connect_context_;
  Family<Histogram>* connect_duration_ = nullptr;
};

}  // namespace loupe::metrics::hubble
