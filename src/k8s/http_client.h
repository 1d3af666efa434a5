// A blocking HTTPS GET client for the Kubernetes API on libcurl: server CA, client certificate,
// bearer token, connect and total timeouts, and a streamed body. One client serves one informer
// thread (it keeps its connection alive between requests); Cancel() may be called from any thread
// and makes a running Get return promptly (curl_multi_poll + curl_multi_wakeup).
//
// Thread expectations: Get from one thread at a time; Cancel/Reset from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/k8s/client_config.h"

namespace loupe::k8s {

struct HttpResponse {
  long status = 0;         // HTTP status; 0 when none was received
  std::string error_body;  // body of a non-2xx answer (first 64 KiB)
};

struct HttpRequestOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{60'000};  // 0 = none
};

class HttpClient {
 public:
  explicit HttpClient(ClientConfig config);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GETs server + `path_and_query`. A 2xx body is handed to `on_body` as it arrives; returning
  // false from it aborts the transfer (Get then returns Aborted). Transport failures (connect,
  // TLS, timeout, connection reset, cancelled) are errors: Unavailable, DeadlineExceeded,
  // Cancelled. A completed non-2xx answer is OK with response->status set.
  absl::Status Get(const std::string& path_and_query, const HttpRequestOptions& options,
                   const std::function<bool(std::string_view)>& on_body, HttpResponse* response);

  // Makes a running Get return Cancelled, and every later one until Reset().
  void Cancel();
  void Reset();
  bool cancelled() const { return cancelled_.load(); }

  const ClientConfig& config() const { return config_; }

 private:
  struct Transfer;
  static size_t OnWrite(char* data, size_t size, size_t count, void* user);

  ClientConfig config_;
  void* easy_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM*
  std::mutex wakeup_mu_;   // guards multi_ for curl_multi_wakeup against destruction
  std::atomic<bool> cancelled_{false};
};

// Initialises libcurl once per process (curl_global_init is not thread-safe on older libcurl).
void EnsureCurlInitialized();

}  // namespace loupe::k8s
