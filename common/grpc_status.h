// absl::Status <-> grpc::Status: the canonical codes share their numbering,
// so a handler's code is the RPC's code and a client sees the server's.
#ifndef RECA_COMMON_GRPC_STATUS_H_
#define RECA_COMMON_GRPC_STATUS_H_

#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace reca {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace reca

#endif  // RECA_COMMON_GRPC_STATUS_H_
