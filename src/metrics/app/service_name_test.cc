#include "src/metrics/app/service_name.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "gtest/gtest.h"

extern char** environ;

namespace loupe::metrics::app {
namespace {

using namespace std::string_literals;

TEST(ParseServiceEnvironTest, ServiceNameSources) {
  EnvServiceInfo info = ParseServiceEnviron("PATH=/bin\0OTEL_SERVICE_NAME=checkout\0"s);
  EXPECT_EQ(info.name, "checkout");
  EXPECT_FALSE(info.namespace_name.has_value());

  info = ParseServiceEnviron(
      "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,service.name=cart%20svc,"
      "service.namespace=shop\0"s);
  EXPECT_EQ(info.name, "cart svc");
  EXPECT_EQ(info.namespace_name, "shop");

  // OTEL_SERVICE_NAME wins over service.name, whatever the order.
  info = ParseServiceEnviron(
      "OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs\0OTEL_SERVICE_NAME=from-var\0"s);
  EXPECT_EQ(info.name, "from-var");

  info = ParseServiceEnviron("OTEL_SERVICE_NAME=\0OTEL_RESOURCE_ATTRIBUTES=service.name=\0"s);
  EXPECT_FALSE(info.name.has_value());
  info = ParseServiceEnviron("garbage-without-equals\0=\0OTEL_SERVICE_NAME"s);
  EXPECT_FALSE(info.name.has_value());
  EXPECT_FALSE(ParseServiceEnviron("").name.has_value());
}

// The other OTEL_RESOURCE_ATTRIBUTES entries are kept, sorted, percent-decoded; service.name and
// service.namespace are not among them; empty keys and values and malformed pairs are skipped and
// the last of a repeated key counts.
TEST(ParseServiceEnvironTest, OtherResourceAttributes) {
  using Attrs = std::vector<std::pair<std::string, std::string>>;
  EnvServiceInfo info = ParseServiceEnviron(
      "OTEL_RESOURCE_ATTRIBUTES=team=pay%2Cments, service.name=cart,deployment.environment=prod,"
      "service.namespace=shop,novalue,=orphan,empty=,team=payments\0"s);
  EXPECT_EQ(info.name, "cart");
  EXPECT_EQ(info.namespace_name, "shop");
  EXPECT_EQ(info.resource_attributes,
            (Attrs{{"deployment.environment", "prod"}, {"team", "payments"}}));

  info = ParseServiceEnviron("OTEL_RESOURCE_ATTRIBUTES=team=pay%2Cments%20EU\0"s);
  EXPECT_EQ(info.resource_attributes, (Attrs{{"team", "pay,ments EU"}}));
  EXPECT_FALSE(info.name.has_value());
  EXPECT_TRUE(ParseServiceEnviron("OTEL_SERVICE_NAME=x\0"s).resource_attributes.empty());
}

// A real child process (sleep) started with the given extra environment.
class Child {
 public:
  explicit Child(std::vector<std::string> env) {
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    char arg0[] = "sleep";
    char arg1[] = "30";
    char* argv[] = {arg0, arg1, nullptr};
    EXPECT_EQ(posix_spawn(&pid_, "/bin/sleep", nullptr, nullptr, argv, envp.data()), 0);
    // Wait until exec has replaced the image and laid out the new environment (comm changes
    // before the environment is in place).
    const std::string first = env.empty() ? "" : env.front();
    for (int i = 0; i < 400; ++i) {
      std::ifstream comm("/proc/" + std::to_string(pid_) + "/comm");
      std::ifstream environ_file("/proc/" + std::to_string(pid_) + "/environ");
      std::string name;
      const std::string environ_text((std::istreambuf_iterator<char>(environ_file)),
                                     std::istreambuf_iterator<char>());
      if (comm >> name && name == "sleep" && environ_text.find(first) != std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~Child() {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  uint32_t pid() const { return static_cast<uint32_t>(pid_); }

 private:
  pid_t pid_ = 0;
};

TEST(ServiceNamerTest, RealChildWithOtelServiceName) {
  Child child({"OTEL_SERVICE_NAME=checkout", "OTEL_RESOURCE_ATTRIBUTES=service.namespace=shop"});
  ServiceNamer namer({"default-ns", "node-1"});
  auto id = namer.Get(child.pid(), "ignored");
  EXPECT_EQ(id->pid, child.pid());
  EXPECT_EQ(id->name, "checkout");
  EXPECT_TRUE(id->name_from_env);
  EXPECT_EQ(id->namespace_name, "shop");
  EXPECT_TRUE(id->namespace_from_env);
  EXPECT_EQ(id->executable, "sleep");
  EXPECT_EQ(id->instance, "node-1:" + std::to_string(child.pid()));
  EXPECT_EQ(id->job, "shop/checkout");
  // Cached: the same object comes back.
  EXPECT_EQ(namer.Get(child.pid(), "ignored").get(), id.get());
}

TEST(ServiceNamerTest, RealChildsOtherResourceAttributes) {
  Child child({"OTEL_RESOURCE_ATTRIBUTES=service.name=cart,deployment.environment=prod,team=pay"});
  ServiceNamer namer({"", "node-1"});
  auto id = namer.Get(child.pid(), "x");
  EXPECT_EQ(id->name, "cart");
  EXPECT_EQ(id->resource_attributes, (std::vector<std::pair<std::string, std::string>>{
                                         {"deployment.environment", "prod"}, {"team", "pay"}}));
}

TEST(ServiceNamerTest, RealChildWithoutEnvironmentUsesExecutableAndDefaultNamespace) {
  Child child({"PATH=/bin"});
  ServiceNamer namer({"default-ns", "node-1"});
  auto id = namer.Get(child.pid(), "ignored");
  EXPECT_EQ(id->name, "sleep");
  EXPECT_FALSE(id->name_from_env);
  EXPECT_EQ(id->namespace_name, "default-ns");
  EXPECT_EQ(id->job, "default-ns/sleep");

  ServiceNamer no_ns({"", "node-1"});
  EXPECT_EQ(no_ns.Get(child.pid(), "x")->job, "sleep");
}

TEST(ServiceNamerTest, HookOverridesWhatTheEnvironmentDidNotSet) {
  Child child({"OTEL_RESOURCE_ATTRIBUTES=service.namespace=shop"});
  ServiceNamer namer({"", "node-1"});
  namer.SetHook([](ServiceIdentity* id, const ServiceNamer::HookContext&) {
    if (!id->name_from_env) id->name = "k8s-deployment";
    if (!id->namespace_from_env) id->namespace_name = "k8s-ns";
    id->pid = 1;  // ignored: the pid is restored
  });
  auto id = namer.Get(child.pid(), "x");
  EXPECT_EQ(id->name, "k8s-deployment");
  EXPECT_EQ(id->namespace_name, "shop");
  EXPECT_EQ(id->pid, child.pid());
  EXPECT_EQ(id->job, "shop/k8s-deployment");
  EXPECT_EQ(id->instance, "node-1:" + std::to_string(child.pid()));
}

TEST(ServiceNamerTest, GoneProcessFallsBackToComm) {
  ServiceNamer namer({"", "h", "/nonexistent-proc"});
  auto id = namer.Get(77, "python3");
  EXPECT_EQ(id->name, "python3");
  EXPECT_EQ(id->instance, "h:77");
}

// A /proc of made-up processes under the temporary directory; removed with the object.
class FakeProc {
 public:
  explicit FakeProc(const std::string& name)
      : root_(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()))) {
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;

  // Process `pid`: /proc/<pid>/exe links to `exe` (none when empty); `environ` and `comm` are
  // written when not empty.
  void Add(int pid, const std::string& exe, const std::string& environ = "",
           const std::string& comm = "") const {
    const std::filesystem::path dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    if (!exe.empty()) std::filesystem::create_symlink(exe, dir / "exe");
    if (!environ.empty()) std::ofstream(dir / "environ") << environ;
    if (!comm.empty()) std::ofstream(dir / "comm") << comm;
  }
  // The process exited: its directory is gone.
  void Remove(int pid) const { std::filesystem::remove_all(root_ / std::to_string(pid)); }
  std::string root() const { return root_.string(); }

 private:
  const std::filesystem::path root_;
};

TEST(ServiceNamerTest, FakeProcRootAndCacheMaintenance) {
  const FakeProc proc("am-proc");
  for (int pid : {10, 11, 12}) {
    proc.Add(pid, "/opt/app/bin/server-" + std::to_string(pid) + " (deleted)",
             pid == 11 ? "OTEL_SERVICE_NAME=eleven\0"s : "");
  }
  ServiceNamer namer({"", "h", proc.root()});
  EXPECT_EQ(namer.Get(10, "x")->name, "server-10");
  EXPECT_EQ(namer.Get(11, "x")->name, "eleven");
  EXPECT_EQ(namer.Get(12, "x")->name, "server-12");
  ASSERT_EQ(namer.Known().size(), 3u);
  const std::vector<uint32_t> keep = {12, 10};
  namer.Retain(keep);
  auto known = namer.Known();
  ASSERT_EQ(known.size(), 2u);
  EXPECT_EQ(known[0]->pid, 10u);
  EXPECT_EQ(known[1]->pid, 12u);
  namer.Forget(10);
  ASSERT_EQ(namer.Known().size(), 1u);
}

TEST(ServiceNamerTest, RememberedFactsNameAProcessAfterItExited) {
  const FakeProc proc("am-proc-gone");
  proc.Add(20, "/opt/jobs/report-client", "OTEL_SERVICE_NAME=nightly-report\0"s);
  proc.Add(21, "/opt/jobs/other-client", "OTEL_SERVICE_NAME=other\0"s);
  ServiceNamer namer({"default-ns", "h", proc.root()});
  namer.Remember(20);
  namer.Remember(99);  // no such process: nothing to remember
  proc.Remove(20);
  proc.Remove(21);
  // 20 is named as it ran; 21 was never remembered, so only its command names it.
  auto gone = namer.Get(20, "python3");
  EXPECT_EQ(gone->name, "nightly-report");
  EXPECT_TRUE(gone->name_from_env);
  EXPECT_EQ(gone->executable, "report-client");
  EXPECT_EQ(gone->namespace_name, "default-ns");
  EXPECT_EQ(gone->job, "default-ns/nightly-report");
  EXPECT_EQ(namer.Get(21, "python3")->name, "python3");
  EXPECT_EQ(namer.Get(99, "curl")->name, "curl");
  // Its exit was handled (Forget) before its last requests: they are still named as it ran.
  const std::vector<uint32_t> none;
  namer.Retain(none);
  namer.Forget(20);
  EXPECT_EQ(namer.Get(20, "python3")->name, "nightly-report");
  // A new process of pid 20 is remembered when traced: the identity cached for the old one and
  // the old one's facts are replaced.
  proc.Add(20, "/usr/sbin/nginx");
  namer.Remember(20);
  EXPECT_EQ(namer.Get(20, "nginx")->name, "nginx");
  EXPECT_FALSE(namer.Get(20, "nginx")->name_from_env);
  proc.Remove(20);
  namer.Forget(20);
  EXPECT_EQ(namer.Get(20, "x")->name, "nginx");
}

// A remembered process exec'd another image (ForgetImage) and the new image exited before it was
// remembered: its requests are named by their command, not as the old image.
TEST(ServiceNamerTest, AnExecDropsTheOldImagesFacts) {
  const FakeProc proc("am-proc-exec");
  proc.Add(30, "/opt/jobs/first-client", "OTEL_SERVICE_NAME=first\0"s);
  ServiceNamer namer({"", "h", proc.root()});
  namer.Remember(30);
  EXPECT_EQ(namer.Get(30, "first-client")->name, "first");
  namer.ForgetImage(30);
  proc.Remove(30);
  EXPECT_EQ(namer.Get(30, "second-client")->name, "second-client");
  // Discovery remembered the new image before it exited: it names the requests.
  proc.Add(30, "/opt/jobs/second-client", "OTEL_SERVICE_NAME=second\0"s);
  namer.Remember(30);
  proc.Remove(30);
  namer.Forget(30);
  EXPECT_EQ(namer.Get(30, "second-client")->name, "second");
}

// When every process is traced there is no discovery to read a process at selection: the exec
// event reads the new image (ReadImage), so that a short-lived process is named by its own
// OTEL_SERVICE_NAME after it exited, and not as the image it replaced.
TEST(ServiceNamerTest, ReadImageNamesAnExitedProcessByTheImageItExecd) {
  const FakeProc proc("am-proc-read-image");
  proc.Add(50, "/usr/bin/bash", "OTEL_SERVICE_NAME=shell\0"s);
  ServiceNamer namer({"", "h", proc.root()});
  namer.ReadImage(50);  // the shell's own exec
  EXPECT_EQ(namer.Get(50, "bash")->name, "shell");
  proc.Remove(50);
  proc.Add(50, "/opt/jobs/report", "OTEL_SERVICE_NAME=nightly-report\0"s);
  namer.ReadImage(50);  // it exec'd the job
  proc.Remove(50);      // which ran and exited before its requests were named
  namer.Forget(50);
  EXPECT_EQ(namer.Get(50, "report")->name, "nightly-report");
  // Without the read at exec, the exited job would be named by its command.
  namer.ForgetImage(50);
  EXPECT_EQ(namer.Get(50, "report")->name, "report");
}

TEST(ServiceNamerTest, HookIsToldWhetherTheProcessIsGoneAndTheRequestsAddress) {
  const FakeProc proc("am-proc-hook");
  proc.Add(40, "/usr/bin/server");
  ServiceNamer namer({"", "h", proc.root()});
  std::vector<std::pair<bool, std::string>> calls;
  namer.SetHook([&calls](ServiceIdentity* id, const ServiceNamer::HookContext& at) {
    calls.emplace_back(at.live, at.local_address ? at.local_address->ToString() : "-");
    if (!at.live && at.local_address != nullptr) id->k8s_pod_name = "pod-of-the-address";
  });
  flow::IpAddress local;
  ASSERT_TRUE(flow::IpAddress::Parse("10.244.1.5", &local));
  EXPECT_EQ(namer.Get(40, "server", &local)->k8s_pod_name, "");
  EXPECT_EQ(namer.Get(41, "curl", &local)->k8s_pod_name, "pod-of-the-address");
  EXPECT_EQ(namer.Get(41, "curl")->k8s_pod_name, "");
  EXPECT_EQ(calls, (std::vector<std::pair<bool, std::string>>{
                       {true, "10.244.1.5"}, {false, "10.244.1.5"}, {false, "-"}}));
}

TEST(ServiceNamerTest, CacheIsBounded) {
  const FakeProc proc("am-proc-bound");
  for (int pid = 1; pid <= 10; ++pid) proc.Add(pid, "/usr/bin/server");
  ServiceNamer namer({"", "h", proc.root(), 4});
  for (uint32_t pid = 1; pid <= 10; ++pid) {
    namer.Get(pid, "p");
    EXPECT_GE(namer.Known().size(), 1u);
    EXPECT_LE(namer.Known().size(), 4u);
  }
}

TEST(ServiceNamerTest, GoneProcessesAreNotCached) {
  const FakeProc proc("am-proc-reuse");
  ServiceNamer namer({"", "h", proc.root()});
  // The last request of an exited process, named after its exit was handled: not kept, so a
  // later process of the same pid (a fork, with no exec event) is read afresh.
  EXPECT_EQ(namer.Get(30, "curl")->name, "curl");
  EXPECT_TRUE(namer.Known().empty());
  proc.Add(30, "/usr/bin/gunicorn");
  EXPECT_EQ(namer.Get(30, "curl")->name, "gunicorn");
  EXPECT_EQ(namer.Known().size(), 1u);
  // Alive, but its executable cannot be read (no ptrace access): named by /proc's command, and
  // cached like any live process.
  proc.Add(31, "", "", "sshd\n");
  EXPECT_EQ(namer.Get(31, "x")->name, "sshd");
  EXPECT_EQ(namer.Known().size(), 2u);
}

}  // namespace
}  // namespace loupe::metrics::app
