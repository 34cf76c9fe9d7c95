#include "worker/grpc_coordinator_client.h"

#include <utility>

#include "common/grpc_client.h"

namespace reca {
std::unique_ptr<GrpcCoordinatorClient> GrpcCoordinatorClient::Create(
    const std::string& target, absl::Duration deadline,
    const ClientCredentials& credentials) {
  auto channel = CoordinatorChannel(target, credentials);
  return std::make_unique<GrpcCoordinatorClient>(
      v1::WorkerService::NewStub(channel), deadline, credentials.token);
}

GrpcCoordinatorClient::GrpcCoordinatorClient(
    std::unique_ptr<v1::WorkerService::StubInterface> stub,
    absl::Duration deadline, std::string token)
    : stub_(std::move(stub)), deadline_(deadline), token_(std::move(token)) {}

absl::StatusOr<v1::RegisterWorkerResponse> GrpcCoordinatorClient::Register(
    const v1::RegisterWorkerRequest& request) {
  return UnaryCall<v1::RegisterWorkerResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::RegisterWorker, request,
      deadline_, token_);
}

absl::StatusOr<v1::HeartbeatResponse> GrpcCoordinatorClient::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return UnaryCall<v1::HeartbeatResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::Heartbeat, request,
      deadline_, token_);
}

absl::StatusOr<v1::ReportCheckpointResponse>
GrpcCoordinatorClient::ReportCheckpoint(
    const v1::ReportCheckpointRequest& request) {
  return UnaryCall<v1::ReportCheckpointResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::ReportCheckpoint, request,
      deadline_, token_);
}

absl::StatusOr<v1::ReportExitResponse> GrpcCoordinatorClient::ReportExit(
    const v1::ReportExitRequest& request) {
  return UnaryCall<v1::ReportExitResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::ReportExit, request,
      deadline_, token_);
}

}  // namespace reca
