#include "src/export/otlp/metrics_encoder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "src/base/build_info.h"
#include "src/telemetry/tracing/ids.h"

namespace loupe::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace pm = opentelemetry::proto::metrics::v1;

struct KnownMetric {
  std::string_view prometheus;
  OtelMetricName otel;
};

// reference/beyla.md §4.1 and §4.6 (Prometheus names derived with otlptranslator).
constexpr std::array<KnownMetric, 22> kKnownMetrics = {{
    {"http_server_request_duration_seconds", {"http.server.request.duration", "s"}},
    {"http_client_request_duration_seconds", {"http.client.request.duration", "s"}},
    {"http_server_request_body_size_bytes", {"http.server.request.body.size", "By"}},
    {"http_server_response_body_size_bytes", {"http.server.response.body.size", "By"}},
    {"http_client_request_body_size_bytes", {"http.client.request.body.size", "By"}},
    {"http_client_response_body_size_bytes", {"http.client.response.body.size", "By"}},
    {"rpc_server_call_duration_seconds", {"rpc.server.call.duration", "s"}},
    {"rpc_client_call_duration_seconds", {"rpc.client.call.duration", "s"}},
    {"db_client_operation_duration_seconds", {"db.client.operation.duration", "s"}},
    {"db_server_operation_duration_seconds", {"db.server.operation.duration", "s"}},
    {"messaging_client_operation_duration_seconds", {"messaging.client.operation.duration", "s"}},
    {"messaging_process_duration_seconds", {"messaging.process.duration", "s"}},
    {"dns_lookup_duration_seconds", {"dns.lookup.duration", "s"}},
    {"traces_span_metrics_duration_seconds", {"traces.span.metrics.duration", "s"}},
    {"traces_span_metrics_calls_total", {"traces.span.metrics.calls", ""}},
    {"gen_ai_client_operation_duration_seconds", {"gen_ai.client.operation.duration", "s"}},
    // Beyla's process metrics (application_process).
    {"process_cpu_time_seconds_total", {"process.cpu.time", "s"}},
    {"process_cpu_utilization_ratio", {"process.cpu.utilization", "1"}},
    {"process_memory_usage_bytes", {"process.memory.usage", "By"}},
    {"process_memory_virtual_bytes", {"process.memory.virtual", "By"}},
    {"process_disk_io_bytes_total", {"process.disk.io", "By"}},
    {"process_network_io_bytes_total", {"process.network.io", "By"}},
}};

struct KnownLabel {
  std::string_view prometheus;
  std::string_view otel;
  bool resource;  // moves to the resource
};

