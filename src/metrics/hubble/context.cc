#include "src/metrics/hubble/context.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace loupe::metrics::hubble {
namespace {

const flow::Endpoint* EndpointOf(const flow::PeerInfo* info) {
  return info != nullptr ? &info->endpoint : nullptr;
}

std::string_view Namespace(const flow::Endpoint* ep) {
  return ep != nullptr ? std::string_view(ep->namespace_name) : std::string_view();
}

std::string_view PodName(const flow::Endpoint* ep) {
  return ep != nullptr ? std::string_view(ep->pod_name) : std::string_view();
}

std::string_view WorkloadName(const flow::Endpoint* ep) {
  return ep != nullptr && !ep->workloads.empty() ? std::string_view(ep->workloads[0].name)
                                                 : std::string_view();
}

std::string_view WorkloadKind(const flow::Endpoint* ep) {
  return ep != nullptr && !ep->workloads.empty() ? std::string_view(ep->workloads[0].kind)
                                                 : std::string_view();
}

void AppendJoined(const std::vector<std::string>& parts, LabelValues* out) {
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out->Append(",");
    out->Append(parts[i]);
  }
}

// "namespace/name", or "name" alone when the namespace is empty.
void PushQualified(std::string_view ns, std::string_view name, LabelValues* out) {
  if (ns.empty()) {
    out->Push(name);
    return;
  }
  out->Begin();
  out->Append(ns);
  out->Append("/");
  out->Append(name);
  out->End();
}

void PushIp(const flow::IpAddress& ip, LabelValues* out) {
  if (ip.version == 0) {
    out->Push("");
    return;
  }
  out->Begin();
  out->AppendIp(ip);
  out->End();
}

// Pushes the value of one context identifier for one end of the flow (possibly "").
void PushContextId(ContextId id, const flow::Flow& f, bool source_end, LabelValues* out) {
  const flow::PeerInfo* info = source_end ? f.src_info.get() : f.dst_info.get();
  const flow::Endpoint* ep = EndpointOf(info);
  switch (id) {
    case ContextId::kNamespace:
      out->Push(Namespace(ep));
      return;
    case ContextId::kIdentity:
      if (ep == nullptr) {
        out->Push("");
        return;
      }
      out->Begin();
      AppendJoined(ep->labels, out);
      out->End();
      return;
    case ContextId::kPod:
      PushQualified(Namespace(ep), PodName(ep), out);
      return;
    case ContextId::kPodShort:
      PushQualified(Namespace(ep), ShortenPodName(PodName(ep)), out);
      return;
    case ContextId::kPodName:
      out->Push(PodName(ep));
      return;
    case ContextId::kDns:
      if (info == nullptr) {
        out->Push("");
        return;
      }
      out->Begin();
      AppendJoined(info->names, out);
      out->End();
      return;
    case ContextId::kIp:
      PushIp(source_end ? f.src_ip : f.dst_ip, out);
      return;
    case ContextId::kReservedIdentity:
      out->Push(ep != nullptr ? ReservedIdentity(ep->labels) : std::string_view());
      return;
    case ContextId::kWorkload: {
      const std::string_view name = WorkloadName(ep);
      if (name.empty()) {
        out->Push("");
      } else {
        PushQualified(Namespace(ep), name, out);
      }
      return;
    }
    case ContextId::kWorkloadName:
      out->Push(WorkloadName(ep));
      return;
    case ContextId::kApp:
      out->Push(ep != nullptr ? AppFromLabels(ep->labels) : std::string_view());
      return;
  }
  out->Push("");
}

// The first non-empty value of `ids` for one side, pushed as one label value ("" if all empty).
void PushContext(const std::vector<ContextId>& ids, const flow::Flow& f, bool source_end,
                 LabelValues* out) {
  const size_t slot = out->size();
  for (ContextId id : ids) {
    out->Truncate(slot);
    PushContextId(id, f, source_end, out);
    if (!(*out)[slot].empty()) return;
  }
  out->Truncate(slot);
  out->Push("");
}

const std::vector<ContextId>& Identifiers(const std::vector<ContextId>& both,
                                          const std::vector<ContextId>& egress,
                                          const std::vector<ContextId>& ingress,
                                          flow::TrafficDirection direction) {
  if (!ingress.empty() && direction == flow::TrafficDirection::kIngress) return ingress;
  if (!egress.empty() && direction == flow::TrafficDirection::kEgress) return egress;
  return both;
}

}  // namespace

void LabelValues::Begin() {
  start_ = used_;
  spill_ = nullptr;
}

void LabelValues::Append(std::string_view s) {
  if (spill_ != nullptr) {
    spill_->append(s);
    return;
  }
  if (used_ + s.size() <= arena_.size()) {
    if (!s.empty()) std::memcpy(arena_.data() + used_, s.data(), s.size());
    used_ += s.size();
    return;
  }
  // Does not fit: continue this value on the heap and give its arena bytes back.
  spills_.emplace_front(arena_.data() + start_, used_ - start_);
  spill_ = &spills_.front();
  spill_->append(s);
  used_ = start_;
  ++spilled_;
}

