#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/identity/cgroup.h"
#include "src/identity/identity_cache.h"

namespace loupe::identity {
namespace {

constexpr char kId[] = "4f1c9a7de2b0c3f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9";

flow::IpAddress Ip(const std::string& text) {
  flow::IpAddress ip;
  EXPECT_TRUE(flow::IpAddress::Parse(text, &ip)) << text;
  return ip;
}

TEST(CgroupTest, DockerCgroupfsAndSystemd) {
  auto a = ParseCgroupPath(std::string("/docker/") + kId);
  EXPECT_EQ(a.container_id, kId);
  EXPECT_EQ(a.runtime, "docker");
  auto b = ParseCgroupPath(std::string("/system.slice/docker-") + kId + ".scope");
  EXPECT_EQ(b.container_id, kId);
  EXPECT_EQ(b.runtime, "docker");
  EXPECT_EQ(b.systemd_unit, "");
}

TEST(CgroupTest, KubeletSystemdContainerd) {
  auto info = ParseCgroupPath(
      std::string("/kubepods.slice/kubepods-burstable.slice/"
                  "kubepods-burstable-pod0c8b7f4e_1d2a_4b3c_9e8f_7a6b5c4d3e2f.slice/"
                  "cri-containerd-") +
      kId + ".scope");
  EXPECT_EQ(info.container_id, kId);
  EXPECT_EQ(info.runtime, "containerd");
  EXPECT_EQ(info.pod_uid, "0c8b7f4e-1d2a-4b3c-9e8f-7a6b5c4d3e2f");
}

TEST(CgroupTest, KubeletCgroupfsAndCrio) {
  auto a = ParseCgroupPath(
      std::string("/kubepods/besteffort/pod0c8b7f4e-1d2a-4b3c-9e8f-7a6b5c4d3e2f/") + kId);
  EXPECT_EQ(a.container_id, kId);
  EXPECT_EQ(a.pod_uid, "0c8b7f4e-1d2a-4b3c-9e8f-7a6b5c4d3e2f");
  auto b = ParseCgroupPath(
      std::string("/kubepods.slice/kubepods-pod0c8b7f4e_1d2a_4b3c_9e8f_7a6b5c4d3e2f.slice/crio-") +
      kId + ".scope");
  EXPECT_EQ(b.runtime, "cri-o");
  EXPECT_EQ(b.container_id, kId);
  EXPECT_EQ(b.pod_uid, "0c8b7f4e-1d2a-4b3c-9e8f-7a6b5c4d3e2f");
  // conmon is not the container.
  auto c = ParseCgroupPath(std::string("/machine.slice/crio-conmon-") + kId + ".scope");
  EXPECT_EQ(c.container_id, "");
}

TEST(CgroupTest, SystemdUnitsAndGarbage) {
  EXPECT_EQ(ParseCgroupPath("/system.slice/nginx.service").systemd_unit, "nginx.service");
  EXPECT_EQ(ParseCgroupPath("/user.slice/user-0.slice/session-3.scope").systemd_unit,
            "session-3.scope");
  auto g = ParseCgroupPath("/docker/not-an-id/../x");
  EXPECT_EQ(g.container_id, "");
  EXPECT_EQ(ParseCgroupPath("").container_id, "");
  // A pod-looking component outside kubepods is not a pod.
  EXPECT_EQ(ParseCgroupPath("/pod0c8b7f4e-1d2a-4b3c-9e8f-7a6b5c4d3e2f").pod_uid, "");
}

TEST(CgroupTest, ReadsV2AndV1Files) {
  const auto root =
      std::filesystem::temp_directory_path() / ("loupe-cg-" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "10");
  std::filesystem::create_directories(root / "11");
  std::ofstream(root / "10" / "cgroup") << "0::/system.slice/nginx.service\n";
  std::ofstream(root / "11" / "cgroup")
      << "12:memory:/docker/" << kId << "\n1:name=systemd:/docker/" << kId << "\n0::/\n";
  EXPECT_EQ(*ReadCgroupPath(10, root.string()), "/system.slice/nginx.service");
  EXPECT_EQ(*ReadCgroupPath(11, root.string()), std::string("/docker/") + kId);
  EXPECT_FALSE(ReadCgroupPath(12, root.string()).ok());
  std::filesystem::remove_all(root);
}

TEST(IdentityAllocatorTest, StablePerLabelSetAndInRange) {
  IdentityAllocator a;
  IdentityAllocator b;
  const std::vector<std::string> web = {"k8s:app=web", "k8s:io.kubernetes.pod.namespace=prod"};
  const uint32_t id = a.Allocate(web);
  EXPECT_GE(id, kMinLabelIdentity);
  EXPECT_LE(id, kMaxLabelIdentity);
  EXPECT_EQ(id, a.Allocate(web));
  EXPECT_EQ(id, b.Allocate(web));  // a restarted agent computes the same value
  EXPECT_NE(id, a.Allocate({"k8s:app=db"}));
  // Many label sets never share an id.
  std::set<uint32_t> ids;
  for (int i = 0; i < 5000; ++i) ids.insert(a.Allocate({"k8s:app=x" + std::to_string(i)}));
  EXPECT_EQ(ids.size(), 5000u);
}

flow::Endpoint Pod(const std::string& ns, const std::string& name, const std::string& app) {
  flow::Endpoint ep;
  ep.namespace_name = ns;
  ep.pod_name = name;
  ep.labels = {"k8s:app=" + app, "k8s:io.kubernetes.pod.namespace=" + ns};
  ep.workloads = {{app, "Deployment"}};
  return ep;
}

TEST(IdentityCacheTest, HostWorldAndPods) {
  IdentityCache cache;
  cache.SetHostAddresses({Ip("192.0.2.1")});
  EXPECT_EQ(cache.Lookup(Ip("192.0.2.1"))->endpoint.identity, kIdentityHost);
  EXPECT_EQ(cache.Lookup(Ip("192.0.2.1"))->endpoint.labels,
            std::vector<std::string>{"reserved:host"});
  EXPECT_EQ(cache.Lookup(Ip("198.51.100.7"))->endpoint.identity, kIdentityWorld);
  EXPECT_EQ(cache.Lookup(Ip("2001:db8::1"))->endpoint.labels,
            std::vector<std::string>{"reserved:world"});
  cache.UpsertEndpoint(Ip("10.1.0.5"), Pod("prod", "web-1", "web"), 1000);
  auto peer = cache.Lookup(Ip("10.1.0.5"), 2000);
  EXPECT_EQ(peer->endpoint.pod_name, "web-1");
  EXPECT_EQ(peer->endpoint.namespace_name, "prod");
  EXPECT_EQ(peer->endpoint.cluster_name, "default");
  EXPECT_GE(peer->endpoint.identity, kMinLabelIdentity);
  EXPECT_EQ(peer->endpoint.workloads[0].kind, "Deployment");
  // The same object is shared between lookups.
  EXPECT_EQ(peer, cache.Lookup(Ip("10.1.0.5"), 3000));
  EXPECT_EQ(cache.endpoint_count(), 1u);
}

TEST(IdentityCacheTest, RecreatedPodWithSameIpIsAttributedByTime) {
  IdentityCache cache;
  const auto ip = Ip("10.1.0.9");
  cache.UpsertEndpoint(ip, Pod("prod", "web-old", "web"), 1'000);
  cache.DeleteEndpoint(ip, 5'000);
  cache.UpsertEndpoint(ip, Pod("prod", "web-new", "web"), 6'000);
  EXPECT_EQ(cache.Lookup(ip, 2'000)->endpoint.pod_name, "web-old");
  EXPECT_EQ(cache.Lookup(ip, 5'500)->endpoint.pod_name, "web-old");  // deleted, but before the
                                                                     // new pod took the address
  EXPECT_EQ(cache.Lookup(ip, 6'000)->endpoint.pod_name, "web-new");
  EXPECT_EQ(cache.Lookup(ip, 9'000)->endpoint.pod_name, "web-new");
}

TEST(IdentityCacheTest, DeletedPodResolvableDuringGraceOnly) {
  IdentityCache::Options options;
  options.deleted_grace = std::chrono::seconds(60);
  IdentityCache cache(options);
  const auto ip = Ip("10.1.0.10");
  const int64_t s = 1'000'000'000;
  cache.UpsertEndpoint(ip, Pod("prod", "gone", "web"), 1 * s);
  cache.DeleteEndpoint(ip, 100 * s);
  EXPECT_EQ(cache.Lookup(ip, 150 * s)->endpoint.pod_name, "gone");
  EXPECT_EQ(cache.Lookup(ip, 161 * s)->endpoint.pod_name, "");
  EXPECT_EQ(cache.Lookup(ip, 161 * s)->endpoint.identity, kIdentityWorld);
}

TEST(IdentityCacheTest, ServicesAndDnsNames) {
  IdentityCache cache;
  const auto vip = Ip("10.96.0.10");
  cache.UpsertService(vip, "kube-dns", "kube-system");
  EXPECT_EQ(cache.Lookup(vip)->service_name, "kube-dns");
  EXPECT_EQ(cache.Lookup(vip)->service_namespace, "kube-system");
  const int64_t now = 1'000'000'000'000;
  cache.OnDnsAnswer({"example.com.", "cdn.example.net"}, {"93.184.216.34", "not-an-ip"}, 30, now);
  auto peer = cache.Lookup(Ip("93.184.216.34"));
  EXPECT_EQ(peer->names, (std::vector<std::string>{"cdn.example.net", "example.com"}));
  EXPECT_EQ(peer->endpoint.identity, kIdentityWorld);
  cache.DeleteService(vip);
  EXPECT_EQ(cache.Lookup(vip)->service_name, "");
}

TEST(IdentityCacheTest, DnsAddressesAreBounded) {
  IdentityCache::Options options;
  options.max_dns_addresses = 100;
  IdentityCache cache(options);
  for (int i = 0; i < 1000; ++i) {
    cache.OnDnsAnswer({"h" + std::to_string(i) + ".test"},
                      {"10.2." + std::to_string(i / 256) + "." + std::to_string(i % 256)}, 60,
                      1'000'000'000LL * i);
  }
  EXPECT_EQ(cache.dns_address_count(), 100u);
  EXPECT_TRUE(cache.Lookup(Ip("10.2.0.0"))->names.empty());     // evicted
  EXPECT_EQ(cache.Lookup(Ip("10.2.3.231"))->names.size(), 1u);  // i = 999 kept
}

// A child process running `sleep 30`, given 100 ms to exec; -1 when fork fails.
pid_t StartSleepingChild() {
  const pid_t child = fork();
  if (child == 0) {
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  if (child > 0) usleep(100'000);
  return child;
}

TEST(IdentityCacheTest, LocalProcessIdentityFromProc) {
  // A real child process: its comm, exe and cgroup come from /proc.
  const pid_t child = StartSleepingChild();
  ASSERT_GT(child, 0);
  IdentityCache cache;
  cache.SetHostAddresses({Ip("127.0.0.1")});
  auto peer = cache.LookupProcess(static_cast<uint32_t>(child), Ip("127.0.0.1"));
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(peer->endpoint.id, static_cast<uint32_t>(child));
  EXPECT_EQ(peer->endpoint.identity, kIdentityHost);
  const auto& labels = peer->endpoint.labels;
  EXPECT_NE(std::find(labels.begin(), labels.end(), "process:comm=sleep"), labels.end());
  EXPECT_NE(std::find_if(labels.begin(), labels.end(),
                         [](const std::string& l) {
                           return l.rfind("process:exe=", 0) == 0 &&
                                  l.find("sleep") != std::string::npos;
                         }),
            labels.end());
  EXPECT_NE(std::find(labels.begin(), labels.end(), "reserved:host"), labels.end());
  ASSERT_EQ(peer->endpoint.workloads.size(), 1u);
  // Cached per pid.
  EXPECT_EQ(peer, cache.LookupProcess(static_cast<uint32_t>(child), Ip("127.0.0.1")));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  cache.ForgetProcess(static_cast<uint32_t>(child));
  EXPECT_EQ(cache.LookupProcess(static_cast<uint32_t>(child), Ip("127.0.0.1")), nullptr);
}

TEST(IdentityCacheTest, ExitedProcessIsNamedByTheCommandGiven) {
  // An exited process (no /proc entry under this root) is named by the command the event carried,
  // and only then.
  const std::string root = ::testing::TempDir() + "/identity-exited-proc";
  std::filesystem::create_directories(root);
  IdentityCache::Options options;
  options.proc_root = root;
  IdentityCache cache(options);
  cache.SetHostAddresses({Ip("127.0.0.1")});
  EXPECT_EQ(cache.LookupProcess(4242, Ip("127.0.0.1")), nullptr);
  auto peer = cache.LookupProcess(4242, Ip("127.0.0.1"), 0, "curl");
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(peer->endpoint.id, 4242u);
  EXPECT_EQ(peer->endpoint.identity, kIdentityHost);
  EXPECT_EQ(peer->endpoint.labels,
            (std::vector<std::string>{"process:comm=curl", "reserved:host"}));
  ASSERT_EQ(peer->endpoint.workloads.size(), 1u);
  EXPECT_EQ(peer->endpoint.workloads[0].name, "curl");
  EXPECT_EQ(peer->endpoint.workloads[0].kind, "Process");
  // Kept for the pid and command; another command for the pid (reused) gets its own.
  EXPECT_EQ(peer, cache.LookupProcess(4242, Ip("127.0.0.1"), 0, "curl"));
  auto other = cache.LookupProcess(4242, Ip("127.0.0.1"), 0, "wget");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->endpoint.workloads[0].name, "wget");
  // The sweep lets them go; the next lookup builds the identity again.
  cache.SweepProcesses();
  auto again = cache.LookupProcess(4242, Ip("127.0.0.1"), 0, "wget");
  ASSERT_NE(again, nullptr);
  EXPECT_NE(again, other);
  EXPECT_EQ(again->endpoint.labels, other->endpoint.labels);

  // Both ends of a flow: the exited client is the source.
  flow::Flow f;
  f.src_ip = Ip("127.0.0.1");
  f.dst_ip = Ip("127.0.0.1");
  f.pid = 4243;
  cache.Enrich(&f, /*pid_is_source=*/true, "curl");
  ASSERT_TRUE(f.src_info && f.dst_info);
  EXPECT_EQ(f.src_info->endpoint.id, 4243u);
  EXPECT_EQ(f.src_info->endpoint.workloads[0].name, "curl");
  EXPECT_EQ(f.dst_info->endpoint.id, 0u);
  EXPECT_TRUE(f.dst_info->endpoint.workloads.empty());
}

TEST(IdentityCacheTest, LiveProcessIsReadFromProcNotFromTheCommandGiven) {
  const pid_t child = StartSleepingChild();
  ASSERT_GT(child, 0);
  IdentityCache cache;
  cache.SetHostAddresses({Ip("127.0.0.1")});
  auto peer = cache.LookupProcess(static_cast<uint32_t>(child), Ip("127.0.0.1"), 0, "other");
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_NE(peer, nullptr);
  const auto& labels = peer->endpoint.labels;
  EXPECT_NE(std::find(labels.begin(), labels.end(), "process:comm=sleep"), labels.end());
  EXPECT_EQ(std::find(labels.begin(), labels.end(), "process:comm=other"), labels.end());
}

TEST(IdentityCacheTest, EnrichSetsBothEnds) {
  IdentityCache cache;
  cache.UpsertEndpoint(Ip("10.1.0.5"), Pod("prod", "web-1", "web"), 0);
  flow::Flow f;
  f.time_ns = 10;
  f.src_ip = Ip("10.1.0.5");
  f.dst_ip = Ip("8.8.8.8");
  cache.Enrich(&f, true);
  ASSERT_TRUE(f.src_info && f.dst_info);
  EXPECT_EQ(f.src_info->endpoint.pod_name, "web-1");
  EXPECT_EQ(f.dst_info->endpoint.identity, kIdentityWorld);
}

}  // namespace
}  // namespace loupe::identity
