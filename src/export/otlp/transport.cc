#include "src/export/otlp/transport.h"

#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include <mutex>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "src/base/read_file.h"
#include "src/base/strings.h"

namespace loupe::otlp {
namespace {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse;
using opentelemetry::proto::collector::metrics::v1::MetricsService;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(const std::shared_ptr<grpc::Channel>& channel, Headers headers,
                std::chrono::milliseconds timeout)
      : trace_stub_(TraceService::NewStub(channel)),
        metrics_stub_(MetricsService::NewStub(channel)),
        headers_(std::move(headers)),
        timeout_(timeout) {
    // gRPC metadata keys are lower case.
    for (auto& [key, value] : headers_) key = AsciiLower(key);
  }

  SendResult Send(const TraceRequest& request) override {
    grpc::ClientContext context;
    Prepare(&context);
    ExportTraceServiceResponse response;
    return Result(trace_stub_->Export(&context, request, &response), request.ByteSizeLong());
  }

  SendResult Send(const MetricsRequest& request) override {
    grpc::ClientContext context;
    Prepare(&context);
    ExportMetricsServiceResponse response;
    return Result(metrics_stub_->Export(&context, request, &response), request.ByteSizeLong());
  }

 private:
  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() + timeout_);
    for (const auto& [key, value] : headers_) context->AddMetadata(key, value);
  }

  static SendResult Result(const grpc::Status& status, size_t bytes) {
    SendResult r;
    r.bytes = bytes;
    r.outcome = ClassifyGrpcStatus(status.error_code());
    if (!status.ok()) {
      r.detail =
          "gRPC status " + std::to_string(status.error_code()) + ": " + status.error_message();
    }
    return r;
  }

  std::unique_ptr<TraceService::Stub> trace_stub_;
  std::unique_ptr<MetricsService::Stub> metrics_stub_;
  Headers headers_;
  std::chrono::milliseconds timeout_;
};

size_t DiscardBody(char* /*data*/, size_t size, size_t nmemb, void* /*user*/) {
  return size * nmemb;
}

size_t ReadRetryAfter(char* data, size_t size, size_t nmemb, void* user) {
  const std::string_view line(data, size * nmemb);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && AsciiLower(line.substr(0, kName.size())) == kName) {
    const std::string value(StripWhitespace(line.substr(kName.size())));
    char* end = nullptr;
    const long seconds = std::strtol(value.c_str(), &end, 10);
    if (end != value.c_str() && seconds > 0 && seconds < 3600) {
      *static_cast<long*>(user) = seconds;
    }
  }
  return size * nmemb;
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(std::string url, const EndpointOptions& options)
      : url_(std::move(url)), options_(options) {
    static std::once_flag init;
    std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    headers_ = curl_slist_append(headers_, "Content-Type: application/x-protobuf");
    for (const auto& [key, value] : options.headers) {
      std::string line = key;
      line += ": ";
      line += value;
      headers_ = curl_slist_append(headers_, line.c_str());
    }
  }
  ~HttpTransport() override {
    curl_slist_free_all(headers_);
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  SendResult Send(const TraceRequest& request) override { return Post(request); }
  SendResult Send(const MetricsRequest& request) override { return Post(request); }

 private:
  SendResult Post(const google::protobuf::MessageLite& request) {
    SendResult r;
    if (curl_ == nullptr) {
      r.detail = "curl_easy_init failed";
      return r;
    }
    request.SerializeToString(&body_);
    r.bytes = body_.size();
    long retry_after = 0;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body_.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, DiscardBody);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, ReadRetryAfter);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &retry_after);
    // Never follow a proxy from the environment: the collector address is what was configured.
    curl_easy_setopt(curl_, CURLOPT_PROXY, "");
    if (!options_.ca_file.empty())
      curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (options_.insecure) {
      curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const CURLcode code = curl_easy_perform(curl_);
    if (code != CURLE_OK) {
      // Connection refused, resets, timeouts: the collector may come back.
      r.outcome = SendResult::Outcome::kRetryable;
      r.detail = std::string("HTTP transport: ") + curl_easy_strerror(code);
      return r;
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    r.outcome = ClassifyHttpStatus(status);
    if (r.outcome != SendResult::Outcome::kOk) r.detail = "HTTP " + std::to_string(status);
    r.retry_after = std::chrono::seconds(retry_after);
    return r;
  }

  std::string url_;
  EndpointOptions options_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string body_;
};

}  // namespace

SendResult::Outcome ClassifyHttpStatus(long status) {
  if (status >= 200 && status < 300) return SendResult::Outcome::kOk;
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    return SendResult::Outcome::kRetryable;
  }
  return SendResult::Outcome::kFailed;
}

SendResult::Outcome ClassifyGrpcStatus(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK:
      return SendResult::Outcome::kOk;
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return SendResult::Outcome::kRetryable;
    default:
      return SendResult::Outcome::kFailed;
  }
}

absl::StatusOr<std::unique_ptr<Transport>> MakeTransport(const EndpointOptions& options,
                                                         Signal signal) {
  auto resolved = ResolveEndpoint(options, signal);
  if (!resolved.ok()) return resolved.status();
  if (resolved->protocol == Protocol::kHttpProtobuf) {
    return std::unique_ptr<Transport>(std::make_unique<HttpTransport>(resolved->target, options));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (resolved->tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto pem = ReadWholeFile(options.ca_file, "CA file");
      if (!pem.ok()) return pem.status();
      ssl.pem_root_certs = *pem;
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  // Reconnect quickly after a collector restart (the default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  auto channel = grpc::CreateCustomChannel(resolved->target, credentials, args);
  return std::unique_ptr<Transport>(
      std::make_unique<GrpcTransport>(channel, options.headers, options.timeout));
}

}  // namespace loupe::otlp
