// `loupe status`: grpc.health.v1 check of the server, then ServerStatus in hubble's formats.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/cli/observe.h"

namespace grpc {
class Channel;
}

namespace loupe::cli {

// Dials `conn.server` (insecure) and waits up to --timeout for the connection.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ConnectionOptions& conn);

}  // namespace loupe::cli
