#include "src/k8s/objects.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kPod[] = R"({
  "kind": "Pod", "apiVersion": "v1",
  "metadata": {
    "name": "web-7d4b9c-abcde", "namespace": "shop", "uid": "11111111-2222",
    "resourceVersion": "4242", "creationTimestamp": "2024-05-01T10:00:00Z",
    "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
    "annotations": {"resource.opentelemetry.io/service.name": "webshop",
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                         "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}]
  },
  "spec": {"nodeName": "node-1", "serviceAccountName": "web-sa", "hostNetwork": false,
           "containers": [{"name": "app", "image": "nginx"}]},
  "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.1.5",
             "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}],
             "startTime": "2024-05-01T10:00:05.123456Z",
             "initContainerStatuses": [{"name": "init", "containerID": "containerd://aaa"}],
             "containerStatuses": [{"name": "app", "containerID": "containerd://bbb",
                                    "ready": true}]}
})";

TEST(ObjectsTest, DecodesPod) {
  Pod pod;
  ASSERT_TRUE(Decode(Json::parse(kPod), DecodeOptions{}, &pod).ok());
  EXPECT_EQ(pod.meta.name, "web-7d4b9c-abcde");
  EXPECT_EQ(pod.meta.namespace_, "shop");
  EXPECT_EQ(pod.meta.uid, "11111111-2222");
  EXPECT_EQ(pod.meta.resource_version, "4242");
  EXPECT_EQ(pod.meta.creation_timestamp_s, 1714557600);
  EXPECT_THAT(pod.meta.labels,
              ElementsAre(Pair("app", "web"), Pair("pod-template-hash", "7d4b9c")));
  // Only annotations under the selected prefixes are kept.
  EXPECT_THAT(pod.meta.annotations,
              ElementsAre(Pair("resource.opentelemetry.io/service.name", "webshop")));
  ASSERT_EQ(pod.meta.owner_references.size(), 1u);
  EXPECT_EQ(pod.meta.owner_references[0].kind, "ReplicaSet");
  EXPECT_EQ(pod.meta.owner_references[0].name, "web-7d4b9c");
  EXPECT_TRUE(pod.meta.owner_references[0].controller);
  EXPECT_EQ(pod.meta.ControllerOwner(), &pod.meta.owner_references[0]);
  EXPECT_EQ(pod.meta.Key(), "shop/web-7d4b9c-abcde");
  ASSERT_NE(pod.meta.Label("app"), nullptr);
  EXPECT_EQ(*pod.meta.Label("app"), "web");
  EXPECT_EQ(pod.meta.Label("missing"), nullptr);
  EXPECT_EQ(pod.node_name, "node-1");
  EXPECT_EQ(pod.service_account, "web-sa");
  EXPECT_FALSE(pod.host_network);
  EXPECT_EQ(pod.phase, "Running");
  EXPECT_EQ(pod.host_ip, "10.0.0.1");
  EXPECT_THAT(pod.pod_ips, ElementsAre("10.244.1.5", "fd00::5"));
  EXPECT_EQ(pod.start_time_s, 1714557605);
  ASSERT_EQ(pod.containers.size(), 2u);
  EXPECT_EQ(pod.containers[0].name, "init");
  EXPECT_EQ(pod.containers[0].container_id, "containerd://aaa");
  EXPECT_EQ(pod.containers[1].name, "app");
  EXPECT_EQ(pod.containers[1].container_id, "containerd://bbb");
}

TEST(ObjectsTest, KeepsTheAnnotationKeysSelectorsName) {
  Pod pod;
  DecodeOptions options;
  options.annotation_keys = {"kubectl.kubernetes.io/last-applied-configuration", "absent/key"};
  ASSERT_TRUE(Decode(Json::parse(kPod), options, &pod).ok());
  EXPECT_THAT(pod.meta.annotations,
              ElementsAre(Pair("kubectl.kubernetes.io/last-applied-configuration", "{...}"),
                          Pair("resource.opentelemetry.io/service.name", "webshop")));
  // Exact keys, not prefixes: a longer key under the same name is dropped.
  options.annotation_keys = {"kubectl.kubernetes.io/last"};
  options.annotation_prefixes.clear();
  ASSERT_TRUE(Decode(Json::parse(kPod), options, &pod).ok());
  EXPECT_TRUE(pod.meta.annotations.empty());
}

