// Test doubles for EvaluatorAgent (STYLE.md §11): a coordinator that records
// every request and answers from a script. Processes: common/fake_process.h.
#ifndef RECA_EVALUATOR_EVALUATOR_TEST_FAKES_H_
#define RECA_EVALUATOR_EVALUATOR_TEST_FAKES_H_

#include <deque>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evaluator/coordinator_client.h"
#include "reca/v1/evaluator_service.pb.h"

namespace reca {

// Records every call. Each method answers with the next scripted result when
// there is one, else with a default: Claim "no task", Renew the fake's
// claim_ttl_millis, Report OK. `down` makes every call UNAVAILABLE without
// consuming the script.
class FakeEvaluatorClient : public EvaluatorCoordinatorClient {
 public:
  bool down = false;
  int64_t claim_ttl_millis = 30000;

  std::vector<v1::ClaimEvaluationRequest> claims;
  std::vector<v1::RenewClaimRequest> renews;
  std::vector<v1::ReportScoresRequest> reports;  // attempted
  std::vector<v1::ReportScoresRequest> delivered;

  std::deque<absl::StatusOr<v1::ClaimEvaluationResponse>> claim_script;
  std::deque<absl::Status> renew_script;
  std::deque<absl::Status> report_script;

  // The next claim hands out `task`.
  void Offer(const v1::EvalTask& task) {
    v1::ClaimEvaluationResponse r;
    *r.mutable_task() = task;
    r.set_claim_ttl_millis(claim_ttl_millis);
    claim_script.push_back(r);
  }

  absl::StatusOr<v1::ClaimEvaluationResponse> Claim(
      const v1::ClaimEvaluationRequest& request) override {
    claims.push_back(request);
    if (down) return absl::UnavailableError("coordinator down");
    if (claim_script.empty()) return v1::ClaimEvaluationResponse();
    absl::StatusOr<v1::ClaimEvaluationResponse> r = claim_script.front();
    claim_script.pop_front();
    return r;
  }

  absl::StatusOr<v1::RenewClaimResponse> Renew(
      const v1::RenewClaimRequest& request) override {
    renews.push_back(request);
    if (down) return absl::UnavailableError("coordinator down");
    if (!renew_script.empty()) {
      absl::Status s = renew_script.front();
      renew_script.pop_front();
      if (!s.ok()) return s;
    }
    v1::RenewClaimResponse r;
    r.set_claim_ttl_millis(claim_ttl_millis);
    return r;
  }

  absl::StatusOr<v1::ReportScoresResponse> Report(
      const v1::ReportScoresRequest& request) override {
    reports.push_back(request);
    if (down) return absl::UnavailableError("coordinator down");
    if (!report_script.empty()) {
      absl::Status s = report_script.front();
      report_script.pop_front();
      if (!s.ok()) return s;
    }
    delivered.push_back(request);
    return v1::ReportScoresResponse();
  }
};

}  // namespace reca

#endif  // RECA_EVALUATOR_EVALUATOR_TEST_FAKES_H_
