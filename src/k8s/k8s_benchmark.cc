// Kubernetes informer costs: watch events split + parsed + decoded + applied to the cache per
// second, and heap bytes per cached pod. The pod is shaped like one from a real cluster (managed
// fields, a container spec with env and mounts, volumes, tolerations, conditions), ~4 KiB of JSON.
#include <malloc.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "src/k8s/object_cache.h"
#include "src/k8s/objects.h"
#include "src/k8s/watch.h"

namespace loupe::k8s {
namespace {

Json RealisticPod(int index, int64_t rv) {
  const std::string name = absl::StrCat("checkout-7d4b9c8f5d-", index);
  Json pod = Json::parse(R"json({
  "kind": "Pod", "apiVersion": "v1",
  "metadata": {
    "generateName": "checkout-7d4b9c8f5d-", "namespace": "shop",
    "uid": "3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c", "creationTimestamp": "2024-05-01T10:00:00Z",
    "labels": {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop",
               "pod-template-hash": "7d4b9c8f5d", "version": "v2"},
    "annotations": {"resource.opentelemetry.io/service.name": "checkout",
                    "kubectl.kubernetes.io/restartedAt": "2024-05-01T09:59:00Z",
                    "prometheus.io/scrape": "true"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                         "name": "checkout-7d4b9c8f5d", "uid": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                         "controller": true, "blockOwnerDeletion": true}],
    "managedFields": [
      {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
       "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1",
       "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {},
         "f:app.kubernetes.io/name": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {".": {},
         "k:{\"uid\":\"0a1b2c3d\"}": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
         ".": {}, "f:env": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
         "f:ports": {}, "f:resources": {}}}, "f:dnsPolicy": {}, "f:restartPolicy": {}}}},
      {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
       "time": "2024-05-01T10:00:05Z", "fieldsType": "FieldsV1", "subresource": "status",
       "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {},
         "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
         "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {},
         "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.1.5\"}": {".": {}, "f:ip": {}}},
         "f:startTime": {}}}}]
  },
  "spec": {
    "nodeName": "node-1", "serviceAccountName": "checkout", "hostNetwork": false,
    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
    "containers": [{"name": "app", "image": "registry.example.com/shop/checkout:2.4.1",
      "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
      "env": [{"name": "DB_HOST", "value": "db.shop.svc"}, {"name": "LOG_LEVEL", "value": "info"},
              {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
      "resources": {"limits": {"cpu": "1", "memory": "512Mi"},
                    "requests": {"cpu": "100m", "memory": "128Mi"}},
      "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": true,
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
      "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}}],
    "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
      {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
      {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
      {"downwardAPI": {"items": [{"path": "namespace",
                                  "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}],
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 300}]
  },
  "status": {
    "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.1.5",
    "podIPs": [{"ip": "10.244.1.5"}], "startTime": "2024-05-01T10:00:01Z", "qosClass": "Burstable",
    "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
                   {"type": "ContainersReady", "status": "True"},
                   {"type": "PodScheduled", "status": "True"}],
    "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true,
      "image": "registry.example.com/shop/checkout:2.4.1",
      "imageID": "registry.example.com/shop/checkout@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "containerID": "containerd://8f2b6c1e9d4a7f3b5c8e2d1a6f9b4c7e3d8a5f2b9c6e1d4a7f3b8c5e2d9a6f1b",
      "state": {"running": {"startedAt": "2024-05-01T10:00:04Z"}}}]
  }
})json");
  pod["metadata"]["name"] = name;
  pod["metadata"]["resourceVersion"] = std::to_string(rv);
  pod["metadata"]["uid"] = absl::StrCat("3f8e2a4c-1b7d-4e9a-8c2f-", index);
  pod["status"]["podIP"] = absl::StrCat("10.244.", index / 250, ".", index % 250);
  pod["status"]["podIPs"][0]["ip"] = pod["status"]["podIP"];
  return pod;
}

std::string WatchLine(const char* type, const Json& object) {
  return Json{{"type", type}, {"object", object}}.dump() + "\n";
}

// The informer's per-event work: split the stream, parse the event, decode the Pod, apply it.
void BM_WatchEventDecodeApply(benchmark::State& state) {
  constexpr int kPods = 1000;
  constexpr int kVersions = 4;  // distinct versions per pod, so every event is a real update
  std::vector<std::string> lines;
  for (int v = 0; v < kVersions; ++v) {
    for (int i = 0; i < kPods; ++i) {
      lines.push_back(WatchLine("MODIFIED", RealisticPod(i, 1000 + v * kPods + i)));
    }
  }
  ObjectCache<Pod> cache;
  uint64_t updates = 0;
  ObjectCache<Pod>::Handlers handlers;
  handlers.on_update = [&](const Pod&, const Pod&) { ++updates; };
  cache.AddHandlers(handlers);
  LineSplitter splitter(16 << 20);
  const DecodeOptions options;
  size_t next = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const std::string& chunk = lines[next];
    next = (next + 1) % lines.size();
    bytes += static_cast<int64_t>(chunk.size());
    splitter.Feed(chunk, [&](std::string_view line) {
      absl::StatusOr<WatchEvent> event = ParseWatchEvent(line);
      auto pod = std::make_shared<Pod>();
      if (!event.ok() || !Decode(event->object, options, pod.get()).ok()) abort();
      cache.Upsert(std::move(pod));
      return true;
    });
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
  state.counters["event_bytes"] = static_cast<double>(lines[0].size());
  state.counters["cached"] = static_cast<double>(cache.Size());
  benchmark::DoNotOptimize(updates);
}
BENCHMARK(BM_WatchEventDecodeApply);

// Heap held by the cache per pod (compact object, shared_ptr block, key, hash-table slot),
// measured with mallinfo2 around filling a cache from list items. Arg 1: keep the annotations a
// discovery selector would name (k8s_pod_annotations: kubectl.kubernetes.io/restartedAt and
// prometheus.io/scrape) besides resource.opentelemetry.io/*; arg 0: only the latter (default).
void BM_MemoryPerCachedPod(benchmark::State& state) {
  const int pods = static_cast<int>(state.range(0));
  std::vector<std::string> items;
  for (int i = 0; i < pods; ++i) items.push_back(RealisticPod(i, 1000 + i).dump());
  DecodeOptions options;
  if (state.range(1) != 0) {
    options.annotation_keys = {"kubectl.kubernetes.io/restartedAt", "prometheus.io/scrape"};
  }
  for (auto _ : state) {
    auto cache = std::make_unique<ObjectCache<Pod>>();
    malloc_trim(0);
    const size_t before = mallinfo2().uordblks;
    {
      std::vector<ObjectCache<Pod>::Ptr> decoded;
      for (const std::string& item : items) {
        auto list = ParseListBody(
            absl::StrCat(R"({"metadata":{"resourceVersion":"1"},"items":[)", item, "]}"));
        auto pod = std::make_shared<Pod>();
        if (!list.ok() || !Decode(list->items[0], options, pod.get()).ok()) abort();
        decoded.push_back(std::move(pod));
      }
      cache->Replace(std::move(decoded));
    }
    malloc_trim(0);
    const size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_pod"] = static_cast<double>(after - before) / pods;
    state.counters["json_bytes_per_pod"] = static_cast<double>(items[0].size());
    benchmark::DoNotOptimize(cache->Size());
  }
}
BENCHMARK(BM_MemoryPerCachedPod)
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::k8s

BENCHMARK_MAIN();
