#include "src/agent/service_resources.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace loupe::agent {
namespace {

using metrics::app::ServiceIdentity;
using std::chrono::minutes;
using Labels = std::vector<std::pair<std::string_view, std::string>>;

std::shared_ptr<const ServiceIdentity> Process(std::string instance, std::string pod,
                                               ServiceResources::Attributes attributes) {
  auto id = std::make_shared<ServiceIdentity>();
  id->instance = std::move(instance);
  if (!pod.empty()) {
    id->k8s_namespace = "shop";
    id->k8s_pod_name = std::move(pod);
  }
  id->resource_attributes = std::move(attributes);
  return id;
}

struct Fixture {
  std::vector<std::shared_ptr<const ServiceIdentity>> known;
  FakeClock clock;
  ServiceResources resources{[this] { return known; }, minutes(10), 3, clock};
};

const ServiceResources::Attributes kCheckout = {{"deployment.environment", "lab"},
                                                {"team", "payments"}};
const ServiceResources::Attributes kPod = {{"service.version", "1.4.2"}};

TEST(ServiceResourcesTest, AnExitedProcessKeepsItsAttributesWhileExported) {
  Fixture f;
  f.known = {Process("h:10", "", kCheckout)};
  const Labels labels = {{"service.instance.id", "h:10"}, {"service.name", "checkout"}};
  EXPECT_EQ(f.resources.Of(labels), kCheckout);
  f.known.clear();                // the process exited; the namer forgot it
  for (int i = 0; i < 12; i++) {  // exported every minute: kept
    f.clock.Advance(minutes(1));
    EXPECT_EQ(f.resources.Of(labels), kCheckout) << i;
  }
  // Its series expired: not asked for over the linger, dropped.
  f.clock.Advance(minutes(11));
  EXPECT_EQ(f.resources.Of({{"service.instance.id", "h:11"}}), ServiceResources::Attributes());
  f.clock.Advance(minutes(3));
  EXPECT_EQ(f.resources.Of(labels), ServiceResources::Attributes());
  EXPECT_EQ(f.resources.size(), 0u);
}

TEST(ServiceResourcesTest, InstanceThenRememberedThenPod) {
  Fixture f;
  f.known = {Process("h:20", "web-0", kCheckout), Process("h:21", "web-0", kPod)};
  const Labels by_instance = {
      {"k8s.namespace.name", "shop"}, {"k8s.pod.name", "web-0"}, {"service.instance.id", "h:20"}};
  EXPECT_EQ(f.resources.Of(by_instance), kCheckout);
  // Gone: what was found for the instance, not another process of its pod.
  f.known = {Process("h:21", "web-0", kPod)};
  EXPECT_EQ(f.resources.Of(by_instance), kCheckout);
  // An instance never seen: a process of its pod.
  EXPECT_EQ(f.resources.Of({{"k8s.namespace.name", "shop"},
                            {"k8s.pod.name", "web-0"},
                            {"service.instance.id", "h:22"}}),
            kPod);
  // A pod only (no instance label), and a pod of another namespace.
  EXPECT_EQ(f.resources.Of({{"k8s.namespace.name", "shop"}, {"k8s.pod.name", "web-0"}}), kPod);
  EXPECT_EQ(f.resources.Of({{"k8s.namespace.name", "other"}, {"k8s.pod.name", "web-0"}}),
            ServiceResources::Attributes());
  // Neither: nothing, and nothing kept.
  EXPECT_EQ(f.resources.Of({{"service.name", "x"}}), ServiceResources::Attributes());
  // A live process's attributes replace what was kept (the namer named it again).
  const ServiceResources::Attributes changed = {{"team", "growth"}};
  f.known = {Process("h:20", "web-0", changed)};
  EXPECT_EQ(f.resources.Of(by_instance), changed);
  f.known.clear();
  EXPECT_EQ(f.resources.Of(by_instance), changed);
}

TEST(ServiceResourcesTest, BoundedDroppingTheLeastRecentlyAskedFor) {
  Fixture f;  // 3 entries at most
  for (int pid = 1; pid <= 3; pid++) {
    f.known.push_back(Process("h:" + std::to_string(pid), "", {{"n", std::to_string(pid)}}));
  }
  for (int pid = 1; pid <= 3; pid++) {
    f.clock.Advance(std::chrono::seconds(1));
    f.resources.Of({{"service.instance.id", "h:" + std::to_string(pid)}});
  }
  f.clock.Advance(std::chrono::seconds(1));
  f.resources.Of({{"service.instance.id", "h:1"}});  // 2 is now the least recent
  f.known = {Process("h:4", "", {{"n", "4"}})};
  f.clock.Advance(std::chrono::seconds(1));
  f.resources.Of({{"service.instance.id", "h:4"}});
  EXPECT_EQ(f.resources.size(), 3u);
  f.known.clear();
  const ServiceResources::Attributes none;
  EXPECT_EQ(f.resources.Of({{"service.instance.id", "h:2"}}), none);
  EXPECT_EQ(f.resources.Of({{"service.instance.id", "h:1"}}),
            ServiceResources::Attributes({{"n", "1"}}));
  EXPECT_EQ(f.resources.Of({{"service.instance.id", "h:3"}}),
            ServiceResources::Attributes({{"n", "3"}}));
  EXPECT_EQ(f.resources.Of({{"service.instance.id", "h:4"}}),
            ServiceResources::Attributes({{"n", "4"}}));
}

}  // namespace
}  // namespace loupe::agent
