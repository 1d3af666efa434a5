#include "src/identity/process_pods.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/config/config.h"

namespace loupe::identity {
namespace {

constexpr char kContainerId[] = "8f2b6c1e9d4a7f3b5c8e2d1a6f9b4c7e3d8a5f2b9c6e1d4a7f3b8c5e2d9a6f1b";
constexpr char kSidecarId[] = "1111111111111111111111111111111111111111111111111111111111111111";

k8s::Pod DecodePod(const std::string& json) {
  k8s::Pod pod;
  const absl::Status status = k8s::Decode(k8s::Json::parse(json), k8s::DecodeOptions{}, &pod);
  EXPECT_TRUE(status.ok()) << status;
  return pod;
}

std::string CheckoutPodJson(const std::string& name = "checkout-7d4b9c-x1",
                            const std::string& ip = "10.244.1.5") {
  return std::string(R"({
    "metadata": {"name": ")") +
         name + R"(", "namespace": "shop",
      "uid": "3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c", "resourceVersion": "7",
      "creationTimestamp": "2024-05-01T10:00:00Z",
      "labels": {"app.kubernetes.io/name": "checkout"},
      "annotations": {"resource.opentelemetry.io/service.namespace": "payments"},
      "ownerReferences": [{"kind": "ReplicaSet", "name": "checkout-7d4b9c", "controller": true}]},
    "spec": {"nodeName": "node-1"},
    "status": {"podIP": ")" +
         ip + R"(", "startTime": "2024-05-01T10:00:01Z",
      "containerStatuses": [
        {"name": "app", "containerID": "containerd://)" +
         kContainerId + R"("},
        {"name": "envoy", "containerID": "cri-o://)" +
         kSidecarId + R"("}]}})";
}

TEST(PodStartTimeTest, FormatsAsBeylaDoes) {
  EXPECT_EQ(FormatPodStartTime(1714557601), "2024-05-01 10:00:01 +0000 UTC");
  EXPECT_EQ(FormatPodStartTime(1), "1970-01-01 00:00:01 +0000 UTC");
  EXPECT_EQ(FormatPodStartTime(253402300799LL), "9999-12-31 23:59:59 +0000 UTC");
  EXPECT_EQ(FormatPodStartTime(0), "");  // absent
  EXPECT_EQ(FormatPodStartTime(-86400), "");
  EXPECT_EQ(FormatPodStartTime(253402300800LL), "");
  EXPECT_EQ(FormatPodStartTime(INT64_MAX), "");
}

TEST(ContainerIdTest, DropsTheRuntimeScheme) {
  EXPECT_EQ(ContainerIdWithoutScheme("containerd://abc"), "abc");
  EXPECT_EQ(ContainerIdWithoutScheme("cri-o://abc"), "abc");
  EXPECT_EQ(ContainerIdWithoutScheme("abc"), "abc");
  EXPECT_EQ(ContainerIdWithoutScheme(""), "");
  EXPECT_EQ(ContainerIdWithoutScheme("docker://"), "");
}

