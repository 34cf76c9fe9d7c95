#include "worker/grpc_coordinator_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/status.h>

#include <utility>

#include "common/grpc_status.h"

namespace reca {
namespace {

// One unary call: a fresh context with the deadline, the status mapped.
template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Call(v1::WorkerService::StubInterface* stub,
                              Method method, const Request& request,
                              absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  Response response;
  const grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

std::unique_ptr<GrpcCoordinatorClient> GrpcCoordinatorClient::Create(
    const std::string& target, absl::Duration deadline) {
  // Reconnect within a second of the coordinator coming back (gRPC's default
  // backoff grows to 2 minutes), well inside a lease TTL.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args);
  return std::make_unique<GrpcCoordinatorClient>(
      v1::WorkerService::NewStub(channel), deadline);
}

GrpcCoordinatorClient::GrpcCoordinatorClient(
    std::unique_ptr<v1::WorkerService::StubInterface> stub,
    absl::Duration deadline)
    : stub_(std::move(stub)), deadline_(deadline) {}

absl::StatusOr<v1::RegisterWorkerResponse> GrpcCoordinatorClient::Register(
    const v1::RegisterWorkerRequest& request) {
  return Call<v1::RegisterWorkerResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::RegisterWorker, request,
      deadline_);
}

absl::StatusOr<v1::HeartbeatResponse> GrpcCoordinatorClient::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return Call<v1::HeartbeatResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::Heartbeat, request,
      deadline_);
}

absl::StatusOr<v1::ReportCheckpointResponse>
GrpcCoordinatorClient::ReportCheckpoint(
    const v1::ReportCheckpointRequest& request) {
  return Call<v1::ReportCheckpointResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::ReportCheckpoint, request,
      deadline_);
}

absl::StatusOr<v1::ReportExitResponse> GrpcCoordinatorClient::ReportExit(
    const v1::ReportExitRequest& request) {
  return Call<v1::ReportExitResponse>(
      stub_.get(), &v1::WorkerService::StubInterface::ReportExit, request,
      deadline_);
}

}  // namespace reca
