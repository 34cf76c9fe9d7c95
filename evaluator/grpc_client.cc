#include "evaluator/grpc_client.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/grpc_client.h"

namespace reca {
std::unique_ptr<GrpcEvaluatorClient> GrpcEvaluatorClient::Create(
    const std::string& target, absl::Duration deadline,
    const ClientCredentials& credentials) {
  return std::unique_ptr<GrpcEvaluatorClient>(
      new GrpcEvaluatorClient(target, credentials, deadline));
}

GrpcEvaluatorClient::GrpcEvaluatorClient(const std::string& target,
                                         const ClientCredentials& credentials,
                                         absl::Duration deadline)
    : stub_(target, credentials),
      deadline_(deadline),
      token_(credentials.token) {}

GrpcEvaluatorClient::GrpcEvaluatorClient(
    std::unique_ptr<v1::EvaluatorService::StubInterface> stub,
    absl::Duration deadline, std::string token)
    : stub_(std::move(stub)), deadline_(deadline), token_(std::move(token)) {}

absl::StatusOr<v1::ClaimEvaluationResponse> GrpcEvaluatorClient::Claim(
    const v1::ClaimEvaluationRequest& request) {
  return stub_.Call<v1::ClaimEvaluationResponse>(
      &v1::EvaluatorService::StubInterface::ClaimEvaluation, request, deadline_,
      token_);
}

absl::StatusOr<v1::RenewClaimResponse> GrpcEvaluatorClient::Renew(
    const v1::RenewClaimRequest& request) {
  return stub_.Call<v1::RenewClaimResponse>(
      &v1::EvaluatorService::StubInterface::RenewClaim, request, deadline_,
      token_);
}

absl::StatusOr<v1::ReportScoresResponse> GrpcEvaluatorClient::Report(
    const v1::ReportScoresRequest& request) {
  return stub_.Call<v1::ReportScoresResponse>(
      &v1::EvaluatorService::StubInterface::ReportScores, request, deadline_,
      token_);
}

}  // namespace reca
