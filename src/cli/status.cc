#include "src/cli/status.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "observer/observer.grpc.pb.h"
#include "src/cli/observe_time.h"
#include "src/cli/printer.h"

namespace loupe::cli {

int RunStatus(const ConnectionOptions& conn, const std::string& output) {
  auto format = ParseOutputFormat(output);
  if (!format.ok()) {
    std::fprintf(stderr, "loupe: %s\n", std::string(format.status().message()).c_str());
    return 1;
  }
  auto channel = Connect(conn);
  if (!channel.ok()) {
    std::fprintf(stderr, "loupe: %s\n", std::string(channel.status().message()).c_str());
    return 1;
  }
  auto timeout = ParseGoDurationNs(conn.request_timeout);
  const auto deadline = [&] {
    return std::chrono::system_clock::now() +
           std::chrono::nanoseconds(timeout.ok() ? *timeout : 12'000'000'000);
  };

  auto health = grpc::health::v1::Health::NewStub(*channel);
  grpc::ClientContext hctx;
  hctx.set_deadline(deadline());
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  const grpc::Status hstatus = health->Check(&hctx, hreq, &hresp);
  if (!hstatus.ok()) {
    std::fprintf(stderr, "loupe: healthcheck (via %s) failed: %s\n", conn.server.c_str(),
                 hstatus.error_message().c_str());
    return 1;
  }
  if (hresp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    std::printf("Healthcheck (via %s): %s\n", conn.server.c_str(),
                grpc::health::v1::HealthCheckResponse::ServingStatus_Name(hresp.status()).c_str());
    return 1;
  }
  if (*format == OutputFormat::kCompact) {
    std::printf("Healthcheck (via %s): Ok\n", conn.server.c_str());
    std::fflush(stdout);
  }

  auto stub = observer::Observer::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  observer::ServerStatusRequest req;
  observer::ServerStatusResponse resp;
  const grpc::Status status = stub->ServerStatus(&ctx, req, &resp);
  if (!status.ok()) {
    std::fprintf(stderr, "loupe: ServerStatus: %s\n", status.error_message().c_str());
    return 1;
  }
  PrintServerStatus(resp, *format, std::cout);
  return 0;
}

}  // namespace loupe::cli