TEST(ObjectsTest, PodStatusFieldsOfTheWrongTypeAreRejected) {
  const char* const cases[] = {
      R"({"metadata":{"name":"p"},"status":{"startTime":"2024-05-01 10:00:00"}})",
      R"({"metadata":{"name":"p"},"status":{"startTime":1714557600}})",
      R"({"metadata":{"name":"p"},"status":{"containerStatuses":{"name":"app"}}})",
      R"({"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","containerID":7}]}})",
      R"({"metadata":{"name":"p","uid":42}})",
      R"({"metadata":{"name":"p","annotations":{"a/b":true}}})",
  };
  for (const char* json : cases) {
    Pod pod;
    EXPECT_EQ(Decode(Json::parse(json), DecodeOptions{}, &pod).code(),
              absl::StatusCode::kInvalidArgument)
        << json;
  }
}

TEST(ObjectsTest, PodIpFallsBackToPodIpField) {
  Pod pod;
  const Json j =
      Json::parse(R"({"metadata":{"name":"p","namespace":"n"},"status":{"podIP":"10.1.1.1"}})");
  ASSERT_TRUE(Decode(j, DecodeOptions{}, &pod).ok());
  EXPECT_THAT(pod.pod_ips, ElementsAre("10.1.1.1"));
  EXPECT_TRUE(pod.containers.empty());
}

TEST(ObjectsTest, NullFieldsCountAsAbsent) {
  Pod pod;
  const Json j = Json::parse(
      R"({"metadata":{"name":"p","namespace":"n","creationTimestamp":null,"labels":null},
          "spec":null,"status":{"podIP":null}})");
  ASSERT_TRUE(Decode(j, DecodeOptions{}, &pod).ok());
  EXPECT_EQ(pod.meta.creation_timestamp_s, 0);
  EXPECT_TRUE(pod.meta.labels.empty());
  EXPECT_TRUE(pod.pod_ips.empty());
}

TEST(ObjectsTest, RejectsWrongTypesNamingTheField) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"([1,2])", "expected JSON object"},
      {R"({"kind":"Pod"})", "no metadata"},
      {R"({"metadata":{"namespace":"n"}})", "no metadata.name"},
      {R"({"metadata":{"name":5}})", "field metadata.name: expected string"},
      {R"({"metadata":{"name":"p","labels":{"a":1}}})", "field metadata.labels: expected map"},
      {R"({"metadata":{"name":"p","labels":[]}})", "field metadata.labels: expected object"},
      {R"({"metadata":{"name":"p","creationTimestamp":"yesterday"}})",
       "metadata.creationTimestamp: expected RFC 3339"},
      {R"({"metadata":{"name":"p","ownerReferences":[7]}})",
       "field metadata.ownerReferences[0]: expected object"},
      {R"({"metadata":{"name":"p"},"spec":{"hostNetwork":"yes"}})",
       "field spec.hostNetwork: expected boolean"},
      {R"({"metadata":{"name":"p"},"status":{"podIPs":[{"ip":3}]}})",
       "field status.podIPs[0].ip: expected string"},
      {R"({"metadata":{"name":"p"},"status":"Running"})", "field status: expected object"},
  };
  for (const Case& c : cases) {
    Pod pod;
    const absl::Status status = Decode(Json::parse(c.json), DecodeOptions{}, &pod);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.json;
  }
}

TEST(ObjectsTest, DecodesService) {
  Service svc;
  const Json j = Json::parse(R"({"metadata":{"name":"web","namespace":"shop"},
    "spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10","fd00::a"],
            "selector":{"app":"web"},
            "ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}})");
  ASSERT_TRUE(Decode(j, DecodeOptions{}, &svc).ok());
  EXPECT_EQ(svc.type, "ClusterIP");
  EXPECT_THAT(svc.cluster_ips, ElementsAre("10.96.0.10", "fd00::a"));
  EXPECT_THAT(svc.selector, ElementsAre(Pair("app", "web")));
  ASSERT_EQ(svc.ports.size(), 1u);
  EXPECT_EQ(svc.ports[0].name, "http");
  EXPECT_EQ(svc.ports[0].port, 80);
  EXPECT_EQ(svc.ports[0].protocol, "TCP");

  Service headless;
  ASSERT_TRUE(Decode(Json::parse(R"({"metadata":{"name":"h","namespace":"n"},
    "spec":{"clusterIP":"None"}})"),
                     DecodeOptions{}, &headless)
                  .ok());
  EXPECT_TRUE(headless.cluster_ips.empty());

  Service bad;
  EXPECT_FALSE(Decode(Json::parse(R"({"metadata":{"name":"b"},"spec":{"ports":[{"port":1e99}]}})"),
                      DecodeOptions{}, &bad)
                   .ok());
}

