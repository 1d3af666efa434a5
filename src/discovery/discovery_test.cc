#include "src/discovery/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <thread>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace loupe::discovery {
namespace {

// Polls `done` every 5 ms until it holds or `timeout` passes; whether it held.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

ProcessInfo Proc(uint32_t pid, std::string exe, std::vector<uint16_t> ports) {
  return ProcessInfo{pid, std::move(exe), "x", std::move(ports)};
}

Selection Make(const config::SelectorList& services, const config::SelectorList& exclude = {},
               const config::SelectorList& instrument = {}, const std::string& open_port = "",
               const std::string& exe = "") {
  auto s = Selection::FromConfig(services, exclude, instrument, {}, open_port, exe);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

TEST(SelectionTest, NothingConfiguredInstrumentsEverythingButAgents) {
  Selection s = Make({});
  EXPECT_TRUE(s.instrument_all());
  EXPECT_TRUE(s.Selected(Proc(1, "/usr/sbin/nginx", {80})));
  EXPECT_FALSE(s.Selected(Proc(2, "/usr/bin/beyla", {})));
  EXPECT_FALSE(s.Selected(Proc(3, "/opt/loupe", {})));
  EXPECT_FALSE(s.Selected(Proc(4, "", {})));  // kernel thread
}

TEST(SelectionTest, OpenPortsAndExePathAreAndedWithinAnEntryOredAcross) {
  Selection s =
      Make({{{"open_ports", "80,8000-8999"}, {"exe_path", "nginx"}}, {{"exe_path", "python3$"}}});
  EXPECT_FALSE(s.instrument_all());
  EXPECT_TRUE(s.Selected(Proc(1, "/usr/sbin/nginx", {8080})));
  EXPECT_FALSE(s.Selected(Proc(1, "/usr/sbin/nginx", {9000})));
  EXPECT_FALSE(s.Selected(Proc(1, "/usr/bin/go-server", {80})));
  EXPECT_TRUE(s.Selected(Proc(2, "/usr/bin/python3", {})));
}

TEST(SelectionTest, ExclusionsWin) {
  Selection s = Make({{{"open_ports", "1-65535"}}}, {{{"exe_path", "sshd"}}});
  EXPECT_TRUE(s.Selected(Proc(1, "/usr/sbin/nginx", {80})));
  EXPECT_FALSE(s.Selected(Proc(2, "/usr/sbin/sshd", {22})));
}

TEST(SelectionTest, ListenPortsAreLookedUpOnlyWhenARuleUsesThem) {
  EXPECT_FALSE(Make({}).needs_listen_ports());
  EXPECT_FALSE(Make({{{"exe_path", "nginx"}}}).needs_listen_ports());
  EXPECT_TRUE(Make({{{"exe_path", "nginx"}}, {{"open_ports", "80"}}}).needs_listen_ports());
  EXPECT_TRUE(Make({{{"exe_path", "nginx"}}}, {{{"open_ports", "22"}}}).needs_listen_ports());
  EXPECT_TRUE(Make({}, {}, {}, "8080").needs_listen_ports());  // BEYLA_OPEN_PORT
  EXPECT_FALSE(Make({}, {}, {}, "", "nginx").needs_listen_ports());
}

TEST(SelectionTest, InstrumentUsesGlobsAndIgnoresServices) {
  Selection s = Make({{{"exe_path", "nginx"}}}, {}, {{{"exe_path", "*/python3*"}}});
  EXPECT_TRUE(s.Selected(Proc(1, "/usr/bin/python3.11", {})));
  EXPECT_FALSE(s.Selected(Proc(2, "/usr/sbin/nginx", {})));
}

TEST(SelectionTest, ShortcutsMustBothMatch) {
  Selection s = Make({}, {}, {}, "8080", "gohttp");
  EXPECT_TRUE(s.Selected(Proc(1, "/tmp/gohttp", {8080})));
  EXPECT_FALSE(s.Selected(Proc(1, "/tmp/gohttp", {9090})));
  EXPECT_FALSE(s.Selected(Proc(1, "/usr/sbin/nginx", {8080})));
}

TEST(SelectionTest, KubernetesSelectorsNeverMatchWithoutKubernetes) {
  Selection s = Make({{{"k8s_namespace", ".*"}}});
  EXPECT_FALSE(s.Selected(Proc(1, "/usr/sbin/nginx", {80})));
}

// exe_path and the k8s_* values of discovery.services are Go regexps in Beyla: inline flags
// work, ECMAScript-only constructs (backreferences) are errors naming the field.
TEST(SelectionTest, RegexesUseGoSyntax) {
  Selection s = Make({{{"exe_path", "(?i)/NGINX$"}}});
  EXPECT_TRUE(s.Selected(Proc(1, "/usr/sbin/nginx", {})));
  EXPECT_FALSE(s.Selected(Proc(2, "/usr/sbin/nginx-debug", {})));
  auto bad = Selection::FromConfig({{{"exe_path", "(a)\\1"}}}, {}, {}, {}, "", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("bad exe_path regular expression '(a)\\1'"),
            std::string::npos)
      << bad.status();
}

TEST(SelectionTest, BadSelectorsAreErrors) {
  EXPECT_FALSE(Selection::FromConfig({{{"exe_path", "(x"}}}, {}, {}, {}, "", "").ok());
  EXPECT_FALSE(Selection::FromConfig({{{"target_pids", "a"}}}, {}, {}, {}, "", "").ok());
}

// A real listener in a child process: the scan sees its port, discovery selects it, and drops it
// when it exits.
TEST(DiscoveryTest, FindsAListenerAndDropsItWhenItExits) {
  int sync[2];
  ASSERT_EQ(pipe(sync), 0);
  const pid_t child = fork();
  if (child == 0) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(1);
    if (listen(fd, 1) != 0) _exit(1);
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const uint16_t port = ntohs(addr.sin_port);
    if (write(sync[1], &port, sizeof(port)) != sizeof(port)) _exit(1);
    pause();
    _exit(0);
  }
  uint16_t port = 0;
  ASSERT_EQ(read(sync[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  bool found = false;
  for (const auto& p : ScanProcesses()) {
    if (p.pid == static_cast<uint32_t>(child)) {
      found = std::find(p.listen_ports.begin(), p.listen_ports.end(), port) != p.listen_ports.end();
    }
  }
  EXPECT_TRUE(found) << "port " << port << " of pid " << child << " not seen";

  std::mutex mu;
  std::vector<uint32_t> added, removed;
  Selection selection = Make({{{"open_ports", std::to_string(port)}}});
  Discovery discovery(selection,
                      {[&](const ProcessInfo& p) {
                         std::lock_guard<std::mutex> l(mu);
                         added.push_back(p.pid);
                       },
                       [&](uint32_t pid) {
                         std::lock_guard<std::mutex> l(mu);
                         removed.push_back(pid);
                       }},
                      std::chrono::milliseconds(200), getpid());
  discovery.Start();
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(added, std::vector<uint32_t>{static_cast<uint32_t>(child)});
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  discovery.Poke(static_cast<uint32_t>(child));  // the agent's exit event
  WaitUntil(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return !removed.empty();
      },
      std::chrono::seconds(1));
  discovery.Stop();
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(removed, std::vector<uint32_t>{static_cast<uint32_t>(child)});
  close(sync[0]);
  close(sync[1]);
}

}  // namespace
}  // namespace loupe::discovery

namespace loupe::discovery {
namespace {

TEST(DiscoveryKubernetesTest, PodSelectorsMatchThePodOfTheProcess) {
  config::SelectorList services = {
      {{"k8s_namespace", "production|staging"}, {"k8s_pod_labels/app.kubernetes.io/part-of", ".*"}},
      {{"k8s_namespace", "^shop$"}, {"k8s_deployment_name", "^check"}}};
  auto selection = Selection::FromConfig(services, {}, {}, {}, "", "");
  ASSERT_TRUE(selection.ok()) << selection.status();
  auto pod = [](std::string ns, std::string owner, std::string kind,
                std::map<std::string, std::string> labels) {
    auto p = std::make_shared<PodMetadata>();
    p->namespace_name = std::move(ns);
    p->pod_name = owner + "-abc";
    p->owner_name = std::move(owner);
    p->owner_kind = std::move(kind);
    p->labels = std::move(labels);
    return std::shared_ptr<const PodMetadata>(p);
  };
  std::map<uint32_t, std::shared_ptr<const PodMetadata>> pods = {
      {1, pod("production", "web", "Deployment", {{"app.kubernetes.io/part-of", "shop"}})},
      {2, pod("production", "web", "Deployment", {})},  // label missing
      {3, pod("shop", "checkout", "Deployment", {})},
      {4, pod("shop", "checkout", "StatefulSet", {})},  // not a Deployment
      {5, pod("dev", "checkout", "Deployment", {})},
  };
  PodResolver resolver = [&](uint32_t pid) -> std::shared_ptr<const PodMetadata> {
    auto it = pods.find(pid);
    return it == pods.end() ? nullptr : it->second;
  };
  auto selected = [&](uint32_t pid) {
    ProcessInfo p;
    p.pid = pid;
    p.exe = "/usr/bin/app";
    return selection->Selected(p, resolver);
  };
  EXPECT_TRUE(selected(1));
  EXPECT_FALSE(selected(2));
  EXPECT_TRUE(selected(3));
  EXPECT_FALSE(selected(4));
  EXPECT_FALSE(selected(5));
  EXPECT_FALSE(selected(6));  // in no pod
  // Without a resolver (Kubernetes metadata off) k8s selectors match nothing.
  ProcessInfo p;
  p.pid = 1;
  p.exe = "/usr/bin/app";
  EXPECT_FALSE(selection->Selected(p));
  // An annotation the pod lacks does not match; a bad regex is an error.
  auto annotated =
      Selection::FromConfig({{{"k8s_pod_annotations/team", ".*"}}}, {}, {}, {}, "", "");
  ASSERT_TRUE(annotated.ok());
  EXPECT_FALSE(annotated->Selected(p, resolver));
  EXPECT_FALSE(Selection::FromConfig({{{"k8s_namespace", "[a-"}}}, {}, {}, {}, "", "").ok());
  // Globs under discovery.instrument.
  auto globbed = Selection::FromConfig({}, {}, {{{"k8s_deployment_name", "check*"}}}, {}, "", "");
  ASSERT_TRUE(globbed.ok());
  ProcessInfo q;
  q.pid = 3;
  q.exe = "/usr/bin/app";
  EXPECT_TRUE(globbed->Selected(q, resolver));
}

}  // namespace
}  // namespace loupe::discovery

namespace loupe::discovery {
namespace {

std::shared_ptr<const PodMetadata> PodWith(std::map<std::string, std::string> annotations,
                                           std::string container, std::string replicaset) {
  auto p = std::make_shared<PodMetadata>();
  p->namespace_name = "shop";
  p->pod_name = "web-1";
  p->owner_name = "web";
  p->owner_kind = "Deployment";
  p->replicaset_name = std::move(replicaset);
  p->annotations = std::move(annotations);
  p->container_name = std::move(container);
  return p;
}

bool SelectedWith(const Selection& s, const std::shared_ptr<const PodMetadata>& pod,
                  bool other_netns = true) {
  ProcessInfo p;
  p.pid = 7;
  p.exe = "/usr/bin/app";
  p.other_netns = other_netns;
  return s.Selected(p, [pod](uint32_t) { return pod; });
}

TEST(DiscoveryKubernetesTest, AnnotationSelectorsMatchLikeLabelSelectors) {
  const Selection globs = Make({}, {},
                               {{{"k8s_pod_annotations/example.com/team", "pay*"},
                                 {"k8s_pod_annotations/example.com/tier", "web"}}});
  EXPECT_TRUE(SelectedWith(
      globs, PodWith({{"example.com/team", "payments"}, {"example.com/tier", "web"}}, "", "")));
  // Every annotation must match; a missing one fails; globs match the whole value.
  EXPECT_FALSE(SelectedWith(globs, PodWith({{"example.com/team", "payments"}}, "", "")));
  EXPECT_FALSE(SelectedWith(
      globs, PodWith({{"example.com/team", "xpayments"}, {"example.com/tier", "web"}}, "", "")));
  EXPECT_FALSE(SelectedWith(globs, nullptr));  // in no pod
  const Selection regexes = Make({{{"k8s_pod_annotations/example.com/team", "^pay"}}});
  EXPECT_TRUE(SelectedWith(regexes, PodWith({{"example.com/team", "payments"}}, "", "")));
  EXPECT_FALSE(SelectedWith(regexes, PodWith({{"example.com/team", "repay"}}, "", "")));
  // The informer keeps exactly the annotations the rules name (include and exclude).
  const Selection both = Make({}, {}, {{{"k8s_pod_annotations/b", "*"}}}, "", "");
  EXPECT_EQ(both.annotation_keys(), std::vector<std::string>{"b"});
  auto with_exclude = Selection::FromConfig(
      {}, {}, {{{"k8s_pod_annotations/b", "*"}, {"k8s_pod_annotations/a", "*"}}},
      {{{"k8s_pod_annotations/c", "x"}}, {{"k8s_pod_labels/d", "x"}}}, "", "");
  ASSERT_TRUE(with_exclude.ok());
  EXPECT_EQ(with_exclude->annotation_keys(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(Make({{{"k8s_pod_labels/a", "x"}}}).annotation_keys().empty());
}

TEST(DiscoveryKubernetesTest, ContainerNameMatchesTheProcessContainer) {
  const Selection s = Make({}, {}, {{{"container_name", "api"}}});
  EXPECT_TRUE(SelectedWith(s, PodWith({}, "api", "")));
  EXPECT_FALSE(SelectedWith(s, PodWith({}, "sidecar", "")));
  // A process whose cgroup names no container of its pod has no container name.
  EXPECT_FALSE(SelectedWith(s, PodWith({}, "", "")));
  const Selection k8s_name = Make({{{"k8s_container_name", "^side"}}});
  EXPECT_TRUE(SelectedWith(k8s_name, PodWith({}, "sidecar", "")));
  EXPECT_FALSE(SelectedWith(k8s_name, PodWith({}, "api", "")));
  // An empty glob matches only an empty value, never a missing container.
  EXPECT_FALSE(SelectedWith(Make({}, {}, {{{"container_name", ""}}}), PodWith({}, "", "")));
}

TEST(DiscoveryKubernetesTest, ReplicaSetNameSelector) {
  const Selection s = Make({}, {}, {{{"k8s_replicaset_name", "web-7d*"}}});
  EXPECT_TRUE(SelectedWith(s, PodWith({}, "", "web-7d4b9c")));
  EXPECT_FALSE(SelectedWith(s, PodWith({}, "", "web-5f")));
  EXPECT_FALSE(SelectedWith(s, PodWith({}, "", "")));  // not owned by a ReplicaSet
}

TEST(SelectionTest, ContainersOnlyExcludesProcessesInTheAgentsNetworkNamespace) {
  const Selection s = Make({}, {}, {{{"open_ports", "80"}, {"containers_only", "true"}}});
  ProcessInfo host = Proc(1, "/usr/sbin/nginx", {80});
  ProcessInfo pod = Proc(2, "/usr/sbin/nginx", {80});
  pod.other_netns = true;
  EXPECT_FALSE(s.Selected(host));
  EXPECT_TRUE(s.Selected(pod));
  // containers_only: false selects both; it needs no Kubernetes metadata.
  const Selection off = Make({}, {}, {{{"open_ports", "80"}, {"containers_only", "False"}}});
  EXPECT_TRUE(off.Selected(host));
  EXPECT_TRUE(off.Selected(pod));
  // As the only field of an exclusion it drops every containerised process.
  auto excluded = Selection::FromConfig({}, {}, {{{"open_ports", "80"}}},
                                        {{{"containers_only", "true"}}}, "", "");
  ASSERT_TRUE(excluded.ok());
  EXPECT_TRUE(excluded->Selected(host));
  EXPECT_FALSE(excluded->Selected(pod));
  EXPECT_FALSE(Selection::FromConfig({}, {}, {{{"containers_only", "yes"}}}, {}, "", "").ok());
}

// A child that listens on an ephemeral TCP port (IPv6 `v6`, else IPv4) after entering a new
// network namespace when `own_netns`; reports the port through `sync` and waits to be killed.
pid_t ListeningChild(bool own_netns, bool v6, uint16_t* port) {
  int sync[2];
  if (pipe(sync) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    if (own_netns && unshare(CLONE_NEWNET) != 0) _exit(1);
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_any;
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_ANY);
      len = sizeof(*a);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 1) != 0) _exit(1);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const uint16_t p = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (write(sync[1], &p, sizeof(p)) != sizeof(p)) _exit(1);
    pause();
    _exit(0);
  }
  close(sync[1]);
  const bool got = child > 0 && read(sync[0], port, sizeof(*port)) == sizeof(*port);
  close(sync[0]);
  if (child > 0 && !got) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return -1;
  }
  return child;
}

// Kills and reaps a child when the test ends, also when an assertion returns early.
struct ChildGuard {
  pid_t pid;
  ~ChildGuard() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

std::vector<uint16_t> PortsOf(const std::vector<ProcessInfo>& scan, pid_t pid, bool* other_netns) {
  for (const ProcessInfo& p : scan) {
    if (p.pid == static_cast<uint32_t>(pid)) {
      *other_netns = p.other_netns;
      return p.listen_ports;
    }
  }
  return {};
}

// The sock_diag dump of listening sockets finds what /proc/<pid>/net/tcp{,6} lists, in the agent's
// namespace and in another one (entered from a helper thread).
TEST(DiscoveryTest, ListenerDumpMatchesProcNetTcpInEveryNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (a new network namespace)";
  uint16_t here_port = 0, there_port = 0;
  const pid_t here = ListeningChild(/*own_netns=*/false, /*v6=*/true, &here_port);
  const ChildGuard here_guard{here};
  ASSERT_GT(here, 0);
  const pid_t there = ListeningChild(/*own_netns=*/true, /*v6=*/false, &there_port);
  const ChildGuard there_guard{there};
  ASSERT_GT(there, 0);

  // The host namespace is shared with whatever else runs (other tests under ctest -j): a
  // listener may come or go between the two snapshots, so compare until a pair agrees.
  bool self_agrees = false;
  for (int attempt = 0; attempt < 20 && !self_agrees; ++attempt) {
    const auto self = internal::ListeningSocketsNetlink(getpid(), /*same_netns=*/true);
    ASSERT_TRUE(self.has_value());
    self_agrees = *self == internal::ListeningSocketsProcfs(getpid());
  }
  EXPECT_TRUE(self_agrees) << "the netlink dump and /proc/net/tcp* never agreed";
  const auto other = internal::ListeningSocketsNetlink(there, /*same_netns=*/false);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(*other, internal::ListeningSocketsProcfs(there));
  ASSERT_EQ(other->size(), 1u);  // a new namespace holds the child's listener only
  EXPECT_EQ(other->begin()->second, there_port);

  const std::vector<ProcessInfo> scan = ScanProcesses();
  bool here_other = true, there_other = false;
  const auto here_ports = PortsOf(scan, here, &here_other);
  const auto there_ports = PortsOf(scan, there, &there_other);
  EXPECT_EQ(here_ports, std::vector<uint16_t>{here_port});
  EXPECT_FALSE(here_other);
  EXPECT_EQ(there_ports, std::vector<uint16_t>{there_port});
  EXPECT_TRUE(there_other);
  // Without listen_ports the scan leaves them out.
  for (const ProcessInfo& p : ScanProcesses(/*listen_ports=*/false)) {
    EXPECT_TRUE(p.listen_ports.empty()) << p.pid;
  }
}

// One helper thread dumps any number of other namespaces, entering each in turn: each dump is that
// namespace's (a thread left in the previous one would report its listener instead).
TEST(DiscoveryTest, OneHelperThreadDumpsEveryOtherNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (new network namespaces)";
  uint16_t ports[2] = {0, 0};
  const pid_t children[2] = {ListeningChild(/*own_netns=*/true, /*v6=*/false, &ports[0]),
                             ListeningChild(/*own_netns=*/true, /*v6=*/true, &ports[1])};
  const ChildGuard guards[2] = {{children[0]}, {children[1]}};
  ASSERT_GT(children[0], 0);
  ASSERT_GT(children[1], 0);
  internal::ForeignNetnsDumper dumper;
  EXPECT_EQ(dumper.threads_started(), 0);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 2; ++i) {
      const auto pid = static_cast<uint32_t>(children[i]);
      const std::optional<ListeningSockets> dumped = dumper.Dump(pid);
      ASSERT_TRUE(dumped.has_value()) << i;
      EXPECT_EQ(*dumped, internal::ListeningSocketsProcfs(pid)) << i;
      ASSERT_EQ(dumped->size(), 1u) << i;  // a new namespace holds its child's listener only
      EXPECT_EQ(dumped->begin()->second, ports[i]) << i;
    }
  }
  EXPECT_FALSE(dumper.Dump(0x7ffffff0u).has_value());  // no such process
  EXPECT_EQ(dumper.threads_started(), 1);
}

