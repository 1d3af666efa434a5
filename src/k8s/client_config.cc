#include "src/k8s/client_config.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/base/read_file.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "yaml-cpp/yaml.h"

namespace loupe::k8s {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  auto data = ReadWholeFile(path, "");
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat(what, ": ", data.status().message()));
  }
  return data;
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(base_dir) / path).string();
}

// Finds `name` in a kubeconfig list (`clusters`, `users`, `contexts`) and returns its body.
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* body,
                                     const std::string& name) {
  const YAML::Node entries = root[list];
  if (entries && !entries.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: ", list, " must be a list"));
  }
  if (entries) {
    for (const YAML::Node& entry : entries) {
      if (!entry.IsMap() || !entry["name"] || entry["name"].as<std::string>() != name) continue;
      const YAML::Node value = entry[body];
      if (!value || !value.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kubeconfig: ", list, " entry '", name, "' has no ", body, " map"));
      }
      return value;
    }
  }
  return absl::NotFoundError(absl::StrCat("kubeconfig: no entry named '", name, "' in ", list));
}

std::string Scalar(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

// `<key>-data` (base64, inline) wins over `<key>` (a file path), as in kubectl.
absl::StatusOr<std::string> DataOrFile(const YAML::Node& map, const std::string& key,
                                       const std::string& base_dir, const std::string& where) {
  const std::string data_key = key + "-data";
  const std::string data = Scalar(map, data_key.c_str());
  if (!data.empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(data, &decoded)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig: ", where, ".", data_key, " is not valid base64"));
    }
    return decoded;
  }
  const std::string file = Scalar(map, key.c_str());
  if (file.empty()) return std::string();
  return ReadFile(Resolve(base_dir, file), absl::StrCat("kubeconfig: ", where, ".", key));
}

absl::StatusOr<ClientConfig> LoadKubeconfigYaml(const YAML::Node& root, const std::string& path,
                                                const std::string& context_override) {
  if (!root.IsMap()) return absl::InvalidArgumentError("kubeconfig: top level must be a map");
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  std::string context_name = context_override;
  if (context_name.empty()) context_name = Scalar(root, "current-context");
  if (context_name.empty()) {
    return absl::InvalidArgumentError(
        "kubeconfig: current-context is not set (set it or pass a context)");
  }
  ASSIGN_OR_RETURN(const YAML::Node context, FindNamed(root, "contexts", "context", context_name));
  const std::string cluster_name = Scalar(context, "cluster");
  const std::string user_name = Scalar(context, "user");
  if (cluster_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig: context '", context_name, "' names no cluster"));
  }
  ASSIGN_OR_RETURN(const YAML::Node cluster, FindNamed(root, "clusters", "cluster", cluster_name));

  ClientConfig config;
  config.source = absl::StrCat("kubeconfig ", path, " (context ", context_name, ")");
  config.namespace_ = Scalar(context, "namespace");
  config.server = Scalar(cluster, "server");
  if (config.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig: cluster '", cluster_name, "' has no server"));
  }
  if (config.server.compare(0, 8, "https://") != 0 && config.server.compare(0, 7, "http://") != 0) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: cluster '", cluster_name,
                                                   "' server must start with https:// or http://"));
  }
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  const std::string insecure = Scalar(cluster, "insecure-skip-tls-verify");
  config.insecure_skip_tls_verify = insecure == "true";
  const std::string cluster_where = absl::StrCat("clusters[", cluster_name, "]");
  ASSIGN_OR_RETURN(config.ca_pem,
                   DataOrFile(cluster, "certificate-authority", base_dir, cluster_where));

  if (user_name.empty()) return config;  // anonymous
  ASSIGN_OR_RETURN(const YAML::Node user, FindNamed(root, "users", "user", user_name));
  const std::string user_where = absl::StrCat("users[", user_name, "]");
  for (const char* unsupported : {"exec", "auth-provider", "username"}) {
    if (user[unsupported]) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig: ", user_where, ".", unsupported,
                       " is not supported; use client certificates or a token"));
    }
  }
  ASSIGN_OR_RETURN(config.client_cert_pem,
                   DataOrFile(user, "client-certificate", base_dir, user_where));
  ASSIGN_OR_RETURN(config.client_key_pem, DataOrFile(user, "client-key", base_dir, user_where));
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig: ", user_where, " needs both client-certificate and client-key"));
  }
  config.bearer_token = Scalar(user, "token");
  const std::string token_file = Scalar(user, "tokenFile");
  if (!token_file.empty()) {
    config.token_file = Resolve(base_dir, token_file);
    RETURN_IF_ERROR(config.CurrentToken().status());  // fail early when unreadable
  }
  return config;
}

}  // namespace

absl::StatusOr<std::string> ClientConfig::CurrentToken() const {
  if (token_file.empty()) return bearer_token;
  ASSIGN_OR_RETURN(std::string token, ReadFile(token_file, "token file"));
  return std::string(StripWhitespace(token));
}

absl::StatusOr<ClientConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path, "kubeconfig"));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", e.what()));
  }
  try {
    return LoadKubeconfigYaml(root, path, context);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", e.what()));
  }
}

absl::StatusOr<ClientConfig> InClusterConfig(const EnvLookup& env, const std::string& root) {
  const std::optional<std::string> host = env("KUBERNETES_SERVICE_HOST");
  const std::optional<std::string> port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return absl::NotFoundError(
        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  int port_number = 0;
  if (!ParseInt(*port, &port_number) || port_number <= 0 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("KUBERNETES_SERVICE_PORT is not a port: ", *port));
  }
  ClientConfig config;
  config.source = "in-cluster";
  const bool ipv6 = Contains(*host, ":");
  config.server = ipv6 ? absl::StrCat("https://[", *host, "]:", port_number)
                       : absl::StrCat("https://", *host, ":", port_number);
  config.token_file = root + "/token";
  RETURN_IF_ERROR(config.CurrentToken().status());
  ASSIGN_OR_RETURN(config.ca_pem, ReadFile(root + "/ca.crt", "service account CA"));
  auto ns = ReadFile(root + "/namespace", "service account namespace");
  if (ns.ok()) config.namespace_ = std::string(StripWhitespace(*ns));
  return config;
}

absl::StatusOr<ClientConfig> InClusterConfig() {
  return InClusterConfig([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

std::optional<std::string> DefaultKubeconfigPath(const EnvLookup& env) {
  const std::optional<std::string> kubeconfig = env("KUBECONFIG");
  if (kubeconfig && !kubeconfig->empty()) {
    const std::vector<std::string_view> paths = SplitSkipEmpty(*kubeconfig, ':');
    if (!paths.empty()) return std::string(paths.front());
  }
  const std::optional<std::string> home = env("HOME");
  if (home && !home->empty()) {
    const std::string path = *home + "/.kube/config";
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return path;
  }
  return std::nullopt;
}

}  // namespace loupe::k8s