TEST(PodMetadataTest, CarriesUidStartTimeReplicaSetAndContainer) {
  const k8s::Pod pod = DecodePod(CheckoutPodJson());
  const PodMetadata m = PodMetadataOf(pod, {"Deployment", "checkout"}, "prod", kSidecarId);
  EXPECT_EQ(m.namespace_name, "shop");
  EXPECT_EQ(m.pod_name, "checkout-7d4b9c-x1");
  EXPECT_EQ(m.uid, "3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c");
  EXPECT_EQ(m.start_time, "2024-05-01 10:00:01 +0000 UTC");  // status.startTime
  EXPECT_EQ(m.node_name, "node-1");
  EXPECT_EQ(m.cluster_name, "prod");
  EXPECT_EQ(m.owner_kind, "Deployment");
  EXPECT_EQ(m.owner_name, "checkout");
  EXPECT_EQ(m.replicaset_name, "checkout-7d4b9c");
  EXPECT_EQ(m.labels.at("app.kubernetes.io/name"), "checkout");
  EXPECT_EQ(m.container_name, "envoy");
  EXPECT_EQ(m.container_id, kSidecarId);
  // A container ID the pod does not report names no container.
  const PodMetadata other = PodMetadataOf(pod, {"Deployment", "checkout"}, "prod", "abcd");
  EXPECT_EQ(other.container_name, "");
  EXPECT_EQ(other.container_id, "");
  // A pod without a controller: no owner, no ReplicaSet.
  const k8s::Pod bare = DecodePod(
      R"({"metadata":{"name":"debug","namespace":"shop","creationTimestamp":"2024-05-01T09:00:00Z"}})");
  const PodMetadata b = PodMetadataOf(bare, {"Pod", "debug"}, "prod", "");
  EXPECT_EQ(b.owner_name, "");
  EXPECT_EQ(b.owner_kind, "");
  EXPECT_EQ(b.replicaset_name, "");
  EXPECT_EQ(b.start_time, "2024-05-01 09:00:00 +0000 UTC");  // falls back to creation
  // A Job-owned pod has no ReplicaSet even though it has a controller.
  const k8s::Pod job = DecodePod(
      R"({"metadata":{"name":"j-1","namespace":"n","ownerReferences":[{"kind":"Job","name":"j","controller":true}]}})");
  EXPECT_EQ(PodMetadataOf(job, {"Job", "j"}, "", "").replicaset_name, "");
  EXPECT_EQ(PodMetadataOf(job, {"Job", "j"}, "", "").start_time, "");
}

TEST(ContainerIndexTest, FollowsPodEvents) {
  ContainerIndex index;
  const k8s::Pod a = DecodePod(CheckoutPodJson("a"));
  index.OnPod(nullptr, &a);
  EXPECT_EQ(index.PodKeyOf(kContainerId), "shop/a");
  EXPECT_EQ(index.PodKeyOf(kSidecarId), "shop/a");
  EXPECT_EQ(index.PodKeyOf(""), "");
  EXPECT_EQ(index.PodKeyOf("unknown"), "");
  // The sidecar restarts with a new ID: the old one goes.
  k8s::Pod a2 = a;
  a2.containers[1].container_id = "cri-o://2222";
  index.OnPod(&a, &a2);
  EXPECT_EQ(index.PodKeyOf(kSidecarId), "");
  EXPECT_EQ(index.PodKeyOf("2222"), "shop/a");
  EXPECT_EQ(index.size(), 2u);
  // A container not started yet has no ID and is not indexed.
  k8s::Pod c = DecodePod(R"({"metadata":{"name":"c","namespace":"shop"},
      "status":{"containerStatuses":[{"name":"app"}]}})");
  index.OnPod(nullptr, &c);
  EXPECT_EQ(index.size(), 2u);
  // An ID that moved to another pod is not removed by the old pod's deletion.
  k8s::Pod b = a2;
  b.meta.name = "b";
  index.OnPod(nullptr, &b);
  index.OnPod(&a2, nullptr);
  EXPECT_EQ(index.PodKeyOf("2222"), "shop/b");
  index.OnPod(&b, nullptr);
  EXPECT_EQ(index.size(), 0u);
}

// The pod and container names of an answer; {"-", "-"} for no pod.
std::pair<std::string, std::string> PodAndContainer(const std::shared_ptr<const PodMetadata>& pod) {
  if (pod == nullptr) return {"-", "-"};
  return {pod->pod_name, pod->container_name};
}

using Names = std::pair<std::string, std::string>;

class ProcessPodsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        std::filesystem::temp_directory_path() / ("process_pods_test." + std::to_string(getpid()));
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void AddProcess(uint32_t pid, const std::string& cgroup, const std::string& ip) {
    const std::filesystem::path dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir / "net");
    std::ofstream(dir / "cgroup") << cgroup << "\n";
    std::ofstream(dir / "net" / "fib_trie")
        << "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- " << ip << "\n        /32 host LOCAL\n";
    std::ofstream(dir / "net" / "if_inet6") << "";
  }

  std::unique_ptr<ProcessPods> Make(std::chrono::milliseconds ttl) {
    ProcessPods::Options options;
    options.cluster_name = "prod";
    options.proc_root = root_.string();
    options.ttl = ttl;
    return std::make_unique<ProcessPods>(
        options, identity_, index_,
        [this](const std::string& key) -> std::shared_ptr<const k8s::Pod> {
          auto it = pods_.find(key);
          return it == pods_.end() ? nullptr : it->second;
        },
        [](const k8s::Pod&) {
          return k8s::Workload{"Deployment", "checkout"};
        });
  }

  void AddPod(const std::shared_ptr<const k8s::Pod>& pod, const std::string& ip) {
    pods_[pod->meta.Key()] = pod;
    index_.OnPod(nullptr, pod.get());
    flow::Endpoint ep;
    ep.namespace_name = pod->meta.namespace_;
    ep.pod_name = pod->meta.name;
    flow::IpAddress addr;
    ASSERT_TRUE(flow::IpAddress::Parse(ip, &addr));
    identity_.UpsertEndpoint(addr, ep, 0);
  }

  std::filesystem::path root_;
  IdentityCache identity_;
  ContainerIndex index_;
  std::map<std::string, std::shared_ptr<const k8s::Pod>> pods_;
};

TEST_F(ProcessPodsTest, ByContainerIdThenByNetworkNamespace) {
  AddPod(std::make_shared<const k8s::Pod>(DecodePod(CheckoutPodJson("web-1", "10.244.1.5"))),
         "10.244.1.5");
  {
    // Another pod of the node, with other containers.
    k8s::Pod other = DecodePod(CheckoutPodJson("other-1", "10.244.1.6"));
    other.containers = {{"app", "containerd://" + std::string(64, 'c')}};
    AddPod(std::make_shared<const k8s::Pod>(other), "10.244.1.6");
  }
  // In the app container's cgroup (systemd driver), with the pod's IP.
  AddProcess(100,
             std::string("0::/kubepods.slice/kubepods-burstable.slice/"
                         "kubepods-burstable-pod3f8e2a4c_1b7d_4e9a_8c2f_5d6e7f8a9b0c.slice/"
                         "cri-containerd-") +
                 kContainerId + ".scope",
             "10.244.1.5");
  // No container cgroup: found by its namespace's address, no container name.
  AddProcess(101, "0::/user.slice/user-0.slice/session-1.scope", "10.244.1.5");
  // A container cgroup no pod reports, in a namespace whose address is no pod's.
  AddProcess(102, "0::/system.slice/docker-" + std::string(64, 'a') + ".scope", "192.0.2.7");
  // A hostNetwork pod's process: the node's address, found by its container ID only.
  const std::string host_id(64, 'b');
  {
    k8s::Pod host = DecodePod(CheckoutPodJson("node-agent", "10.0.0.1"));
    host.containers = {{"agent", "containerd://" + host_id}};
    host.host_network = true;
    pods_["shop/node-agent"] = std::make_shared<const k8s::Pod>(host);
    index_.OnPod(nullptr, pods_["shop/node-agent"].get());
  }
  AddProcess(103, "0::/kubepods/besteffort/pod3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c/" + host_id,
             "10.0.0.1");
  // The container ID decides over the address: other-1's container in web-1's namespace.
  AddProcess(104, "0::/kubepods.slice/cri-containerd-" + std::string(64, 'c') + ".scope",
             "10.244.1.5");
  auto pods = Make(std::chrono::seconds(5));

  auto app = pods->PodOf(100);
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->pod_name, "web-1");
  EXPECT_EQ(app->container_name, "app");
  EXPECT_EQ(app->cluster_name, "prod");
  EXPECT_EQ(app->owner_name, "checkout");
  EXPECT_EQ(app->replicaset_name, "checkout-7d4b9c");
  EXPECT_EQ(PodAndContainer(pods->PodOf(101)), Names("web-1", ""));
  EXPECT_EQ(pods->PodOf(102), nullptr);
  EXPECT_EQ(PodAndContainer(pods->PodOf(103)), Names("node-agent", "agent"));
  EXPECT_EQ(PodAndContainer(pods->PodOf(104)), Names("other-1", "app"));
  EXPECT_EQ(pods->PodOf(999), nullptr);  // no such process
}