bool Walked(const ScanCache& owners, pid_t pid) {
  const auto& w = owners.last_walked();
  return std::find(w.begin(), w.end(), static_cast<uint32_t>(pid)) != w.end();
}

bool Read(const ScanCache& cache, pid_t pid) {
  const auto& r = cache.last_read();
  return std::find(r.begin(), r.end(), static_cast<uint32_t>(pid)) != r.end();
}

// With a ScanCache the scan reads a process's fds only when it is new, when its namespace got a
// listener no scan saw before, or at the periodic full refresh; the ports it reports stay those of
// the namespace's current listeners.
TEST(DiscoveryTest, ScanCacheWalksFdsOnlyWhatChanged) {
  ScanCache owners;
  uint16_t a_port = 0;
  const pid_t a = ListeningChild(/*own_netns=*/false, /*v6=*/false, &a_port);
  const ChildGuard a_guard{a};
  ASSERT_GT(a, 0);
  bool other = false;

  // First scan: a full walk.
  std::vector<ProcessInfo> scan = ScanProcesses(true, &owners);
  EXPECT_EQ(PortsOf(scan, a, &other), std::vector<uint16_t>{a_port});
  EXPECT_TRUE(Walked(owners, a));
  EXPECT_TRUE(Walked(owners, getpid()));

  // Nothing changed: both come from the cache, with the same ports.
  scan = ScanProcesses(true, &owners);
  EXPECT_EQ(PortsOf(scan, a, &other), std::vector<uint16_t>{a_port});
  EXPECT_FALSE(Walked(owners, a));
  EXPECT_FALSE(Walked(owners, getpid()));
  EXPECT_FALSE(Read(owners, getpid()));
  EXPECT_FALSE(Read(owners, a));

  // This process binds a new port: the namespace is walked again and the port is found.
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(s, 1), 0);
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t s_port = ntohs(addr.sin_port);
  scan = ScanProcesses(true, &owners);
  EXPECT_TRUE(Walked(owners, getpid()));
  EXPECT_TRUE(Walked(owners, a));
  EXPECT_EQ(PortsOf(scan, getpid(), &other), std::vector<uint16_t>{s_port});
  EXPECT_EQ(PortsOf(scan, a, &other), std::vector<uint16_t>{a_port});

  // A new process inheriting the listener (a forked worker) is walked; the others are not.
  const pid_t worker = fork();
  if (worker == 0) {
    pause();
    _exit(0);
  }
  const ChildGuard worker_guard{worker};
  ASSERT_GT(worker, 0);
  scan = ScanProcesses(true, &owners);
  EXPECT_TRUE(Walked(owners, worker));
  EXPECT_FALSE(Walked(owners, getpid()));
  EXPECT_EQ(PortsOf(scan, worker, &other), std::vector<uint16_t>{s_port});
  EXPECT_EQ(PortsOf(scan, getpid(), &other), std::vector<uint16_t>{s_port});

  // a exits, taking its listener along: gone from the scan, the rest unchanged and cached.
  kill(a, SIGKILL);
  waitpid(a, nullptr, 0);
  scan = ScanProcesses(true, &owners);
  EXPECT_EQ(PortsOf(scan, a, &other), std::vector<uint16_t>{});
  EXPECT_FALSE(Walked(owners, getpid()));
  EXPECT_EQ(PortsOf(scan, worker, &other), std::vector<uint16_t>{s_port});

  // This process closes its copy while the worker keeps the socket listening: the cache reports
  // the port for this process until the periodic full walk, and no longer after it.
  close(s);
  bool corrected = false;
  for (int i = 0; i <= ScanCache::kFullRefreshEvery && !corrected; ++i) {
    scan = ScanProcesses(true, &owners);
    corrected = PortsOf(scan, getpid(), &other).empty();
    if (corrected) {
      EXPECT_TRUE(Walked(owners, getpid()));
    }
  }
  EXPECT_TRUE(corrected);
  EXPECT_EQ(PortsOf(scan, worker, &other), std::vector<uint16_t>{s_port});
}

