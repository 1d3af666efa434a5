#include "src/k8s/informer.h"

#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/k8s/cluster.h"

namespace loupe::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::shared_ptr<const Pod> MakePod(const std::string& ns, const std::string& name,
                                   const std::string& rv) {
  auto pod = std::make_shared<Pod>();
  pod->meta.namespace_ = ns;
  pod->meta.name = name;
  pod->meta.resource_version = rv;
  return pod;
}

struct Recorder {
  std::vector<std::string> log;
  ObjectCache<Pod>::Handlers Handlers() {
    ObjectCache<Pod>::Handlers h;
    h.on_add = [this](const Pod& p) {
      log.push_back("add " + p.meta.Key() + "@" + p.meta.resource_version);
    };
    h.on_update = [this](const Pod& o, const Pod& n) {
      log.push_back("update " + n.meta.Key() + "@" + o.meta.resource_version + "->" +
                    n.meta.resource_version);
    };
    h.on_delete = [this](const Pod& p) {
      log.push_back("delete " + p.meta.Key() + "@" + p.meta.resource_version);
    };
    return h;
  }
};

TEST(ObjectCacheTest, UpsertRemoveAndDuplicateVersions) {
  ObjectCache<Pod> cache;
  Recorder rec;
  cache.AddHandlers(rec.Handlers());
  EXPECT_TRUE(cache.Upsert(MakePod("ns", "a", "1")));
  EXPECT_FALSE(cache.Upsert(MakePod("ns", "a", "1")));  // replayed event: no-op
  EXPECT_TRUE(cache.Upsert(MakePod("ns", "a", "2")));
  auto held = cache.Get("ns/a");
  EXPECT_TRUE(cache.Remove("ns/a"));
  EXPECT_FALSE(cache.Remove("ns/a"));
  EXPECT_EQ(cache.Size(), 0u);
  EXPECT_EQ(cache.Get("ns/a"), nullptr);
  ASSERT_NE(held, nullptr);  // a reader's pointer outlives the deletion
  EXPECT_EQ(held->meta.resource_version, "2");
  EXPECT_THAT(rec.log, ElementsAre("add ns/a@1", "update ns/a@1->2", "delete ns/a@2"));
}

TEST(ObjectCacheTest, ReplaceEmitsTheDifference) {
  ObjectCache<Pod> cache;
  Recorder rec;
  cache.AddHandlers(rec.Handlers());
  cache.Upsert(MakePod("ns", "same", "1"));
  cache.Upsert(MakePod("ns", "changed", "1"));
  cache.Upsert(MakePod("ns", "vanished", "1"));
  rec.log.clear();
  auto counts = cache.Replace(
      {MakePod("ns", "same", "1"), MakePod("ns", "changed", "5"), MakePod("ns", "new", "6")});
  EXPECT_EQ(counts.added, 1u);
  EXPECT_EQ(counts.updated, 1u);
  EXPECT_EQ(counts.deleted, 1u);
  EXPECT_THAT(rec.log, UnorderedElementsAre("add ns/new@6", "update ns/changed@1->5",
                                            "delete ns/vanished@1"));
  std::vector<std::string> keys;
  for (const auto& p : cache.List()) keys.push_back(p->meta.Key());
  EXPECT_THAT(keys, UnorderedElementsAre("ns/same", "ns/changed", "ns/new"));
}

TEST(ObjectCacheTest, HandlersMayReadTheCache) {
  ObjectCache<Pod> cache;
  size_t seen_size = 0;
  ObjectCache<Pod>::Handlers h;
  h.on_add = [&](const Pod& p) {
    seen_size = cache.Size();
    EXPECT_NE(cache.Get(p.meta.Key()), nullptr);  // the store is updated before handlers run
  };
  cache.AddHandlers(h);
  cache.Upsert(MakePod("ns", "a", "1"));
  EXPECT_EQ(seen_size, 1u);
}