TEST_F(ProcessPodsTest, AnswersAreCachedForTheTtl) {
  AddPod(std::make_shared<const k8s::Pod>(DecodePod(CheckoutPodJson("web-1", "10.244.1.5"))),
         "10.244.1.5");
  AddProcess(100, "0::/", "10.244.1.5");
  auto cached = Make(std::chrono::hours(1));
  auto first = cached->PodOf(100);
  ASSERT_NE(first, nullptr);
  pods_.clear();  // the pod is gone from the informer cache
  EXPECT_EQ(cached->PodOf(100), first);
  EXPECT_EQ(cached->Resolve(100), nullptr);
  auto uncached = Make(std::chrono::milliseconds(0));
  EXPECT_EQ(uncached->PodOf(100), nullptr);
}

TEST_F(ProcessPodsTest, RememberedProcessesAreFoundAfterTheyExited) {
  // A Job's client in the app container, and one found by its namespace's address only.
  AddProcess(100, "0::/kubepods.slice/cri-containerd-" + std::string(kContainerId) + ".scope",
             "10.244.1.5");
  AddProcess(101, "0::/", "10.244.1.5");
  AddProcess(102, "0::/", "10.244.1.5");
  auto pods = Make(std::chrono::milliseconds(0));
  // Remembered when discovery starts tracing them, before the informer knows their pod.
  pods->Remember(100);
  pods->Remember(101);
  pods->Remember(103);  // no such process
  EXPECT_EQ(pods->PodOf(100), nullptr);
  for (const char* pid : {"100", "101", "102"}) std::filesystem::remove_all(root_ / pid);
  AddPod(std::make_shared<const k8s::Pod>(DecodePod(CheckoutPodJson("web-1", "10.244.1.5"))),
         "10.244.1.5");
  // Gone from /proc: found through what was read while they ran, and today's informer.
  auto job = pods->PodOf(100);
  EXPECT_EQ(PodAndContainer(job), Names("web-1", "app"));
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->owner_name, "checkout");
  EXPECT_EQ(PodAndContainer(pods->PodOf(101)), Names("web-1", ""));  // by its address
  EXPECT_EQ(pods->PodOf(102), nullptr);                              // never remembered
  EXPECT_EQ(pods->PodOf(103), nullptr);
  // No longer traced: kept while the requests read after the exit come in.
  const std::vector<uint32_t> traced = {101};
  pods->Retain(traced);
  EXPECT_NE(pods->PodOf(100), nullptr);
  // A new process of pid 100, in no pod, replaces what the old one left.
  AddProcess(100, "0::/user.slice", "192.0.2.9");
  pods->Remember(100);
  std::filesystem::remove_all(root_ / "100");
  EXPECT_EQ(pods->PodOf(100), nullptr);
}

TEST_F(ProcessPodsTest, PodOfAnAddress) {
  AddPod(std::make_shared<const k8s::Pod>(DecodePod(CheckoutPodJson("web-1", "10.244.1.5"))),
         "10.244.1.5");
  auto pods = Make(std::chrono::seconds(5));
  flow::IpAddress pod_ip, other;
  ASSERT_TRUE(flow::IpAddress::Parse("10.244.1.5", &pod_ip));
  ASSERT_TRUE(flow::IpAddress::Parse("192.0.2.7", &other));
  EXPECT_EQ(PodAndContainer(pods->PodOfAddress(pod_ip)), Names("web-1", ""));
  const auto by_address = pods->PodOfAddress(pod_ip);
  ASSERT_NE(by_address, nullptr);
  EXPECT_EQ(by_address->owner_name, "checkout");
  EXPECT_EQ(pods->PodOfAddress(other), nullptr);
  pods_.clear();  // the pod is gone from the informer cache
  EXPECT_EQ(pods->PodOfAddress(pod_ip), nullptr);
}

