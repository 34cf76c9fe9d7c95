#include "worker/grpc_coordinator_client.h"

#include <utility>

#include "common/grpc_client.h"

namespace reca {
std::unique_ptr<GrpcCoordinatorClient> GrpcCoordinatorClient::Create(
    const std::string& target, absl::Duration deadline,
    const ClientCredentials& credentials) {
  return std::unique_ptr<GrpcCoordinatorClient>(
      new GrpcCoordinatorClient(target, credentials, deadline));
}

GrpcCoordinatorClient::GrpcCoordinatorClient(
    const std::string& target, const ClientCredentials& credentials,
    absl::Duration deadline)
    : stub_(target, credentials),
      deadline_(deadline),
      token_(credentials.token) {}

GrpcCoordinatorClient::GrpcCoordinatorClient(
    std::unique_ptr<v1::WorkerService::StubInterface> stub,
    absl::Duration deadline, std::string token)
    : stub_(std::move(stub)), deadline_(deadline), token_(std::move(token)) {}

absl::StatusOr<v1::RegisterWorkerResponse> GrpcCoordinatorClient::Register(
    const v1::RegisterWorkerRequest& request) {
  return stub_.Call<v1::RegisterWorkerResponse>(
      &v1::WorkerService::StubInterface::RegisterWorker, request, deadline_,
      token_);
}

absl::StatusOr<v1::HeartbeatResponse> GrpcCoordinatorClient::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return stub_.Call<v1::HeartbeatResponse>(
      &v1::WorkerService::StubInterface::Heartbeat, request, deadline_, token_);
}

absl::StatusOr<v1::ReportCheckpointResponse>
GrpcCoordinatorClient::ReportCheckpoint(
    const v1::ReportCheckpointRequest& request) {
  return stub_.Call<v1::ReportCheckpointResponse>(
      &v1::WorkerService::StubInterface::ReportCheckpoint, request, deadline_,
      token_);
}

absl::StatusOr<v1::ReportExitResponse> GrpcCoordinatorClient::ReportExit(
    const v1::ReportExitRequest& request) {
  return stub_.Call<v1::ReportExitResponse>(
      &v1::WorkerService::StubInterface::ReportExit, request, deadline_,
      token_);
}

}  // namespace reca