TEST(InformerPathsTest, ListAndWatchPaths) {
  ClientConfig config;
  config.server = "https://127.0.0.1:1";
  InformerOptions options;
  options.field_selector = "spec.nodeName=node-1";
  options.page_size = 100;
  Informer<Pod> pods(config, options);
  EXPECT_EQ(pods.ListPath(""), "/api/v1/pods?limit=100&fieldSelector=spec.nodeName%3Dnode-1");
  EXPECT_EQ(pods.ListPath("tok/en"),
            "/api/v1/pods?limit=100&continue=tok%2Fen&fieldSelector=spec.nodeName%3Dnode-1");
  EXPECT_EQ(pods.WatchPath("42", 300),
            "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=42&timeoutSeconds=300"
            "&fieldSelector=spec.nodeName%3Dnode-1");

  InformerOptions ns_options;
  ns_options.namespace_ = "shop";
  ns_options.label_selector = "app=web,tier!=db";
  ns_options.page_size = 0;
  Informer<Deployment> deployments(config, ns_options);
  EXPECT_EQ(deployments.ListPath(""),
            "/apis/apps/v1/namespaces/shop/deployments?labelSelector=app%3Dweb%2Ctier%21%3Ddb");
  // Cluster-scoped kinds ignore the namespace.
  Informer<Node> nodes(config, ns_options);
  EXPECT_EQ(nodes.ListPath(""), "/api/v1/nodes?labelSelector=app%3Dweb%2Ctier%21%3Ddb");
  Informer<EndpointSlice> slices(config, InformerOptions{});
  EXPECT_EQ(slices.ListPath(""), "/apis/discovery.k8s.io/v1/endpointslices?limit=500");
  Informer<CronJob> cronjobs(config, InformerOptions{});
  EXPECT_EQ(cronjobs.ListPath(""), "/apis/batch/v1/cronjobs?limit=500");
}

TEST(InformerTest, UnreachableServerReportsErrorsAndStopsPromptly) {
  ClientConfig config;
  config.server = "https://127.0.0.1:9";  // discard port: connection refused
  InformerOptions options;
  options.initial_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(40);
  Informer<Pod> informer(config, options);
  informer.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (informer.Status().errors < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const InformerStatus status = informer.Status();
  EXPECT_GE(status.errors, 3u);  // it keeps retrying
  EXPECT_FALSE(status.synced);
  EXPECT_FALSE(status.connected);
  EXPECT_EQ(status.kind, "Pod");
  EXPECT_THAT(status.last_error, HasSubstr("127.0.0.1"));
  EXPECT_GT(status.last_error_unix_s, 0);
  EXPECT_FALSE(informer.WaitForSync(std::chrono::milliseconds(1)));
  const auto stop_start = std::chrono::steady_clock::now();
  informer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, std::chrono::seconds(2));
}

TEST(ClusterKindsTest, ParsesDisabledKinds) {
  auto kinds = ClusterKinds::WithDisabled({"Node", "services", " endpointslices ", "CronJob"});
  ASSERT_TRUE(kinds.ok());
  EXPECT_FALSE(kinds->nodes);
  EXPECT_FALSE(kinds->services);
  EXPECT_FALSE(kinds->endpoint_slices);
  EXPECT_FALSE(kinds->cron_jobs);
  EXPECT_TRUE(kinds->jobs);
  EXPECT_TRUE(kinds->replica_sets);
  auto bad = ClusterKinds::WithDisabled({"pods"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'pods'"));
}

TEST(ClusterTest, ResolvesWorkloadsThroughCachedOwners) {
  ClientConfig config;
  config.server = "https://127.0.0.1:9";
  ClusterOptions options;
  options.node_name = "node-1";
  Cluster cluster(config, options);  // not started: the caches are filled by hand
  auto rs = std::make_shared<ReplicaSet>();
  rs->meta.namespace_ = "shop";
  rs->meta.name = "web-7d4b9c";
  rs->meta.owner_references.push_back({"Deployment", "web", true});
  cluster.replica_sets()->cache().Upsert(rs);
  auto job = std::make_shared<Job>();
  job->meta.namespace_ = "shop";
  job->meta.name = "backup-123";
  job->meta.owner_references.push_back({"CronJob", "backup", true});
  cluster.jobs()->cache().Upsert(job);

  auto pod_of = [](const std::string& owner_kind, const std::string& owner_name, bool controller) {
    Pod pod;
    pod.meta.namespace_ = "shop";
    pod.meta.name = "p";
    if (!owner_kind.empty())
      pod.meta.owner_references.push_back({owner_kind, owner_name, controller});
    return pod;
  };
  auto check = [&](const Pod& pod, const std::string& kind, const std::string& name) {
    const Workload w = cluster.ResolveWorkload(pod);
    EXPECT_EQ(w.kind, kind);
    EXPECT_EQ(w.name, name);
  };
  check(pod_of("ReplicaSet", "web-7d4b9c", true), "Deployment", "web");
  check(pod_of("ReplicaSet", "orphan-rs", true), "ReplicaSet", "orphan-rs");
  check(pod_of("Job", "backup-123", true), "CronJob", "backup");
  check(pod_of("DaemonSet", "agent", true), "DaemonSet", "agent");
  check(pod_of("ReplicaSet", "web-7d4b9c", false), "Pod", "p");  // not a controller reference
  check(pod_of("", "", false), "Pod", "p");
  EXPECT_EQ(cluster.Status().size(), 11u);
  EXPECT_FALSE(cluster.HasSynced());
}

}  // namespace
}  // namespace loupe::k8s