TEST(ObjectsTest, DecodesEndpointSlice) {
  EndpointSlice slice;
  const Json j = Json::parse(R"({"metadata":{"name":"web-abc","namespace":"shop",
      "labels":{"kubernetes.io/service-name":"web"}},
    "addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true},"nodeName":"node-1",
                  "targetRef":{"kind":"Pod","namespace":"shop","name":"web-1"}},
                 {"addresses":["10.244.2.7"],"conditions":{"ready":false}}],
    "ports":[{"name":"http","protocol":"TCP","port":8080}]})");
  ASSERT_TRUE(Decode(j, DecodeOptions{}, &slice).ok());
  EXPECT_EQ(slice.service_name, "web");
  EXPECT_EQ(slice.address_type, "IPv4");
  ASSERT_EQ(slice.endpoints.size(), 2u);
  EXPECT_THAT(slice.endpoints[0].addresses, ElementsAre("10.244.1.5"));
  EXPECT_TRUE(slice.endpoints[0].ready);
  EXPECT_EQ(slice.endpoints[0].node_name, "node-1");
  EXPECT_EQ(slice.endpoints[0].target_ref.kind, "Pod");
  EXPECT_EQ(slice.endpoints[0].target_ref.name, "web-1");
  EXPECT_FALSE(slice.endpoints[1].ready);
  ASSERT_EQ(slice.ports.size(), 1u);
  EXPECT_EQ(slice.ports[0].port, 8080);
}

TEST(ObjectsTest, DecodesNodeAndWorkloads) {
  Node node;
  ASSERT_TRUE(Decode(Json::parse(R"({"metadata":{"name":"node-1"},"status":{"addresses":[
      {"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"node-1"}]}})"),
                     DecodeOptions{}, &node)
                  .ok());
  EXPECT_EQ(node.meta.Key(), "node-1");
  ASSERT_EQ(node.addresses.size(), 2u);
  EXPECT_EQ(node.addresses[0].type, "InternalIP");
  EXPECT_EQ(node.addresses[0].address, "10.0.0.1");

  ReplicaSet rs;
  ASSERT_TRUE(Decode(Json::parse(R"({"metadata":{"name":"web-7d4b9c","namespace":"shop",
      "ownerReferences":[{"kind":"Deployment","name":"web","controller":true}]}})"),
                     DecodeOptions{}, &rs)
                  .ok());
  ASSERT_NE(rs.meta.ControllerOwner(), nullptr);
  EXPECT_EQ(rs.meta.ControllerOwner()->kind, "Deployment");
  EXPECT_EQ(rs.meta.ControllerOwner()->name, "web");

  CronJob cj;
  EXPECT_EQ(Decode(Json::parse(R"({"metadata":{}})"), DecodeOptions{}, &cj).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ObjectsTest, ParsesRfc3339) {
  int64_t s = 0;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &s));
  EXPECT_EQ(s, 0);
  ASSERT_TRUE(ParseRfc3339("2000-03-01T00:00:00Z", &s));
  EXPECT_EQ(s, 951868800);
  ASSERT_TRUE(ParseRfc3339("2024-05-01T12:00:00+02:00", &s));
  EXPECT_EQ(s, 1714557600);
  ASSERT_TRUE(ParseRfc3339("2024-05-01T10:00:00.5Z", &s));
  EXPECT_EQ(s, 1714557600);
  for (const char* bad : {"", "2024-05-01", "2024-13-01T00:00:00Z", "2024-05-01T00:00:00",
                          "2024-05-01T00:00:00.Z", "2024-05-01T25:00:00Z", "2024-05-01T00:00:00+2",
                          "2024-05-01 00:00:00Z", "abcd-05-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &s)) << bad;
  }
}

TEST(ObjectsTest, ToJsonRoundTripsTheKeptFields) {
  Pod pod;
  ASSERT_TRUE(Decode(Json::parse(kPod), DecodeOptions{}, &pod).ok());
  const Json j = ToJson(pod);
  EXPECT_EQ(j["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(j["metadata"]["ownerReferences"][0]["name"], "web-7d4b9c");
  EXPECT_EQ(j["podIPs"][1], "fd00::5");
  EXPECT_EQ(j["containers"][1]["containerID"], "containerd://bbb");
  EXPECT_EQ(j["nodeName"], "node-1");
}

}  // namespace
}  // namespace loupe::k8s