void LabelValues::AppendUint(uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  Append(std::string_view(buf, static_cast<size_t>(end - buf)));
}

void LabelValues::AppendIp(const flow::IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN];
  Append(ip.Format(buf));  // IPv4 written directly: glibc's inet_ntop goes through sprintf
}

std::string_view LabelValues::Finish() {
  if (spill_ != nullptr) {
    const std::string_view v = *spill_;
    spill_ = nullptr;
    return v;
  }
  return {arena_.data() + start_, used_ - start_};
}

std::string_view ShortenPodName(std::string_view pod) {
  auto segment_ok = [](std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
  };
  // Segments cannot contain '-', so the candidates are the last two dashes.
  const size_t last = pod.rfind('-');
  if (last == std::string_view::npos || last == 0 || !segment_ok(pod.substr(last + 1))) {
    return pod;
  }
  // The lazy prefix prefers two segments when the prefix stays non-empty.
  const size_t before = pod.rfind('-', last - 1);
  if (before != std::string_view::npos && before > 0 &&
      segment_ok(pod.substr(before + 1, last - before - 1))) {
    return pod.substr(0, before);
  }
  return pod.substr(0, last);
}

std::string_view AppFromLabels(const std::vector<std::string>& labels) {
  static constexpr std::string_view kPrefixes[] = {
      "k8s:app.kubernetes.io/name=", "k8s:k8s-app=", "k8s:app="};
  for (const std::string& label : labels) {
    for (std::string_view prefix : kPrefixes) {
      if (label.size() > prefix.size() && std::string_view(label).starts_with(prefix)) {
        return std::string_view(label).substr(prefix.size());
      }
    }
  }
  return {};
}

std::string_view ReservedIdentity(const std::vector<std::string>& labels) {
  static constexpr std::string_view kKubeApiServer = "reserved:kube-apiserver";
  for (const std::string& label : labels) {
    if (label == kKubeApiServer) return kKubeApiServer;
  }
  for (const std::string& label : labels) {
    if (std::string_view(label).starts_with("reserved:")) return label;
  }
  return {};
}

const char* TrafficDirectionValue(flow::TrafficDirection direction) {
  switch (direction) {
    case flow::TrafficDirection::kIngress:
      return "ingress";
    case flow::TrafficDirection::kEgress:
      return "egress";
    case flow::TrafficDirection::kUnknown:
      break;
  }
  return "unknown";
}

void AppendContextValues(const ContextOptions& options, const flow::Flow& f, bool invert,
                         LabelValues* out) {
  if (options.labels != 0) {
    const flow::Endpoint* src = EndpointOf(f.src_info.get());
    const flow::Endpoint* dst = EndpointOf(f.dst_info.get());
    const flow::IpAddress* src_ip = &f.src_ip;
    const flow::IpAddress* dst_ip = &f.dst_ip;
    if (invert) {
      std::swap(src, dst);
      std::swap(src_ip, dst_ip);
    }
    for (int i = 0; i < kContextLabelCount; ++i) {
      const auto label = static_cast<ContextLabel>(i);
      if (!options.Has(label)) continue;
      switch (label) {
        case ContextLabel::kSourceIp:
          PushIp(*src_ip, out);
          break;
        case ContextLabel::kSourcePod:
          out->Push(PodName(src));
          break;
        case ContextLabel::kSourceNamespace:
          out->Push(Namespace(src));
          break;
        case ContextLabel::kSourceWorkload:
          out->Push(WorkloadName(src));
          break;
        case ContextLabel::kSourceWorkloadKind:
          out->Push(WorkloadKind(src));
          break;
        case ContextLabel::kSourceApp:
          out->Push(src != nullptr ? AppFromLabels(src->labels) : std::string_view());
          break;
        case ContextLabel::kDestinationIp:
          PushIp(*dst_ip, out);
          break;
        case ContextLabel::kDestinationPod:
          out->Push(PodName(dst));
          break;
        case ContextLabel::kDestinationNamespace:
          out->Push(Namespace(dst));
          break;
        case ContextLabel::kDestinationWorkload:
          out->Push(WorkloadName(dst));
          break;
        case ContextLabel::kDestinationWorkloadKind:
          out->Push(WorkloadKind(dst));
          break;
        case ContextLabel::kDestinationApp:
          out->Push(dst != nullptr ? AppFromLabels(dst->labels) : std::string_view());
          break;
        case ContextLabel::kTrafficDirection:
          out->Push(TrafficDirectionValue(f.direction));
          break;
      }
    }
  }
  // For an inverted (response) flow each label describes the request's side: `source` applies the
  // source identifiers to the flow's destination end, and vice versa.
  if (options.HasSource()) {
    PushContext(
        Identifiers(options.source, options.source_egress, options.source_ingress, f.direction), f,
        /*source_end=*/!invert, out);
  }
  if (options.HasDestination()) {
    PushContext(Identifiers(options.destination, options.destination_egress,
                            options.destination_ingress, f.direction),
                f, /*source_end=*/invert, out);
  }
}

}  // namespace loupe::metrics::hubble
