// EvaluatorCoordinatorClient over gRPC: blocking unary calls on an
// EvaluatorService stub, each with its own deadline. No retries here; the
// agent decides by code.
#ifndef RECA_EVALUATOR_GRPC_CLIENT_H_
#define RECA_EVALUATOR_GRPC_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_client.h"
#include "evaluator/coordinator_client.h"
#include "reca/v1/evaluator_service.grpc.pb.h"

namespace reca {

// Thread-safe. A call that misses its
// deadline returns DEADLINE_EXCEEDED; an unreachable coordinator UNAVAILABLE;
// any other gRPC status keeps its code and message.
class GrpcEvaluatorClient : public EvaluatorCoordinatorClient {
 public:
  // A channel to `target` ("host:port"), reconnecting within about a
  // second of the coordinator coming back, connecting lazily and replaced
  // after a call fails UNAVAILABLE (CoordinatorStub).
  static std::unique_ptr<GrpcEvaluatorClient> Create(
      const std::string& target, absl::Duration deadline,
      const ClientCredentials& credentials);

  // Over any stub (tests pass reca::v1::MockEvaluatorServiceStub).
  GrpcEvaluatorClient(std::unique_ptr<v1::EvaluatorService::StubInterface> stub,
                      absl::Duration deadline,
                        std::string token = "");

  absl::StatusOr<v1::ClaimEvaluationResponse> Claim(
      const v1::ClaimEvaluationRequest& request) override;
  absl::StatusOr<v1::RenewClaimResponse> Renew(
      const v1::RenewClaimRequest& request) override;
  absl::StatusOr<v1::ReportScoresResponse> Report(
      const v1::ReportScoresRequest& request) override;

 private:
  GrpcEvaluatorClient(const std::string& target,
                      const ClientCredentials& credentials,
                      absl::Duration deadline);

  CoordinatorStub<v1::EvaluatorService> stub_;
  absl::Duration deadline_;
  std::string token_;  // "" = none
};

}  // namespace reca

#endif  // RECA_EVALUATOR_GRPC_CLIENT_H_
