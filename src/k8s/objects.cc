#include "src/k8s/objects.h"

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace loupe::k8s {
namespace {

// Reads fields of one JSON object, naming the full field path in errors. Null counts as absent,
// as the API server writes null for unset optional fields.
class Fields {
 public:
  Fields(const Json* object, std::string path) : object_(object), path_(std::move(path)) {}

  bool present() const { return object_ != nullptr; }

  const Json* Find(const char* key) const {
    if (object_ == nullptr) return nullptr;
    auto it = object_->find(key);
    if (it == object_->end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string PathOf(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  absl::Status TypeError(const char* key, const char* expected) const {
    return absl::InvalidArgumentError(absl::StrCat("field ", PathOf(key), ": expected ", expected));
  }

  absl::Status String(const char* key, std::string* out) const {
    const Json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string()) return TypeError(key, "string");
    *out = v->get_ref<const std::string&>();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) const {
    const Json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_boolean()) return TypeError(key, "boolean");
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  absl::Status Int32(const char* key, int32_t* out) const {
    const Json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_integer()) return TypeError(key, "integer");
    const int64_t value = v->get<int64_t>();
    if (value < INT32_MIN || value > INT32_MAX) return TypeError(key, "32-bit integer");
    *out = static_cast<int32_t>(value);
    return absl::OkStatus();
  }

  absl::Status Timestamp(const char* key, int64_t* out) const {
    std::string text;
    RETURN_IF_ERROR(String(key, &text));
    if (text.empty()) return absl::OkStatus();
    if (!ParseRfc3339(text, out)) return TypeError(key, "RFC 3339 timestamp");
    return absl::OkStatus();
  }

  // A nested object; absent → a Fields that finds nothing.
  absl::StatusOr<Fields> Object(const char* key) const {
    const Json* v = Find(key);
    if (v == nullptr) return Fields(nullptr, PathOf(key));
    if (!v->is_object()) return TypeError(key, "object");
    return Fields(v, PathOf(key));
  }

  // A nested array; absent → nullptr.
  absl::StatusOr<const Json*> Array(const char* key) const {
    const Json* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) return TypeError(key, "array");
    return v;
  }

  absl::Status StringList(const char* key, std::vector<std::string>* out) const {
    ASSIGN_OR_RETURN(const Json* array, Array(key));
    if (array == nullptr) return absl::OkStatus();
    out->clear();
    out->reserve(array->size());
    for (const Json& item : *array) {
      if (!item.is_string()) return TypeError(key, "array of strings");
      out->push_back(item.get<std::string>());
    }
    return absl::OkStatus();
  }

  // A string → string map, sorted by key; `keep` filters keys.
  template <typename Keep>
  absl::Status StringMap(const char* key, StringPairs* out, Keep keep) const {
    const Json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_object()) return TypeError(key, "object");
    out->clear();
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_string()) return TypeError(key, "map of strings");
      if (!keep(it.key())) continue;
      out->emplace_back(it.key(), it.value().get<std::string>());
    }
    // nlohmann's default object is a std::map, so keys arrive sorted; sort anyway for safety.
    std::sort(out->begin(), out->end());
    out->shrink_to_fit();
    return absl::OkStatus();
  }

  absl::Status StringMap(const char* key, StringPairs* out) const {
    return StringMap(key, out, [](const std::string&) { return true; });
  }

  // Calls `fn(Fields)` for every element of an array of objects.
  template <typename Fn>
  absl::Status ForEachObject(const char* key, Fn fn) const {
    ASSIGN_OR_RETURN(const Json* array, Array(key));
    if (array == nullptr) return absl::OkStatus();
    size_t index = 0;
    for (const Json& item : *array) {
      const std::string path = absl::StrCat(PathOf(key), "[", index++, "]");
      if (!item.is_object())
        return absl::InvalidArgumentError("field " + path + ": expected object");
      RETURN_IF_ERROR(fn(Fields(&item, path)));
    }
    return absl::OkStatus();
  }

 private:
  const Json* object_;
  std::string path_;
};

absl::Status DecodeServicePorts(const Fields& spec, std::vector<ServicePort>* out) {
  return spec.ForEachObject("ports", [out](const Fields& port) -> absl::Status {
    ServicePort p;
    RETURN_IF_ERROR(port.String("name", &p.name));
    RETURN_IF_ERROR(port.String("protocol", &p.protocol));
    RETURN_IF_ERROR(port.Int32("port", &p.port));
    out->push_back(std::move(p));
    return absl::OkStatus();
  });
}