// A child that execs /bin/sleep when `go` is written to; its exe is this test binary until then.
pid_t ExecOnSignal(int* go) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    close(fds[1]);
    char c;
    if (read(fds[0], &c, 1) == 1) execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  close(fds[0]);
  *go = fds[1];
  return child;
}

std::string ExeOf(const std::vector<ProcessInfo>& scan, pid_t pid) {
  for (const ProcessInfo& p : scan) {
    if (p.pid == static_cast<uint32_t>(pid)) return p.exe;
  }
  return "";
}

bool WaitForExe(pid_t pid, std::string_view suffix) {
  return WaitUntil(
      [&] {
        char buf[4096];
        const ssize_t n =
            readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof(buf) - 1);
        return n > 0 && std::string_view(buf, static_cast<size_t>(n)).ends_with(suffix);
      },
      std::chrono::seconds(5));
}

// With a ScanCache a known process's exe, comm and namespace are read again only after
// Invalidate(pid) (the agent's exec/exit events) or at the periodic full refresh.
TEST(DiscoveryTest, ScanCacheReadsAProcessAgainOnlyWhenInvalidated) {
  int go = -1;
  const pid_t child = ExecOnSignal(&go);
  const ChildGuard guard{child};
  ASSERT_GT(child, 0);
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  const std::string self_exe(self, static_cast<size_t>(n));

  ScanCache cache;
  std::vector<ProcessInfo> scan = ScanProcesses(/*listen_ports=*/false, &cache);
  EXPECT_EQ(ExeOf(scan, child), self_exe);
  EXPECT_TRUE(Read(cache, child));
  scan = ScanProcesses(false, &cache);
  EXPECT_EQ(ExeOf(scan, child), self_exe);
  EXPECT_FALSE(Read(cache, child));

  ASSERT_EQ(write(go, "x", 1), 1);
  close(go);
  ASSERT_TRUE(WaitForExe(child, "/sleep"));
  // Not invalidated: the cached image stands (the exec event would have invalidated it).
  scan = ScanProcesses(false, &cache);
  EXPECT_EQ(ExeOf(scan, child), self_exe);
  cache.Invalidate(static_cast<uint32_t>(child));
  scan = ScanProcesses(false, &cache);
  EXPECT_TRUE(Read(cache, child));
  EXPECT_TRUE(ExeOf(scan, child).ends_with("/sleep")) << ExeOf(scan, child);

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  scan = ScanProcesses(false, &cache);
  EXPECT_EQ(ExeOf(scan, child), "");
}

