// Beyla's `attributes.kubernetes.service_name_template`: a Go text/template that names the service
// of a process in a pod (reference/beyla.md §2.3). It runs with the pod's metadata as `.Meta` and
// the process's container as `.ContainerName`; the first line of its output, trimmed, is the
// service name. An explicit OTEL_SERVICE_NAME of the process still wins; otherwise the template
// replaces the annotation, label and owner rules.
//
// This is a subset of text/template, parsed once at start-up (errors name the offset):
//   - text and actions `{{ ... }}`, with `{{-` / `-}}` trimming the whitespace next to them, and
//     comments `{{/* ... */}}`;
//   - `{{ if P }}`, `{{ else if P }}`, `{{ else }}`, `{{ with P }}` (sets `.`), `{{ end }}`;
//   - pipelines `a | b` (the value goes in as the last argument), parentheses, string literals
//     ("..." with Go escapes, `raw`), integers, true, false;
//   - the fields .Meta.Name (pod name), .Meta.Namespace, .Meta.Kind ("Pod"), .Meta.Labels,
//     .Meta.Annotations (maps; `.Meta.Labels.app` reads a key), .ContainerName, and `.`;
//   - the functions and, or, not, eq, ne, index, len, print, printf (%s %v %d %q %%).
// Anything else (range, variables, other fields or functions) is a parse error, so a template that
// would behave differently from Beyla's is refused instead of silently misnaming services.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/identity/pod_metadata.h"

namespace loupe::identity {

class ServiceNameTemplate {
 public:
  static absl::StatusOr<ServiceNameTemplate> Parse(std::string_view text);

  // The service name for a process of `pod` (container_name: its container, may be empty). An
  // error (e.g. index of something that is not a map) means the caller keeps the pod name, as
  // Beyla does.
  absl::StatusOr<std::string> Execute(const PodMetadata& pod) const;

  // Keys the template reads from .Meta.Annotations with a literal key: the pod informer keeps
  // only the annotations something names.
  const std::vector<std::string>& annotation_keys() const { return annotation_keys_; }

  struct Node;  // parsed form (service_name_template.cc)

 private:
  std::shared_ptr<const std::vector<Node>> nodes_;
  std::vector<std::string> annotation_keys_;
};

}  // namespace loupe::identity