template <typename T>
absl::Status DecodeMetaOnly(const Json& object, const DecodeOptions& options, T* out) {
  RETURN_IF_ERROR(DecodeMeta(object, options, &out->meta));
  if (out->meta.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(T::kResource.kind), " has no metadata.name"));
  }
  return absl::OkStatus();
}

Json StringPairsToJson(const StringPairs& pairs) {
  Json out = Json::object();
  for (const auto& [k, v] : pairs) out[k] = v;
  return out;
}

Json MetaOnlyToJson(const ObjectMeta& meta) {
  Json out;
  out["metadata"] = ToJson(meta);
  return out;
}

int DigitsValue(std::string_view s) {
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

std::string ObjectMeta::Key() const {
  if (namespace_.empty()) return name;
  std::string key;
  key.reserve(namespace_.size() + 1 + name.size());
  key += namespace_;
  key += '/';
  key += name;
  return key;
}

const std::string* ObjectMeta::Label(std::string_view key) const {
  auto it = std::lower_bound(labels.begin(), labels.end(), key,
                             [](const auto& pair, std::string_view k) { return pair.first < k; });
  if (it == labels.end() || it->first != key) return nullptr;
  return &it->second;
}

const OwnerReference* ObjectMeta::ControllerOwner() const {
  for (const OwnerReference& ref : owner_references) {
    if (ref.controller) return &ref;
  }
  return nullptr;
}

bool ParseRfc3339(std::string_view text, int64_t* unix_seconds) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return false;
  }
  const int year = DigitsValue(text.substr(0, 4));
  const int month = DigitsValue(text.substr(5, 2));
  const int day = DigitsValue(text.substr(8, 2));
  const int hour = DigitsValue(text.substr(11, 2));
  const int minute = DigitsValue(text.substr(14, 2));
  const int second = DigitsValue(text.substr(17, 2));
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60) {
    return false;
  }
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0) return false;
    rest.remove_prefix(digits);
  }
  int offset_s = 0;
  if (rest == "Z" || rest == "z") {
    offset_s = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    const int oh = DigitsValue(rest.substr(1, 2));
    const int om = DigitsValue(rest.substr(4, 2));
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
    offset_s = (oh * 60 + om) * 60 * (rest[0] == '-' ? -1 : 1);
  } else {
    return false;
  }
  // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int mp = (month + 9) % 12;
  const int doy = (153 * mp + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  *unix_seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  return true;
}

absl::Status DecodeMeta(const Json& object, const DecodeOptions& options, ObjectMeta* out) {
  if (!object.is_object()) return absl::InvalidArgumentError("object: expected JSON object");
  const Fields root(&object, "");
  ASSIGN_OR_RETURN(const Fields meta, root.Object("metadata"));
  if (!meta.present()) return absl::InvalidArgumentError("object has no metadata");
  RETURN_IF_ERROR(meta.String("name", &out->name));
  RETURN_IF_ERROR(meta.String("namespace", &out->namespace_));
  RETURN_IF_ERROR(meta.String("uid", &out->uid));
  RETURN_IF_ERROR(meta.String("resourceVersion", &out->resource_version));
  RETURN_IF_ERROR(meta.Timestamp("creationTimestamp", &out->creation_timestamp_s));
  RETURN_IF_ERROR(meta.StringMap("labels", &out->labels));
  RETURN_IF_ERROR(meta.StringMap("annotations", &out->annotations, [&](const std::string& key) {
    for (const std::string& prefix : options.annotation_prefixes) {
      if (key.compare(0, prefix.size(), prefix) == 0) return true;
    }
    return std::find(options.annotation_keys.begin(), options.annotation_keys.end(), key) !=
           options.annotation_keys.end();
  }));
  out->owner_references.clear();
  RETURN_IF_ERROR(meta.ForEachObject("ownerReferences", [out](const Fields& ref) -> absl::Status {
    OwnerReference owner;
    RETURN_IF_ERROR(ref.String("kind", &owner.kind));
    RETURN_IF_ERROR(ref.String("name", &owner.name));
    RETURN_IF_ERROR(ref.Bool("controller", &owner.controller));
    out->owner_references.push_back(std::move(owner));
    return absl::OkStatus();
  }));
  return absl::OkStatus();
}

