// Fuzz target: the service-name template parser and executor (attributes.kubernetes.
// service_name_template comes from the operator's configuration). Any text must parse or give an
// InvalidArgument error, and a parsed template must run to a name or an error: never a crash, hang
// or unbounded output.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "src/identity/service_name_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = loupe::identity::ServiceNameTemplate::Parse(text);
  if (!parsed.ok()) return 0;
  static const loupe::identity::PodMetadata pod = [] {
    loupe::identity::PodMetadata p;
    p.namespace_name = "shop";
    p.pod_name = "cart-7d9f-abcde";
    p.container_name = "server";
    p.labels = {{"app", "cart"}, {"app.kubernetes.io/name", "cart"}};
    p.annotations = {{"team", "payments"}};
    return p;
  }();
  auto name = parsed->Execute(pod);
  if (name.ok() && name->size() > 4096) std::abort();
  return 0;
}
