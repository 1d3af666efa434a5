// Fuzz target: what the Kubernetes API server sends (watch lines, list bodies, Status bodies) and
// the object decoders behind them. The API server is trusted for content, not for shape: a
// proxy, a version skew or a broken aggregated API can send anything, and the agent must not
// crash on it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/k8s/objects.h"
#include "src/k8s/watch.h"

namespace {

template <typename T>
void DecodeAs(const loupe::k8s::Json& object, const loupe::k8s::DecodeOptions& options) {
  T out;
  (void)loupe::k8s::Decode(object, options, &out);
}

void DecodeAll(const loupe::k8s::Json& object) {
  loupe::k8s::DecodeOptions options;
  options.annotation_keys = {"example.com/key"};
  DecodeAs<loupe::k8s::Pod>(object, options);
  DecodeAs<loupe::k8s::Service>(object, options);
  DecodeAs<loupe::k8s::EndpointSlice>(object, options);
  DecodeAs<loupe::k8s::Node>(object, options);
  DecodeAs<loupe::k8s::Namespace>(object, options);
  DecodeAs<loupe::k8s::ReplicaSet>(object, options);
  DecodeAs<loupe::k8s::Deployment>(object, options);
  DecodeAs<loupe::k8s::DaemonSet>(object, options);
  DecodeAs<loupe::k8s::StatefulSet>(object, options);
  DecodeAs<loupe::k8s::Job>(object, options);
  DecodeAs<loupe::k8s::CronJob>(object, options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto event = loupe::k8s::ParseWatchEvent(text); event.ok()) DecodeAll(event->object);
  if (auto list = loupe::k8s::ParseListBody(text); list.ok() && list->items.is_array()) {
    for (const auto& item : list->items) DecodeAll(item);
  }
  (void)loupe::k8s::StatusMessage(text);
  int64_t seconds = 0;
  (void)loupe::k8s::ParseRfc3339(text, &seconds);
  return 0;
}