absl::Status Decode(const Json& object, const DecodeOptions& options, Pod* out) {
  RETURN_IF_ERROR(DecodeMeta(object, options, &out->meta));
  if (out->meta.name.empty()) return absl::InvalidArgumentError("Pod has no metadata.name");
  const Fields root(&object, "");
  ASSIGN_OR_RETURN(const Fields spec, root.Object("spec"));
  RETURN_IF_ERROR(spec.String("nodeName", &out->node_name));
  RETURN_IF_ERROR(spec.String("serviceAccountName", &out->service_account));
  RETURN_IF_ERROR(spec.Bool("hostNetwork", &out->host_network));
  ASSIGN_OR_RETURN(const Fields status, root.Object("status"));
  RETURN_IF_ERROR(status.String("phase", &out->phase));
  RETURN_IF_ERROR(status.String("hostIP", &out->host_ip));
  RETURN_IF_ERROR(status.Timestamp("startTime", &out->start_time_s));
  out->pod_ips.clear();
  RETURN_IF_ERROR(status.ForEachObject("podIPs", [out](const Fields& ip) -> absl::Status {
    std::string address;
    RETURN_IF_ERROR(ip.String("ip", &address));
    if (!address.empty()) out->pod_ips.push_back(std::move(address));
    return absl::OkStatus();
  }));
  if (out->pod_ips.empty()) {
    std::string address;
    RETURN_IF_ERROR(status.String("podIP", &address));
    if (!address.empty()) out->pod_ips.push_back(std::move(address));
  }
  out->containers.clear();
  auto add_container = [out](const Fields& c) -> absl::Status {
    ContainerStatus container;
    RETURN_IF_ERROR(c.String("name", &container.name));
    RETURN_IF_ERROR(c.String("containerID", &container.container_id));
    out->containers.push_back(std::move(container));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(status.ForEachObject("initContainerStatuses", add_container));
  RETURN_IF_ERROR(status.ForEachObject("containerStatuses", add_container));
  out->containers.shrink_to_fit();
  return absl::OkStatus();
}

absl::Status Decode(const Json& object, const DecodeOptions& options, Service* out) {
  RETURN_IF_ERROR(DecodeMeta(object, options, &out->meta));
  if (out->meta.name.empty()) return absl::InvalidArgumentError("Service has no metadata.name");
  const Fields root(&object, "");
  ASSIGN_OR_RETURN(const Fields spec, root.Object("spec"));
  RETURN_IF_ERROR(spec.String("type", &out->type));
  std::vector<std::string> ips;
  RETURN_IF_ERROR(spec.StringList("clusterIPs", &ips));
  if (ips.empty()) {
    std::string ip;
    RETURN_IF_ERROR(spec.String("clusterIP", &ip));
    if (!ip.empty()) ips.push_back(std::move(ip));
  }
  out->cluster_ips.clear();
  for (std::string& ip : ips) {
    if (ip != "None" && !ip.empty()) out->cluster_ips.push_back(std::move(ip));
  }
  RETURN_IF_ERROR(spec.StringMap("selector", &out->selector));
  out->ports.clear();
  RETURN_IF_ERROR(DecodeServicePorts(spec, &out->ports));
  return absl::OkStatus();
}

absl::Status Decode(const Json& object, const DecodeOptions& options, EndpointSlice* out) {
  RETURN_IF_ERROR(DecodeMeta(object, options, &out->meta));
  if (out->meta.name.empty()) {
    return absl::InvalidArgumentError("EndpointSlice has no metadata.name");
  }
  const Fields root(&object, "");
  const std::string* service = out->meta.Label("kubernetes.io/service-name");
  out->service_name = service != nullptr ? *service : "";
  RETURN_IF_ERROR(root.String("addressType", &out->address_type));
  out->endpoints.clear();
  RETURN_IF_ERROR(root.ForEachObject("endpoints", [out](const Fields& ep) -> absl::Status {
    Endpoint endpoint;
    RETURN_IF_ERROR(ep.StringList("addresses", &endpoint.addresses));
    ASSIGN_OR_RETURN(const Fields conditions, ep.Object("conditions"));
    RETURN_IF_ERROR(conditions.Bool("ready", &endpoint.ready));
    RETURN_IF_ERROR(ep.String("nodeName", &endpoint.node_name));
    ASSIGN_OR_RETURN(const Fields target, ep.Object("targetRef"));
    RETURN_IF_ERROR(target.String("kind", &endpoint.target_ref.kind));
    RETURN_IF_ERROR(target.String("namespace", &endpoint.target_ref.namespace_));
    RETURN_IF_ERROR(target.String("name", &endpoint.target_ref.name));
    out->endpoints.push_back(std::move(endpoint));
    return absl::OkStatus();
  }));
  out->ports.clear();
  RETURN_IF_ERROR(DecodeServicePorts(root, &out->ports));
  return absl::OkStatus();
}

absl::Status Decode(const Json& object, const DecodeOptions& options, Node* out) {
  RETURN_IF_ERROR(DecodeMeta(object, options, &out->meta));
  if (out->meta.name.empty()) return absl::InvalidArgumentError("Node has no metadata.name");
  const Fields root(&object, "");
  ASSIGN_OR_RETURN(const Fields status, root.Object("status"));
  out->addresses.clear();
  return status.ForEachObject("addresses", [out](const Fields& a) -> absl::Status {
    NodeAddress address;
    RETURN_IF_ERROR(a.String("type", &address.type));
    RETURN_IF_ERROR(a.String("address", &address.address));
    out->addresses.push_back(std::move(address));
    return absl::OkStatus();
  });
}

absl::Status Decode(const Json& object, const DecodeOptions& options, Namespace* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const Namespace& object) { return MetaOnlyToJson(object.meta); }

absl::Status Decode(const Json& object, const DecodeOptions& options, ReplicaSet* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const ReplicaSet& object) { return MetaOnlyToJson(object.meta); }

absl::Status Decode(const Json& object, const DecodeOptions& options, Deployment* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const Deployment& object) { return MetaOnlyToJson(object.meta); }

absl::Status Decode(const Json& object, const DecodeOptions& options, DaemonSet* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const DaemonSet& object) { return MetaOnlyToJson(object.meta); }

absl::Status Decode(const Json& object, const DecodeOptions& options, StatefulSet* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const StatefulSet& object) { return MetaOnlyToJson(object.meta); }

absl::Status Decode(const Json& object, const DecodeOptions& options, Job* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const Job& object) { return MetaOnlyToJson(object.meta); }

absl::Status Decode(const Json& object, const DecodeOptions& options, CronJob* out) {
  return DecodeMetaOnly(object, options, out);
}
Json ToJson(const CronJob& object) { return MetaOnlyToJson(object.meta); }

Json ToJson(const ObjectMeta& meta) {
  Json out;
  out["name"] = meta.name;
  if (!meta.namespace_.empty()) out["namespace"] = meta.namespace_;
  out["uid"] = meta.uid;
  out["resourceVersion"] = meta.resource_version;
  out["labels"] = StringPairsToJson(meta.labels);
  out["annotations"] = StringPairsToJson(meta.annotations);
  Json owners = Json::array();
  for (const OwnerReference& ref : meta.owner_references) {
    owners.push_back({{"kind", ref.kind}, {"name", ref.name}, {"controller", ref.controller}});
  }
  out["ownerReferences"] = std::move(owners);
  out["creationTimestamp"] = meta.creation_timestamp_s;
  return out;
}

Json ToJson(const Pod& pod) {
  Json out;
  out["metadata"] = ToJson(pod.meta);
  out["nodeName"] = pod.node_name;
  out["serviceAccountName"] = pod.service_account;
  out["hostNetwork"] = pod.host_network;
  out["phase"] = pod.phase;
  out["hostIP"] = pod.host_ip;
  out["podIPs"] = pod.pod_ips;
  out["startTime"] = pod.start_time_s;
  Json containers = Json::array();
  for (const ContainerStatus& c : pod.containers) {
    containers.push_back({{"name", c.name}, {"containerID", c.container_id}});
  }
  out["containers"] = std::move(containers);
  return out;
}

namespace {
Json PortsToJson(const std::vector<ServicePort>& ports) {
  Json out = Json::array();
  for (const ServicePort& p : ports) {
    out.push_back({{"name", p.name}, {"protocol", p.protocol}, {"port", p.port}});
  }
  return out;
}
}  // namespace

Json ToJson(const Service& service) {
  Json out;
  out["metadata"] = ToJson(service.meta);
  out["type"] = service.type;
  out["clusterIPs"] = service.cluster_ips;
  out["selector"] = StringPairsToJson(service.selector);
  out["ports"] = PortsToJson(service.ports);
  return out;
}

Json ToJson(const EndpointSlice& slice) {
  Json out;
  out["metadata"] = ToJson(slice.meta);
  out["serviceName"] = slice.service_name;
  out["addressType"] = slice.address_type;
  Json endpoints = Json::array();
  for (const Endpoint& ep : slice.endpoints) {
    endpoints.push_back({{"addresses", ep.addresses},
                         {"ready", ep.ready},
                         {"nodeName", ep.node_name},
                         {"targetRef",
                          {{"kind", ep.target_ref.kind},
                           {"namespace", ep.target_ref.namespace_},
                           {"name", ep.target_ref.name}}}});
  }
  out["endpoints"] = std::move(endpoints);
  out["ports"] = PortsToJson(slice.ports);
  return out;
}

Json ToJson(const Node& node) {
  Json out;
  out["metadata"] = ToJson(node.meta);
  Json addresses = Json::array();
  for (const NodeAddress& a : node.addresses) {
    addresses.push_back({{"type", a.type}, {"address", a.address}});
  }
  out["addresses"] = std::move(addresses);
  return out;
}

}  // namespace loupe::k8s