TEST(ApplyPodToServiceTest, BeylaOrderForNameAndNamespace) {
  PodMetadata pod;
  pod.namespace_name = "shop";
  pod.pod_name = "checkout-7d4b9c-x1";
  pod.owner_name = "checkout-deploy";
  pod.owner_kind = "Deployment";
  pod.uid = "u-1";
  pod.start_time = "2024-05-01 10:00:01 +0000 UTC";
  pod.replicaset_name = "checkout-7d4b9c";
  pod.container_name = "app";
  pod.node_name = "node-1";
  pod.cluster_name = "prod";
  auto apply = [](const PodMetadata& p, bool name_env = false, bool ns_env = false) {
    metrics::app::ServiceIdentity id;
    id.name = "python3";
    id.namespace_name = "from-env";
    id.name_from_env = name_env;
    id.namespace_from_env = ns_env;
    ApplyPodToService(p, &id);
    return id;
  };
  metrics::app::ServiceIdentity id = apply(pod);
  EXPECT_EQ(id.name, "checkout-deploy");  // the top workload
  EXPECT_EQ(id.namespace_name, "shop");
  EXPECT_EQ(id.k8s_replicaset_name, "checkout-7d4b9c");
  EXPECT_EQ(id.k8s_pod_uid, "u-1");
  EXPECT_EQ(id.k8s_pod_start_time, "2024-05-01 10:00:01 +0000 UTC");
  EXPECT_EQ(id.k8s_container_name, "app");
  EXPECT_EQ(id.k8s_owner_kind, "Deployment");
  EXPECT_EQ(id.k8s_node_name, "node-1");
  EXPECT_EQ(id.k8s_cluster_name, "prod");
  PodMetadata bare = pod;
  bare.owner_name.clear();
  EXPECT_EQ(apply(bare).name, "checkout-7d4b9c-x1");  // no workload: the pod name
  pod.labels["app.kubernetes.io/name"] = "checkout-name";
  EXPECT_EQ(apply(pod).name, "checkout-name");
  pod.labels["app.kubernetes.io/instance"] = "checkout-instance";
  EXPECT_EQ(apply(pod).name, "checkout-instance");
  pod.labels["app.kubernetes.io/part-of"] = "webshop";
  EXPECT_EQ(apply(pod).namespace_name, "webshop");
  pod.annotations["resource.opentelemetry.io/service.name"] = "checkout-annotated";
  pod.annotations["resource.opentelemetry.io/service.namespace"] = "payments";
  id = apply(pod);
  EXPECT_EQ(id.name, "checkout-annotated");
  EXPECT_EQ(id.namespace_name, "payments");
  // The process environment wins.
  id = apply(pod, true, true);
  EXPECT_EQ(id.name, "python3");
  EXPECT_EQ(id.namespace_name, "from-env");
  EXPECT_EQ(id.k8s_pod_name, "checkout-7d4b9c-x1");
  // An empty annotation or label value does not name the service.
  pod.annotations["resource.opentelemetry.io/service.name"] = "";
  EXPECT_EQ(apply(pod).name, "checkout-instance");
}

