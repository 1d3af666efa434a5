#include "src/k8s/client_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::k8s {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loupe-k8s-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string path = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << content;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

TEST(KubeconfigTest, InlineDataAndCurrentContext) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(apiVersion: v1
kind: Config
current-context: lab
contexts:
- name: other
  context: {cluster: other, user: other}
- name: lab
  context: {cluster: lab-cluster, user: lab-user, namespace: shop}
clusters:
- name: lab-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )" + B64("CA PEM") +
                                                   R"(
users:
- name: lab-user
  user:
    client-certificate-data: )" + B64("CERT PEM") + R"(
    client-key-data: )" + B64("KEY PEM") + R"(
)");
  auto config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, "CA PEM");
  EXPECT_EQ(config->client_cert_pem, "CERT PEM");
  EXPECT_EQ(config->client_key_pem, "KEY PEM");
  EXPECT_EQ(config->namespace_, "shop");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->source, "kubeconfig " + path + " (context lab)");
  EXPECT_EQ(*config->CurrentToken(), "");
}

TEST(KubeconfigTest, FilesRelativeToTheKubeconfigAndTokens) {
  TempDir dir;
  dir.Write("certs/ca.crt", "CA FROM FILE");
  dir.Write("token", "  file-token\n");
  const std::string path = dir.Write("kube/config", R"(
current-context: a
contexts:
- {name: a, context: {cluster: c, user: u}}
- {name: b, context: {cluster: c, user: v}}
clusters:
- {name: c, cluster: {server: "https://api:443", certificate-authority: ../certs/ca.crt,
                      insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: static-token}}
- {name: v, user: {tokenFile: ../token}}
)");
  auto a = LoadKubeconfig(path);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ca_pem, "CA FROM FILE");
  EXPECT_TRUE(a->insecure_skip_tls_verify);
  EXPECT_EQ(*a->CurrentToken(), "static-token");

  auto b = LoadKubeconfig(path, "b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b->CurrentToken(), "file-token");
  // The token file is re-read: rotation takes effect without reloading the kubeconfig.
  dir.Write("token", "rotated\n");
  EXPECT_EQ(*b->CurrentToken(), "rotated");
}

TEST(KubeconfigTest, ErrorsNameTheProblem) {
  TempDir dir;
  struct Case {
    std::string yaml;
    std::string context;
    std::string message;
  };
  const std::string base = R"(
clusters: [{name: c, cluster: {server: "https://x"}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
)";
  const Case cases[] = {
      {"[1, 2]", "", "top level must be a map"},
      {base + "users: [{name: u, user: {}}]\n", "", "current-context is not set"},
      {base + "users: [{name: u, user: {}}]\n", "nope", "no entry named 'nope' in contexts"},
      {base + "current-context: a\n", "", "no entry named 'u' in users"},
      {base + "current-context: a\nusers: [{name: u, user: {exec: {command: aws}}}]\n", "",
       "users[u].exec is not supported"},
      {base + "current-context: a\nusers: [{name: u, user: {auth-provider: {name: gcp}}}]\n", "",
       "auth-provider is not supported"},
      {base + "current-context: a\nusers: [{name: u, user: {client-certificate-data: '!!'}}]\n", "",
       "client-certificate-data is not valid base64"},
      {base + "current-context: a\nusers: [{name: u, user: {client-certificate-data: " + B64("c") +
           "}}]\n",
       "", "needs both client-certificate and client-key"},
      {base + "current-context: a\nusers: [{name: u, user: {client-key: /nonexistent/key}}]\n", "",
       "cannot read /nonexistent/key"},
      {base + "current-context: a\nusers: [{name: u, user: {tokenFile: /nonexistent/t}}]\n", "",
       "cannot read /nonexistent/t"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'ftp://x'}}]\n",
       "", "server must start with https:// or http://"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {}}]\n",
       "", "cluster 'c' has no server"},
      {"current-context: a\ncontexts: [{name: a, context: {user: u}}]\n", "", "names no cluster"},
      {"current-context: a\ncontexts: {a: 1}\n", "", "contexts must be a list"},
      {"a: [unclosed\n", "", "kubeconfig"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.Write("config", c.yaml);
    auto config = LoadKubeconfig(path, c.context);
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.message)) << c.yaml;
  }
  EXPECT_EQ(LoadKubeconfig(dir.path() + "/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(KubeconfigTest, AnonymousUserIsAllowed) {
  TempDir dir;
  const std::string path = dir.Write("config", R"(
current-context: a
contexts: [{name: a, context: {cluster: c}}]
clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080"}}]
)");
  auto config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "http://127.0.0.1:8080");
  EXPECT_TRUE(config->client_cert_pem.empty());
}

EnvLookup FakeEnv(const std::map<std::string, std::string>& values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(InClusterTest, ReadsServiceAccountFiles) {
  TempDir dir;
  dir.Write("token", "sa-token\n");
  dir.Write("ca.crt", "CLUSTER CA");
  dir.Write("namespace", "loupe\n");
  auto config = InClusterConfig(
      FakeEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
      dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, "CLUSTER CA");
  EXPECT_EQ(*config->CurrentToken(), "sa-token");
  EXPECT_EQ(config->namespace_, "loupe");
  EXPECT_EQ(config->source, "in-cluster");

  auto v6 = InClusterConfig(
      FakeEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}}),
      dir.path());
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->server, "https://[fd00::1]:6443");
}

TEST(InClusterTest, Errors) {
  TempDir dir;
  EXPECT_EQ(InClusterConfig(FakeEnv({}), dir.path()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(InClusterConfig(
                FakeEnv({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "http"}}),
                dir.path())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // No token file.
  auto missing = InClusterConfig(
      FakeEnv({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "443"}}), dir.path());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/token"));
}

TEST(DefaultKubeconfigTest, KubeconfigEnvThenHome) {
  TempDir dir;
  EXPECT_EQ(*DefaultKubeconfigPath(FakeEnv({{"KUBECONFIG", "/a/b:/c/d"}})), "/a/b");
  EXPECT_FALSE(DefaultKubeconfigPath(FakeEnv({{"HOME", dir.path()}})).has_value());
  dir.Write(".kube/config", "x");
  EXPECT_EQ(*DefaultKubeconfigPath(FakeEnv({{"HOME", dir.path()}})), dir.path() + "/.kube/config");
}

}  // namespace
}  // namespace loupe::k8s
