#include "src/flow/identity_filter.h"

#include <memory>

#include "gtest/gtest.h"
#include "src/flow/filter.h"

namespace loupe::flow {
namespace {

std::shared_ptr<PeerInfo> Peer(const std::string& ns, const std::string& pod,
                               std::vector<std::string> labels) {
  auto p = std::make_shared<PeerInfo>();
  p->endpoint.namespace_name = ns;
  p->endpoint.pod_name = pod;
  p->endpoint.labels = std::move(labels);
  p->endpoint.identity = 4242;
  p->endpoint.cluster_name = "default";
  p->endpoint.workloads = {{"web", "Deployment"}};
  return p;
}

bool Match(const FilterSpec& spec, const Flow& f) {
  auto pred = FlowPredicate::Compile({spec}, {}, FilterContext{});
  EXPECT_TRUE(pred.ok()) << pred.status();
  return pred->Matches(f);
}

Flow Between(std::shared_ptr<PeerInfo> src, std::shared_ptr<PeerInfo> dst) {
  Flow f;
  f.src_info = std::move(src);
  f.dst_info = std::move(dst);
  return f;
}

TEST(IdentityFilterTest, PodPrefixesAndNamespaces) {
  Flow f = Between(Peer("prod", "web-7d9f-abc", {"k8s:app=web"}), Peer("prod", "db-0", {}));
  FilterSpec s;
  s.source_pod = {"prod/web-"};
  EXPECT_TRUE(Match(s, f));
  s.source_pod = {"prod/"};
  EXPECT_TRUE(Match(s, f));
  s.source_pod = {"/web"};  // any namespace
  EXPECT_TRUE(Match(s, f));
  s.source_pod = {"web-7d9f-abc"};  // a bare name is in "default"
  EXPECT_FALSE(Match(s, f));
  s.source_pod = {"staging/"};
  EXPECT_FALSE(Match(s, f));
  FilterSpec d;
  d.destination_pod = {"prod/db-0"};
  EXPECT_TRUE(Match(d, f));
  // A flow end without identity matches no pod filter.
  EXPECT_FALSE(Match(d, Flow{}));
}

TEST(IdentityFilterTest, LabelSelectors) {
  Flow f = Between(Peer("prod", "web-1", {"k8s:app=web", "k8s:tier=front"}), nullptr);
  auto with = [&](std::string sel) {
    FilterSpec s;
    s.source_label = {std::move(sel)};
    return Match(s, f);
  };
  EXPECT_TRUE(with("app=web"));
  EXPECT_TRUE(with("k8s:app=web"));
  EXPECT_TRUE(with("app==web,tier=front"));
  EXPECT_FALSE(with("app=web,tier=back"));
  EXPECT_TRUE(with("app in (db,web)"));
  EXPECT_FALSE(with("app notin (db,web)"));
  EXPECT_TRUE(with("app!=db"));
  EXPECT_TRUE(with("tier"));
  EXPECT_FALSE(with("!tier"));
  EXPECT_FALSE(with("reserved:app=web"));  // a different label source
  FilterSpec bad;
  bad.source_label = {"app in (a,b"};
  EXPECT_FALSE(FlowPredicate::Compile({bad}, {}, FilterContext{}).ok());
  bad.source_label = {"a pp=x"};
  EXPECT_FALSE(FlowPredicate::Compile({bad}, {}, FilterContext{}).ok());
}

TEST(IdentityFilterTest, FqdnServiceWorkloadIdentityCluster) {
  auto dst = Peer("", "", {"reserved:world"});
  dst->names = {"api.Example.com"};
  dst->service_name = "api";
  dst->service_namespace = "prod";
  Flow f = Between(Peer("prod", "web-1", {}), dst);
  FilterSpec s;
  s.destination_fqdn = {"*.example.com"};
  EXPECT_TRUE(Match(s, f));
  s.destination_fqdn = {"example.com"};
  EXPECT_FALSE(Match(s, f));
  s.destination_fqdn = {"api.example.com."};
  EXPECT_TRUE(Match(s, f));
  FilterSpec bad;
  bad.destination_fqdn = {"a(b"};
  EXPECT_FALSE(FlowPredicate::Compile({bad}, {}, FilterContext{}).ok());

  FilterSpec svc;
  svc.destination_service = {"prod/api"};
  EXPECT_TRUE(Match(svc, f));
  svc.destination_service = {"other/api"};
  EXPECT_FALSE(Match(svc, f));

  FilterSpec wl;
  wl.source_workload = {{"web", ""}};
  EXPECT_TRUE(Match(wl, f));
  wl.source_workload = {{"web", "StatefulSet"}};
  EXPECT_FALSE(Match(wl, f));

  FilterSpec id;
  id.source_identity = {4242};
  EXPECT_TRUE(Match(id, f));
  id.source_identity = {2};
  EXPECT_FALSE(Match(id, f));
  id.source_identity = {0};
  EXPECT_TRUE(Match(id, Flow{}));  // no identity = identity 0

  FilterSpec cl;
  cl.source_cluster_name = {"default"};
  EXPECT_TRUE(Match(cl, f));
  cl.source_cluster_name = {"other"};
  EXPECT_FALSE(Match(cl, f));
}

}  // namespace
}  // namespace loupe::flow