// attributes.kubernetes.service_name_template names the service instead of the annotation, label
// and owner rules; the process environment still wins, the namespace rules stay, and a template
// that fails or gives nothing leaves the pod name.
TEST(ApplyPodToServiceTest, TemplateReplacesTheAnnotationLabelAndOwnerRules) {
  PodMetadata pod;
  pod.namespace_name = "shop";
  pod.pod_name = "checkout-7d4b9c-x1";
  pod.owner_name = "checkout-deploy";
  pod.container_name = "app";
  pod.labels = {{"app.kubernetes.io/name", "checkout"}, {"app.kubernetes.io/part-of", "webshop"}};
  pod.annotations = {{"resource.opentelemetry.io/service.name", "annotated"}};
  bool named = false;
  auto apply = [&](const std::string& text, bool name_env = false) {
    auto t = ServiceNameTemplate::Parse(text);
    EXPECT_TRUE(t.ok()) << t.status();
    metrics::app::ServiceIdentity id;
    id.name = "python3";
    id.name_from_env = name_env;
    named = ApplyPodToService(pod, &id, t.ok() ? &*t : nullptr);
    return id;
  };
  const std::string tmpl =
      R"({{ .Meta.Namespace }}/{{ index .Meta.Labels "app.kubernetes.io/name" }}-{{ .ContainerName }})";
  metrics::app::ServiceIdentity id = apply(tmpl);
  EXPECT_EQ(id.name, "shop/checkout-app");
  EXPECT_TRUE(named);
  EXPECT_EQ(id.namespace_name, "webshop");  // the namespace rules are unchanged
  EXPECT_EQ(apply(tmpl, /*name_env=*/true).name, "python3");
  EXPECT_EQ(apply(R"({{ index .Meta.Name "x" }})").name, "checkout-7d4b9c-x1");  // fails
  EXPECT_FALSE(named);
  EXPECT_EQ(apply(R"({{ if .Meta.Labels.none }}x{{ end }})").name, "checkout-7d4b9c-x1");
  EXPECT_FALSE(named);  // printed nothing
}

// attributes.kubernetes.resource_labels: which labels name the service, its namespace and other
// resource attributes; resource.opentelemetry.io/<attribute> annotations win over labels.
TEST(ApplyPodToServiceTest, ResourceLabelsChooseTheLabelsAndAddResourceAttributes) {
  PodMetadata pod;
  pod.namespace_name = "shop";
  pod.pod_name = "checkout-7d4b9c-x1";
  pod.owner_name = "checkout-deploy";
  pod.labels = {{"app.kubernetes.io/name", "checkout"},
                {"app.kubernetes.io/version", "1.4.2"},
                {"app.kubernetes.io/part-of", "webshop"},
                {"team", "payments"},
                {"component", "api"},
                {"env", "prod"}};
  auto apply = [&](const ResourceLabels& labels) {
    metrics::app::ServiceIdentity id;
    id.name = "python3";
    ApplyPodToService(pod, &id, nullptr, labels);
    return id;
  };
  using Attrs = std::vector<std::pair<std::string, std::string>>;

  // The default: Beyla's labels, and service.version from app.kubernetes.io/version.
  metrics::app::ServiceIdentity id = apply(DefaultResourceLabels());
  EXPECT_EQ(id.name, "checkout");
  EXPECT_EQ(id.namespace_name, "webshop");
  EXPECT_EQ(id.resource_attributes, (Attrs{{"service.version", "1.4.2"}}));

  // Configured: the first label present wins; an absent label is skipped.
  ResourceLabels custom = DefaultResourceLabels();
  custom["service.name"] = {"missing", "component", "app.kubernetes.io/name"};
  custom["service.namespace"] = {"team"};
  custom["deployment.environment"] = {"env"};
  id = apply(custom);
  EXPECT_EQ(id.name, "api");
  EXPECT_EQ(id.namespace_name, "payments");
  EXPECT_EQ(id.resource_attributes,
            (Attrs{{"deployment.environment", "prod"}, {"service.version", "1.4.2"}}));

  // An empty list turns the labels off: the top workload names the service, the pod's
  // namespace is the service namespace, and no service.version.
  custom["service.name"] = {};
  custom["service.namespace"] = {};
  custom["service.version"] = {};
  id = apply(custom);
  EXPECT_EQ(id.name, "checkout-deploy");
  EXPECT_EQ(id.namespace_name, "shop");
  EXPECT_EQ(id.resource_attributes, (Attrs{{"deployment.environment", "prod"}}));

  // Annotations win over labels, and add attributes no label maps.
  pod.annotations = {{"resource.opentelemetry.io/deployment.environment", "staging"},
                     {"resource.opentelemetry.io/service.version", "2.0.0"},
                     {"resource.opentelemetry.io/vcs.ref", "abc123"},
                     {"resource.opentelemetry.io/empty", ""},
                     {"other.io/ignored", "x"}};
  id = apply(custom);
  EXPECT_EQ(id.resource_attributes, (Attrs{{"deployment.environment", "staging"},
                                           {"service.version", "2.0.0"},
                                           {"vcs.ref", "abc123"}}));

  // The process's own OTEL_RESOURCE_ATTRIBUTES (in the identity before the pod is applied) win
  // over annotations and labels, and keep attributes the pod does not have.
  metrics::app::ServiceIdentity from_env;
  from_env.name = "python3";
  from_env.resource_attributes = {{"deployment.environment", "canary"}, {"team", "payments"}};
  ApplyPodToService(pod, &from_env, nullptr, custom);
  EXPECT_EQ(from_env.resource_attributes, (Attrs{{"deployment.environment", "canary"},
                                                 {"service.version", "2.0.0"},
                                                 {"team", "payments"},
                                                 {"vcs.ref", "abc123"}}));
}