// Discovery::Poke(pid), which the agent calls for every exec, makes the next scan see the new
// image: a process that execs into a selected executable is picked up within a second.
TEST(DiscoveryTest, PokeWithThePidPicksUpAnExecWithinASecond) {
  int go = -1;
  const pid_t child = ExecOnSignal(&go);
  const ChildGuard guard{child};
  ASSERT_GT(child, 0);
  Discovery discovery(Make({{{"exe_path", "/sleep$"}}}), {}, std::chrono::milliseconds(500),
                      static_cast<uint32_t>(getpid()));
  discovery.Start();
  EXPECT_FALSE(discovery.selected().contains(static_cast<uint32_t>(child)));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a periodic scan caches it
  ASSERT_EQ(write(go, "x", 1), 1);
  close(go);
  ASSERT_TRUE(WaitForExe(child, "/sleep"));
  discovery.Poke(static_cast<uint32_t>(child));
  const bool selected =
      WaitUntil([&] { return discovery.selected().contains(static_cast<uint32_t>(child)); },
                std::chrono::seconds(1));
  discovery.Stop();
  EXPECT_TRUE(selected);
}

// A selected process that execs an image that is selected too stays selected, and is announced
// again with the new image (the agent reads its service name and pod afresh). Periodic scans do
// not announce a selected process again; only Poke (the agent's exec and exit events) does.
TEST(DiscoveryTest, ASelectedProcessThatExecsASelectedImageIsAnnouncedAgain) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  const std::string self_exe(self, static_cast<size_t>(n));
  const std::string base = self_exe.substr(self_exe.rfind('/') + 1);
  int go = -1;
  const pid_t child = ExecOnSignal(&go);
  const ChildGuard guard{child};
  ASSERT_GT(child, 0);
  std::mutex mu;
  std::vector<std::string> announced;  // the child's exe, once per on_selected
  int deselected = 0;
  Discovery discovery(Make({{{"exe_path", "/(" + base + "|sleep)$"}}}),
                      {[&](const ProcessInfo& p) {
                         if (p.pid != static_cast<uint32_t>(child)) return;
                         std::lock_guard<std::mutex> l(mu);
                         announced.push_back(p.exe);
                       },
                       [&](uint32_t pid) {
                         std::lock_guard<std::mutex> l(mu);
                         if (pid == static_cast<uint32_t>(child)) deselected++;
                       }},
                      std::chrono::milliseconds(200), static_cast<uint32_t>(getpid()));
  discovery.Start();
  auto announcements = [&] {
    std::lock_guard<std::mutex> l(mu);
    return announced;
  };
  auto wait_for_count = [&](size_t count) {
    WaitUntil([&] { return announcements().size() >= count; }, std::chrono::seconds(1));
  };
  wait_for_count(1);
  ASSERT_EQ(announcements(), std::vector<std::string>{self_exe});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // periodic scans
  EXPECT_EQ(announcements().size(), 1u);
  // A poked pid is read again and announced with what was read, even when nothing changed.
  discovery.Poke(static_cast<uint32_t>(child));
  wait_for_count(2);
  EXPECT_EQ(announcements(), (std::vector<std::string>{self_exe, self_exe}));

  ASSERT_EQ(write(go, "x", 1), 1);
  close(go);
  ASSERT_TRUE(WaitForExe(child, "/sleep"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // periodic scans: no exec seen
  EXPECT_EQ(announcements().size(), 2u);
  discovery.Poke(static_cast<uint32_t>(child));  // the agent's exec event
  wait_for_count(3);
  discovery.Stop();
  const std::vector<std::string> got = announcements();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[2].ends_with("/sleep")) << got[2];
  EXPECT_TRUE(discovery.selected().contains(static_cast<uint32_t>(child)));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(deselected, 0);
}