// `instance` and `job` are what Prometheus derives from service.instance.id and
// service.namespace/service.name: over OTLP the first is the resource's service.instance.id and
// the second is left out (an empty OTel name), as Beyla's OTLP metrics have them.
constexpr std::array<KnownLabel, 57> kKnownLabels = {{
    {"service_name", "service.name", true},
    {"service_namespace", "service.namespace", true},
    {"service_instance_id", "service.instance.id", true},
    {"instance", "service.instance.id", true},
    {"job", "", true},
    {"k8s_namespace_name", "k8s.namespace.name", true},
    {"k8s_pod_name", "k8s.pod.name", true},
    {"k8s_container_name", "k8s.container.name", true},
    {"k8s_deployment_name", "k8s.deployment.name", true},
    {"k8s_replicaset_name", "k8s.replicaset.name", true},
    {"k8s_daemonset_name", "k8s.daemonset.name", true},
    {"k8s_job_name", "k8s.job.name", true},
    {"k8s_cronjob_name", "k8s.cronjob.name", true},
    {"k8s_statefulset_name", "k8s.statefulset.name", true},
    {"k8s_node_name", "k8s.node.name", true},
    {"k8s_pod_uid", "k8s.pod.uid", true},
    {"k8s_pod_start_time", "k8s.pod.start_time", true},
    {"k8s_cluster_name", "k8s.cluster.name", true},
    {"k8s_owner_name", "k8s.owner.name", true},
    {"k8s_kind", "k8s.kind", true},
    {"container_name", "container.name", true},
    {"container_id", "container.id", true},
    {"host_name", "host.name", true},
    {"http_request_method", "http.request.method", false},
    {"http_response_status_code", "http.response.status_code", false},
    {"http_route", "http.route", false},
    {"url_scheme", "url.scheme", false},
    {"url_path", "url.path", false},
    {"server_address", "server.address", false},
    {"server_port", "server.port", false},
    {"client_address", "client.address", false},
    {"rpc_method", "rpc.method", false},
    {"rpc_system_name", "rpc.system.name", false},
    {"rpc_response_status_code", "rpc.response.status_code", false},
    {"db_operation_name", "db.operation.name", false},
    {"db_system_name", "db.system.name", false},
    {"db_collection_name", "db.collection.name", false},
    {"db_namespace", "db.namespace", false},
    {"error_type", "error.type", false},
    {"messaging_system", "messaging.system", false},
    {"messaging_destination_name", "messaging.destination.name", false},
    {"messaging_operation_name", "messaging.operation.name", false},
    {"dns_question_name", "dns.question.name", false},
    {"service_peer_name", "service.peer.name", false},
    {"network_protocol_version", "network.protocol.version", false},
    {"span_kind", "span.kind", false},
    {"cpu_mode", "cpu.mode", false},
    {"disk_io_direction", "disk.io.direction", false},
    {"network_io_direction", "network.io.direction", false},
    {"process_pid", "process.pid", false},
    {"process_parent_pid", "process.parent_pid", false},
    {"process_command", "process.command", false},
    {"process_owner", "process.owner", false},
    {"process_command_line", "process.command_line", false},
    {"process_command_args", "process.command_args", false},
    {"process_executable_name", "process.executable.name", false},
    {"process_executable_path", "process.executable.path", false},
}};

const KnownLabel* LookupLabel(std::string_view label) {
  for (const auto& known : kKnownLabels) {
    if (known.prometheus == label) return &known;
  }
  return nullptr;
}

void SetAttribute(common::KeyValue* kv, std::string_view key, const std::string& value) {
  kv->set_key(key.data(), key.size());
  kv->mutable_value()->set_string_value(value);
}

std::string SeriesKey(const std::string& family, const metrics::Labels& labels) {
  std::string key = family;
  for (const auto& [name, value] : labels) {
    key.push_back('\0');
    key += name;
    key.push_back('=');
    key += value;
  }
  return key;
}

struct ResourceGroup {
  pm::ScopeMetrics* scope = nullptr;
  std::map<std::string, pm::Metric*> metrics;
};

}  // namespace

const OtelMetricName* LookupOtelName(std::string_view prometheus_name) {
  for (const auto& known : kKnownMetrics) {
    if (known.prometheus == prometheus_name) return &known.otel;
  }
  return nullptr;
}

std::string_view OtelAttributeName(std::string_view prometheus_label) {
  const KnownLabel* known = LookupLabel(prometheus_label);
  return known == nullptr || known->otel.empty() ? prometheus_label : known->otel;
}

MetricsEncoder::MetricsEncoder(Temporality temporality,
                               std::shared_ptr<const tracing::Resource> agent_resource,
                               int64_t start_ns, ServiceResourceFn service_resource)
    : temporality_(temporality),
      agent_resource_(std::move(agent_resource)),
      service_resource_(std::move(service_resource)),
      start_ns_(start_ns),
      last_commit_ns_(start_ns) {}

void MetricsEncoder::Commit(Pending&& pending) {
  if (temporality_ != Temporality::kDelta) return;
  for (auto& [key, baseline] : pending.series) baseline_[key] = std::move(baseline);
  last_commit_ns_ = pending.time_ns;
}