// The schema's default for attributes.kubernetes.resource_labels (what `loupe config print` shows
// and the agent uses) and identity's default (what callers without a configuration get) are
// written twice; they must not drift apart.
TEST(ApplyPodToServiceTest, TheConfigurationDefaultIsTheIdentityDefault) {
  auto config = config::Config::Load(
      "", [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  ASSERT_TRUE(config.ok()) << config.status();
  const ResourceLabels configured(config->kubernetes().resource_labels.begin(),
                                  config->kubernetes().resource_labels.end());
  EXPECT_EQ(configured, DefaultResourceLabels());
}

TEST(KubernetesResourceAttributesTest, OtelNamesOfTheNonEmptyFields) {
  metrics::app::ServiceIdentity id;
  EXPECT_TRUE(KubernetesResourceAttributes(id).empty());
  id.k8s_namespace = "shop";
  id.k8s_pod_name = "checkout-7d4b9c-x1";
  id.k8s_owner_name = "checkout";
  id.k8s_owner_kind = "StatefulSet";
  id.k8s_pod_uid = "u-1";
  id.k8s_pod_start_time = "2024-05-01 10:00:01 +0000 UTC";
  id.k8s_cluster_name = "prod";
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(KubernetesResourceAttributes(id),
              ::testing::ElementsAre(
                  P{"k8s.namespace.name", "shop"}, P{"k8s.pod.name", "checkout-7d4b9c-x1"},
                  P{"k8s.pod.uid", "u-1"}, P{"k8s.pod.start_time", "2024-05-01 10:00:01 +0000 UTC"},
                  P{"k8s.statefulset.name", "checkout"}, P{"k8s.cluster.name", "prod"},
                  P{"k8s.owner.name", "checkout"}, P{"k8s.kind", "StatefulSet"}));
  // A ReplicaSet without a Deployment is named once, as k8s.replicaset.name.
  id.k8s_owner_kind = "ReplicaSet";
  id.k8s_owner_name = "web-5f";
  id.k8s_replicaset_name = "web-5f";
  const auto attrs = KubernetesResourceAttributes(id);
  EXPECT_EQ(std::count_if(attrs.begin(), attrs.end(),
                          [](const P& p) { return p.first == "k8s.replicaset.name"; }),
            1);
}

}  // namespace
}  // namespace loupe::identity
