// The coordinator's handler interfaces (STYLE.md §2): the gRPC adapters in
// grpc_services.h turn each RPC into one call here, and Coordinator
// (coordinator.h) implements them without including gRPC. Every method is
// thread-safe; an error's code becomes the RPC's status code.
#ifndef RECA_COORDINATOR_HANDLERS_H_
#define RECA_COORDINATOR_HANDLERS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "reca/v1/admin_service.pb.h"
#include "reca/v1/evaluator_service.pb.h"
#include "reca/v1/job_service.pb.h"
#include "reca/v1/worker_service.pb.h"

namespace reca::coordinator {

// A job in this state has ended for good.
inline bool IsTerminal(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED ||
         state == v1::CANCELLED;
}

// The authenticated caller of an RPC. With authentication off (the
// --insecure_no_auth flag, and the unit tests) it is Caller::Trusted(): an
// admin without a name, so a job's owner is whatever the request says.
struct Caller {
  std::string name;
  v1::Role role = v1::ROLE_UNSPECIFIED;

  static Caller Trusted() { return {"", v1::ROLE_ADMIN}; }
  bool admin() const { return role == v1::ROLE_ADMIN; }
  // Whether this caller may see and cancel a job of `owner`.
  bool Owns(const std::string& owner) const { return admin() || owner == name; }
};

// JobService: `caller` is a user (its own jobs only) or an admin (any job).
class JobHandler {
 public:
  virtual ~JobHandler() = default;
  virtual absl::StatusOr<v1::SubmitJobResponse> HandleSubmitJob(
      const Caller& caller, const v1::SubmitJobRequest& request) = 0;
  virtual absl::StatusOr<v1::GetJobResponse> HandleGetJob(
      const Caller& caller, const v1::GetJobRequest& request) = 0;
  virtual absl::StatusOr<v1::ListJobsResponse> HandleListJobs(
      const Caller& caller, const v1::ListJobsRequest& request) = 0;
  virtual absl::StatusOr<v1::CancelJobResponse> HandleCancelJob(
      const Caller& caller, const v1::CancelJobRequest& request) = 0;
  virtual absl::StatusOr<v1::GetMetricsResponse> HandleGetMetrics(
      const Caller& caller, const v1::GetMetricsRequest& request) = 0;
  virtual absl::StatusOr<v1::ListCheckpointsResponse> HandleListCheckpoints(
      const Caller& caller, const v1::ListCheckpointsRequest& request) = 0;
  virtual absl::StatusOr<v1::ListEvaluationsResponse> HandleListEvaluations(
      const Caller& caller, const v1::ListEvaluationsRequest& request) = 0;

  // WatchJob: `on_update` is called at once with the job as it is, then after
  // every change of it, until CancelWatch(id) returns. It runs with the
  // handler's lock held, so it must not block and must not call the handler.
  using WatchCallback = std::function<void(const v1::WatchJobResponse&)>;
  virtual absl::StatusOr<int64_t> HandleWatchJob(
      const Caller& caller, const v1::WatchJobRequest& request, WatchCallback on_update) = 0;
  virtual void CancelWatch(int64_t watch_id) = 0;
};

// JobService's sweeps (sweeps.h): owned like jobs.
class SweepHandler {
 public:
  virtual ~SweepHandler() = default;
  virtual absl::StatusOr<v1::SubmitSweepResponse> HandleSubmitSweep(
      const Caller& caller, const v1::SubmitSweepRequest& request) = 0;
  virtual absl::StatusOr<v1::GetSweepResponse> HandleGetSweep(
      const Caller& caller, const v1::GetSweepRequest& request) = 0;
  virtual absl::StatusOr<v1::ListSweepsResponse> HandleListSweeps(
      const Caller& caller, const v1::ListSweepsRequest& request) = 0;
  virtual absl::StatusOr<v1::CancelSweepResponse> HandleCancelSweep(
      const Caller& caller, const v1::CancelSweepRequest& request) = 0;
};

class WorkerHandler {
 public:
  virtual ~WorkerHandler() = default;
  virtual absl::StatusOr<v1::RegisterWorkerResponse> HandleRegisterWorker(
      const v1::RegisterWorkerRequest& request) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> HandleHeartbeat(
      const v1::HeartbeatRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportCheckpointResponse> HandleReportCheckpoint(
      const v1::ReportCheckpointRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportExitResponse> HandleReportExit(
      const v1::ReportExitRequest& request) = 0;
};

class EvaluatorHandler {
 public:
  virtual ~EvaluatorHandler() = default;
  virtual absl::StatusOr<v1::ClaimEvaluationResponse> HandleClaimEvaluation(
      const v1::ClaimEvaluationRequest& request) = 0;
  virtual absl::StatusOr<v1::RenewClaimResponse> HandleRenewClaim(
      const v1::RenewClaimRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportScoresResponse> HandleReportScores(
      const v1::ReportScoresRequest& request) = 0;
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_HANDLERS_H_
