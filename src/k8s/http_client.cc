#include "src/k8s/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "src/base/status.h"

namespace loupe::k8s {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr int kPollTimeoutMs = 1000;

void SetBlob(CURL* easy, CURLoption option, const std::string& data) {
  curl_blob blob{};
  blob.data = const_cast<char*>(data.data());
  blob.len = data.size();
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(easy, option, &blob);
}

}  // namespace

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct HttpClient::Transfer {
  CURL* easy = nullptr;
  const std::function<bool(std::string_view)>* on_body = nullptr;
  HttpResponse* response = nullptr;
  bool aborted = false;
};

HttpClient::HttpClient(ClientConfig config) : config_(std::move(config)) {
  EnsureCurlInitialized();
  easy_ = curl_easy_init();
  multi_ = curl_multi_init();
}

HttpClient::~HttpClient() {
  std::lock_guard<std::mutex> lock(wakeup_mu_);
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
  easy_ = nullptr;
  multi_ = nullptr;
}

void HttpClient::Cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(wakeup_mu_);
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void HttpClient::Reset() { cancelled_.store(false); }

size_t HttpClient::OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  HttpResponse* response = transfer->response;
  if (response->status == 0) {
    curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &response->status);
  }
  if (response->status >= 200 && response->status < 300) {
    if (!(*transfer->on_body)(std::string_view(data, bytes))) {
      transfer->aborted = true;
      return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
    }
    return bytes;
  }
  const size_t room = kMaxErrorBody - std::min(kMaxErrorBody, response->error_body.size());
  response->error_body.append(data, std::min(room, bytes));
  return bytes;
}

absl::Status HttpClient::Get(const std::string& path_and_query, const HttpRequestOptions& options,
                             const std::function<bool(std::string_view)>& on_body,
                             HttpResponse* response) {
  *response = HttpResponse{};
  if (easy_ == nullptr || multi_ == nullptr) return absl::InternalError("libcurl init failed");
  if (cancelled_.load()) return absl::CancelledError("client stopped");
  auto* easy = static_cast<CURL*>(easy_);
  auto* multi = static_cast<CURLM*>(multi_);

  ASSIGN_OR_RETURN(const std::string token, config_.CurrentToken());
  // Options are set afresh for each request; the connection cache lives in the multi handle.
  curl_easy_reset(easy);
  const std::string url = config_.server + path_and_query;
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "loupe-agent");
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  if (!config_.ca_pem.empty()) SetBlob(easy, CURLOPT_CAINFO_BLOB, config_.ca_pem);
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config_.client_cert_pem.empty()) {
    SetBlob(easy, CURLOPT_SSLCERT_BLOB, config_.client_cert_pem);
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    SetBlob(easy, CURLOPT_SSLKEY_BLOB, config_.client_key_pem);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  std::string authorization;
  if (!token.empty()) {
    authorization = absl::StrCat("Authorization: Bearer ", token);
    headers = curl_slist_append(headers, authorization.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  Transfer transfer;
  transfer.easy = easy;
  transfer.on_body = &on_body;
  transfer.response = response;
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpClient::OnWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);

  curl_multi_add_handle(multi, easy);
  CURLcode result = CURLE_OK;
  bool done = false;
  bool cancelled = false;
  while (!done) {
    if (cancelled_.load()) {
      cancelled = true;
      break;
    }
    int running = 0;
    const CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      result = CURLE_RECV_ERROR;
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) {
      done = true;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, kPollTimeoutMs, nullptr);
  }
  curl_multi_remove_handle(multi, easy);
  curl_slist_free_all(headers);
  if (response->status == 0) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response->status);
  const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result);
  // The buffer and the transfer die with this frame; curl must not keep pointers to them.
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, nullptr);

  if (cancelled) return absl::CancelledError("client stopped");
  if (result == CURLE_OK) return absl::OkStatus();
  if (transfer.aborted) return absl::AbortedError("body consumer stopped the transfer");
  if (result == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat("GET ", url, ": ", detail));
  }
  return absl::UnavailableError(absl::StrCat("GET ", url, ": ", detail));
}

}  // namespace loupe::k8s
