// How to reach and authenticate to a Kubernetes API server: from a kubeconfig file or from the
// in-cluster service account. Credentials are read into memory at load time, except a token file,
// which is re-read before every request (projected service-account tokens rotate).
//
// Thread expectations: plain values.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace loupe::k8s {

struct ClientConfig {
  std::string server;  // "https://host:port" (no trailing slash)
  std::string ca_pem;  // CA bundle to verify the server; empty → the system CAs
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string bearer_token;
  std::string token_file;  // when set, the token is read from here for each request
  bool insecure_skip_tls_verify = false;
  std::string namespace_;  // the context's namespace (kubeconfig) or the pod's (in-cluster)
  std::string source;      // for status output: "kubeconfig <path> (context <name>)", "in-cluster"

  // The bearer token to send now: token_file's content (trimmed) when set, else bearer_token.
  absl::StatusOr<std::string> CurrentToken() const;
};

// Loads `path`. `context` empty → current-context. Supports server, certificate-authority(-data),
// insecure-skip-tls-verify, client-certificate(-data), client-key(-data), token, tokenFile and the
// context namespace; relative file paths resolve against the kubeconfig's directory. Errors
// (InvalidArgument / NotFound) name the key: missing context, cluster or user; unsupported auth
// (exec plugins, auth-provider, basic auth); unreadable files; bad base64.
absl::StatusOr<ClientConfig> LoadKubeconfig(const std::string& path,
                                            const std::string& context = "");

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The in-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with
// <root>/token, <root>/ca.crt and <root>/namespace. `root` is injectable for tests.
inline constexpr char kServiceAccountRoot[] = "/var/run/secrets/kubernetes.io/serviceaccount";
absl::StatusOr<ClientConfig> InClusterConfig(const EnvLookup& env,
                                             const std::string& root = kServiceAccountRoot);
// Same, with the process environment.
absl::StatusOr<ClientConfig> InClusterConfig();

// The kubeconfig to use when none is configured: $KUBECONFIG (first path), else ~/.kube/config
// when it exists; nullopt when neither applies.
std::optional<std::string> DefaultKubeconfigPath(const EnvLookup& env);

}  // namespace loupe::k8s
