#include "evaluator/grpc_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"

namespace reca {
namespace {

// One unary call: a fresh context with the deadline, the status mapped.
template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Call(v1::EvaluatorService::StubInterface* stub,
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

std::unique_ptr<GrpcEvaluatorClient> GrpcEvaluatorClient::Create(
    const std::string& target, absl::Duration deadline) {
  // Reconnect within a second of the coordinator coming back (gRPC's default
  // backoff grows to 2 minutes), well inside a claim's TTL.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args);
  return std::make_unique<GrpcEvaluatorClient>(
      v1::EvaluatorService::NewStub(channel), deadline);
}

GrpcEvaluatorClient::GrpcEvaluatorClient(
    std::unique_ptr<v1::EvaluatorService::StubInterface> stub,
    absl::Duration deadline)
    : stub_(std::move(stub)), deadline_(deadline) {}

absl::StatusOr<v1::ClaimEvaluationResponse> GrpcEvaluatorClient::Claim(
    const v1::ClaimEvaluationRequest& request) {
  return Call<v1::ClaimEvaluationResponse>(
      stub_.get(), &v1::EvaluatorService::StubInterface::ClaimEvaluation,
      request, deadline_);
}

absl::StatusOr<v1::RenewClaimResponse> GrpcEvaluatorClient::Renew(
    const v1::RenewClaimRequest& request) {
  return Call<v1::RenewClaimResponse>(
      stub_.get(), &v1::EvaluatorService::StubInterface::RenewClaim, request,
      deadline_);
}

absl::StatusOr<v1::ReportScoresResponse> GrpcEvaluatorClient::Report(
    const v1::ReportScoresRequest& request) {
  return Call<v1::ReportScoresResponse>(
      stub_.get(), &v1::EvaluatorService::StubInterface::ReportScores, request,
      deadline_);
}

}  // namespace reca
