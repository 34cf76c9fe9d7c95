// CoordinatorClient over gRPC: blocking unary calls on a WorkerService stub,
// each with its own deadline. No retries here; the agent decides by code.
#ifndef RECA_WORKER_GRPC_COORDINATOR_CLIENT_H_
#define RECA_WORKER_GRPC_COORDINATOR_CLIENT_H_

#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_client.h"
#include "reca/v1/worker_service.grpc.pb.h"
#include "worker/coordinator_client.h"

namespace reca {

// Thread-safe. A call that misses its
// deadline returns DEADLINE_EXCEEDED; an unreachable coordinator UNAVAILABLE.
class GrpcCoordinatorClient : public CoordinatorClient {
 public:
  // A channel to `target` ("host:port"), connecting lazily and replaced
  // after a call fails UNAVAILABLE (CoordinatorStub).
  static std::unique_ptr<GrpcCoordinatorClient> Create(
      const std::string& target, absl::Duration deadline,
      const ClientCredentials& credentials);

  // Over any stub (tests pass reca::v1::MockWorkerServiceStub).
  GrpcCoordinatorClient(std::unique_ptr<v1::WorkerService::StubInterface> stub,
                        absl::Duration deadline,
                        std::string token = "");

  absl::StatusOr<v1::RegisterWorkerResponse> Register(
      const v1::RegisterWorkerRequest& request) override;
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) override;
  absl::StatusOr<v1::ReportCheckpointResponse> ReportCheckpoint(
      const v1::ReportCheckpointRequest& request) override;
  absl::StatusOr<v1::ReportExitResponse> ReportExit(
      const v1::ReportExitRequest& request) override;

 private:
  GrpcCoordinatorClient(const std::string& target,
                        const ClientCredentials& credentials,
                        absl::Duration deadline);

  CoordinatorStub<v1::WorkerService> stub_;
  absl::Duration deadline_;
  std::string token_;  // "" = none
};

}  // namespace reca

#endif  // RECA_WORKER_GRPC_COORDINATOR_CLIENT_H_