// on_scan_changed comes once per scan that announced or dropped processes, after the last of
// them, and never after a scan that changed nothing: the agent trims what it keeps per process
// there, once per scan instead of once per process.
TEST(DiscoveryTest, ScanChangedComesOnceAfterEachScansAnnouncements) {
  constexpr int kChildren = 3;
  std::array<ChildGuard, kChildren> guards{};
  std::vector<std::string> ports;
  for (ChildGuard& g : guards) {
    uint16_t port = 0;
    g.pid = ListeningChild(false, false, &port);
    ASSERT_GT(g.pid, 0);
    ports.push_back(std::to_string(port));
  }
  std::mutex mu;
  std::vector<std::string> events;  // "selected", "deselected", "changed" in call order
  auto record = [&](const char* what) {
    std::lock_guard<std::mutex> l(mu);
    events.emplace_back(what);
  };
  Discovery discovery(Make({{{"open_ports", absl::StrJoin(ports, ",")}}}),
                      {[&](const ProcessInfo&) { record("selected"); },
                       [&](uint32_t) { record("deselected"); }, [&] { record("changed"); }},
                      std::chrono::milliseconds(100), static_cast<uint32_t>(getpid()));
  auto seen = [&] {
    std::lock_guard<std::mutex> l(mu);
    return events;
  };
  discovery.Start();  // the first scan runs in Start()
  ASSERT_EQ(seen(), (std::vector<std::string>{"selected", "selected", "selected", "changed"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // periodic scans, no change
  ASSERT_EQ(seen().size(), 4u);

  for (ChildGuard& g : guards) {
    kill(g.pid, SIGKILL);
    waitpid(g.pid, nullptr, 0);
    g.pid = -1;
  }
  discovery.PokeAll();
  auto after_kills = [&] {
    const std::vector<std::string> all = seen();
    return std::vector<std::string>(all.begin() + 4, all.end());
  };
  WaitUntil(
      [&] {
        const std::vector<std::string> after = after_kills();
        return std::count(after.begin(), after.end(), "deselected") == kChildren;
      },
      std::chrono::seconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a late "changed" would show
  discovery.Stop();
  const std::vector<std::string> after = after_kills();
  // The children may die across more than one scan: every scan's drops end with one "changed".
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back(), "changed");
  EXPECT_EQ(std::count(after.begin(), after.end(), "deselected"), kChildren);
  EXPECT_EQ(std::count(after.begin(), after.end(), "selected"), 0);
  for (size_t i = 0; i < after.size(); ++i) {
    if (after[i] == "changed") {
      EXPECT_TRUE(i > 0 && after[i - 1] == "deselected") << "a scan without drops at " << i;
    }
  }
}

// The scan marks processes of other network namespaces; this test process and its children
// share the agent's (the test's) namespace.
TEST(DiscoveryTest, ScanMarksOnlyOtherNetworkNamespaces) {
  bool seen_self = false;
  for (const ProcessInfo& p : ScanProcesses()) {
    if (p.pid == static_cast<uint32_t>(getpid())) {
      seen_self = true;
      EXPECT_FALSE(p.other_netns);
    }
  }
  EXPECT_TRUE(seen_self);
}

}  // namespace
}  // namespace loupe::discovery