size_t MetricsEncoder::Encode(
    const std::vector<metrics::FamilySnapshot>& families, int64_t now_ns,
    opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest* out,
    Pending* pending) const {
  const bool delta = temporality_ == Temporality::kDelta;
  const auto agg =
      delta ? pm::AGGREGATION_TEMPORALITY_DELTA : pm::AGGREGATION_TEMPORALITY_CUMULATIVE;
  pending->time_ns = now_ns;
  pending->series.clear();
  std::map<std::string, ResourceGroup> groups;  // by resource attributes

  auto group_for = [&](const std::vector<std::pair<std::string_view, std::string>>& resource_attrs)
      -> ResourceGroup& {
    std::string key;
    for (const auto& [k, v] : resource_attrs) {
      key.append(k.data(), k.size());
      key.push_back('=');
      key += v;
      key.push_back('\0');
    }
    auto [it, inserted] = groups.try_emplace(key);
    if (inserted) {
      pm::ResourceMetrics* rm = out->add_resource_metrics();
      auto* resource = rm->mutable_resource();
      std::vector<std::string_view> set_keys;
      for (const auto& [k, v] : resource_attrs) {
        SetAttribute(resource->add_attributes(), k, v);
        set_keys.push_back(k);
      }
      std::vector<std::pair<std::string, std::string>> service_attrs;
      if (service_resource_ && !resource_attrs.empty()) {
        service_attrs = service_resource_(resource_attrs);
        for (const auto& [k, v] : service_attrs) {
          if (std::find(set_keys.begin(), set_keys.end(), k) != set_keys.end()) continue;
          SetAttribute(resource->add_attributes(), k, v);
          set_keys.push_back(k);
        }
      }
      if (agent_resource_ != nullptr) {
        for (const auto& entry : agent_resource_->entries()) {
          if (std::find(set_keys.begin(), set_keys.end(), entry.key) != set_keys.end()) continue;
          common::KeyValue* kv = resource->add_attributes();
          kv->set_key(entry.key);
          if (const auto* s = std::get_if<std::string>(&entry.value)) {
            kv->mutable_value()->set_string_value(*s);
          } else if (const auto* i = std::get_if<int64_t>(&entry.value)) {
            kv->mutable_value()->set_int_value(*i);
          } else if (const auto* d = std::get_if<double>(&entry.value)) {
            kv->mutable_value()->set_double_value(*d);
          } else if (const auto* b = std::get_if<bool>(&entry.value)) {
            kv->mutable_value()->set_bool_value(*b);
          }
        }
      }
      it->second.scope = rm->add_scope_metrics();
      it->second.scope->mutable_scope()->set_name("loupe");
      it->second.scope->mutable_scope()->set_version(kVersion);
    }
    return it->second;
  };

  size_t points = 0;
  for (const auto& family : families) {
    const OtelMetricName* known = LookupOtelName(family.name);
    for (const auto& sample : family.samples) {
      std::vector<std::pair<std::string_view, std::string>> resource_attrs;
      std::vector<std::pair<std::string_view, const std::string*>> point_attrs;
      for (const auto& [name, value] : sample.labels) {
        if (known != nullptr) {
          const KnownLabel* label = LookupLabel(name);
          if (label != nullptr && label->resource) {
            if (!label->otel.empty()) resource_attrs.emplace_back(label->otel, value);
            continue;
          }
          point_attrs.emplace_back(label != nullptr ? label->otel : std::string_view(name), &value);
        } else {
          point_attrs.emplace_back(name, &value);
        }
      }
      std::sort(resource_attrs.begin(), resource_attrs.end());
      ResourceGroup& group = group_for(resource_attrs);
      pm::Metric*& metric = group.metrics[family.name];
      if (metric == nullptr) {
        metric = group.scope->add_metrics();
        metric->set_name(known != nullptr ? std::string(known->name) : family.name);
        metric->set_description(family.help);
        if (known != nullptr) metric->set_unit(std::string(known->unit));
        switch (family.type) {
          case metrics::MetricType::kCounter:
            metric->mutable_sum()->set_is_monotonic(true);
            metric->mutable_sum()->set_aggregation_temporality(agg);
            break;
          case metrics::MetricType::kGauge:
            metric->mutable_gauge();
            break;
          case metrics::MetricType::kHistogram:
            metric->mutable_histogram()->set_aggregation_temporality(agg);
            break;
        }
      }
      const std::string key = SeriesKey(family.name, sample.labels);
      const Baseline* base = nullptr;
      if (delta) {
        auto it = baseline_.find(key);
        if (it != baseline_.end()) base = &it->second;
      }
      const uint64_t start = static_cast<uint64_t>(base != nullptr ? last_commit_ns_ : start_ns_);
      auto add_attrs = [&](google::protobuf::RepeatedPtrField<common::KeyValue>* attrs) {
        for (const auto& [k, v] : point_attrs) SetAttribute(attrs->Add(), k, *v);
      };
      ++points;
      switch (family.type) {
        case metrics::MetricType::kCounter: {
          pm::NumberDataPoint* dp = metric->mutable_sum()->add_data_points();
          add_attrs(dp->mutable_attributes());
          dp->set_start_time_unix_nano(start);
          dp->set_time_unix_nano(static_cast<uint64_t>(now_ns));
          double value = sample.value;
          if (base != nullptr && sample.value >= base->value) value = sample.value - base->value;
          if (base != nullptr && sample.value < base->value) {
            dp->set_start_time_unix_nano(static_cast<uint64_t>(last_commit_ns_));
          }
          dp->set_as_double(value);
          if (delta) pending->series[key].value = sample.value;
          break;
        }
        case metrics::MetricType::kGauge: {
          pm::NumberDataPoint* dp = metric->mutable_gauge()->add_data_points();
          add_attrs(dp->mutable_attributes());
          dp->set_time_unix_nano(static_cast<uint64_t>(now_ns));
          dp->set_as_double(sample.value);
          break;
        }
        case metrics::MetricType::kHistogram: {
          pm::HistogramDataPoint* dp = metric->mutable_histogram()->add_data_points();
          add_attrs(dp->mutable_attributes());
          dp->set_start_time_unix_nano(start);
          dp->set_time_unix_nano(static_cast<uint64_t>(now_ns));
          const bool reset =
              base != nullptr &&
              (sample.count < base->count || base->buckets.size() != sample.bucket_counts.size());
          const Baseline* b = reset ? nullptr : base;
          dp->set_count(b != nullptr ? sample.count - b->count : sample.count);
          dp->set_sum(b != nullptr ? sample.sum - b->sum : sample.sum);
          for (double bound : sample.bounds) dp->add_explicit_bounds(bound);
          for (size_t i = 0; i < sample.bucket_counts.size(); ++i) {
            const uint64_t prev = b != nullptr ? b->buckets[i] : 0;
            const uint64_t cur = sample.bucket_counts[i];
            dp->add_bucket_counts(cur >= prev ? cur - prev : cur);
          }
          for (const auto& exemplar : sample.exemplars) {
            if (!exemplar) continue;
            tracing::TraceId trace_id;
            tracing::SpanId span_id;
            if (!tracing::ParseTraceId(exemplar->trace_id, &trace_id)) continue;
            pm::Exemplar* e = dp->add_exemplars();
            e->set_as_double(exemplar->value);
            const double seconds = std::floor(exemplar->timestamp);
            e->set_time_unix_nano(
                static_cast<uint64_t>(seconds) * 1'000'000'000ULL +
                static_cast<uint64_t>(std::llround((exemplar->timestamp - seconds) * 1e9)));
            e->set_trace_id(trace_id.data(), trace_id.size());
            if (tracing::ParseSpanId(exemplar->span_id, &span_id)) {
              e->set_span_id(span_id.data(), span_id.size());
            }
          }
          if (delta) {
            Baseline& next = pending->series[key];
            next.buckets = sample.bucket_counts;
            next.sum = sample.sum;
            next.count = sample.count;
          }
          break;
        }
      }
    }
  }
  return points;
}

}  // namespace loupe::otlp
