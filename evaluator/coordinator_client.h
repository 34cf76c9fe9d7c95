// The evaluator daemon's view of the coordinator's EvaluatorService
// (DESIGN.md §5.4): one call per RPC, proto messages in and out, gRPC kept
// out of the interface so that EvaluatorAgent is tested against a fake.
#ifndef RECA_EVALUATOR_COORDINATOR_CLIENT_H_
#define RECA_EVALUATOR_COORDINATOR_CLIENT_H_

#include "absl/status/statusor.h"
#include "reca/v1/evaluator_service.pb.h"

namespace reca {

// Implementations are used from one thread at a time (the agent's loop).
// Every call returns the RPC's status code unchanged: UNAVAILABLE and
// DEADLINE_EXCEEDED mean "try again", NOT_FOUND from Renew means the claim
// expired (the task may already be someone else's).
class EvaluatorCoordinatorClient {
 public:
  virtual ~EvaluatorCoordinatorClient() = default;

  virtual absl::StatusOr<v1::ClaimEvaluationResponse> Claim(
      const v1::ClaimEvaluationRequest& request) = 0;
  virtual absl::StatusOr<v1::RenewClaimResponse> Renew(
      const v1::RenewClaimRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportScoresResponse> Report(
      const v1::ReportScoresRequest& request) = 0;
};

}  // namespace reca

#endif  // RECA_EVALUATOR_COORDINATOR_CLIENT_H_
