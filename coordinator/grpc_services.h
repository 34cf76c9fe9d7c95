// The gRPC adapters (STYLE.md §2): callback-API services that turn each RPC
// into one handler call and the handler's absl::Status into the RPC status.
// Nothing else lives here.
#ifndef RECA_COORDINATOR_GRPC_SERVICES_H_
#define RECA_COORDINATOR_GRPC_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include "absl/strings/string_view.h"

#include "coordinator/auth.h"
#include "coordinator/handlers.h"
#include "reca/v1/admin_service.grpc.pb.h"
#include "reca/v1/evaluator_service.grpc.pb.h"
#include "reca/v1/job_service.grpc.pb.h"
#include "reca/v1/worker_service.grpc.pb.h"

namespace reca::coordinator {

// Admits an RPC: the caller its "authorization: Bearer <token>" metadata names
// (UNAUTHENTICATED otherwise), if its role may call `service`
// (PERMISSION_DENIED otherwise). Without a TokenStore, authentication is off
// and every caller is Caller::Trusted(). `on_denied` counts refusals.
class AuthGate {
 public:
  using DeniedCallback =
      std::function<void(absl::string_view service, absl::StatusCode code)>;
  explicit AuthGate(const TokenStore* tokens, DeniedCallback on_denied = {})
      : tokens_(tokens), on_denied_(std::move(on_denied)) {}

  absl::StatusOr<Caller> Admit(const grpc::ServerContextBase& context,
                               absl::string_view service) const;

 private:
  const TokenStore* tokens_;
  DeniedCallback on_denied_;
};

class GrpcJobService final : public v1::JobService::CallbackService {
 public:
  GrpcJobService(JobHandler& handler, SweepHandler& sweeps,
                 const AuthGate& gate)
      : handler_(handler), sweeps_(sweeps), gate_(gate) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::GetJobResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::CancelJobResponse* response) override;
  grpc::ServerUnaryReactor* GetMetrics(
      grpc::CallbackServerContext* context,
      const v1::GetMetricsRequest* request,
      v1::GetMetricsResponse* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(
      grpc::CallbackServerContext* context,
      const v1::ListCheckpointsRequest* request,
      v1::ListCheckpointsResponse* response) override;
  grpc::ServerUnaryReactor* ListEvaluations(
      grpc::CallbackServerContext* context,
      const v1::ListEvaluationsRequest* request,
      v1::ListEvaluationsResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchJobResponse>* WatchJob(
      grpc::CallbackServerContext* context,
      const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* SubmitSweep(
      grpc::CallbackServerContext* context,
      const v1::SubmitSweepRequest* request,
      v1::SubmitSweepResponse* response) override;
  grpc::ServerUnaryReactor* GetSweep(grpc::CallbackServerContext* context,
                                     const v1::GetSweepRequest* request,
                                     v1::GetSweepResponse* response) override;
  grpc::ServerUnaryReactor* ListSweeps(
      grpc::CallbackServerContext* context,
      const v1::ListSweepsRequest* request,
      v1::ListSweepsResponse* response) override;
  grpc::ServerUnaryReactor* CancelSweep(
      grpc::CallbackServerContext* context,
      const v1::CancelSweepRequest* request,
      v1::CancelSweepResponse* response) override;

 private:
  JobHandler& handler_;
  SweepHandler& sweeps_;
  const AuthGate& gate_;
};

class GrpcWorkerService final : public v1::WorkerService::CallbackService {
 public:
  GrpcWorkerService(WorkerHandler& handler, const AuthGate& gate)
      : handler_(handler), gate_(gate) {}

  grpc::ServerUnaryReactor* RegisterWorker(
      grpc::CallbackServerContext* context,
      const v1::RegisterWorkerRequest* request,
      v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ReportCheckpoint(
      grpc::CallbackServerContext* context,
      const v1::ReportCheckpointRequest* request,
      v1::ReportCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* ReportExit(
      grpc::CallbackServerContext* context,
      const v1::ReportExitRequest* request,
      v1::ReportExitResponse* response) override;

 private:
  WorkerHandler& handler_;
  const AuthGate& gate_;
};

class GrpcEvaluatorService final
    : public v1::EvaluatorService::CallbackService {
 public:
  GrpcEvaluatorService(EvaluatorHandler& handler, const AuthGate& gate)
      : handler_(handler), gate_(gate) {}

  grpc::ServerUnaryReactor* ClaimEvaluation(
      grpc::CallbackServerContext* context,
      const v1::ClaimEvaluationRequest* request,
      v1::ClaimEvaluationResponse* response) override;
  grpc::ServerUnaryReactor* RenewClaim(
      grpc::CallbackServerContext* context,
      const v1::RenewClaimRequest* request,
      v1::RenewClaimResponse* response) override;
  grpc::ServerUnaryReactor* ReportScores(
      grpc::CallbackServerContext* context,
      const v1::ReportScoresRequest* request,
      v1::ReportScoresResponse* response) override;

 private:
  EvaluatorHandler& handler_;
  const AuthGate& gate_;
};

// Token management, for admins (`recactl token ...`).
class GrpcAdminService final : public v1::AdminService::CallbackService {
 public:
  GrpcAdminService(TokenStore& tokens, const AuthGate& gate)
      : tokens_(tokens), gate_(gate) {}

  grpc::ServerUnaryReactor* CreateToken(
      grpc::CallbackServerContext* context,
      const v1::CreateTokenRequest* request,
      v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* context,
                                       const v1::ListTokensRequest* request,
                                       v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(
      grpc::CallbackServerContext* context,
      const v1::RevokeTokenRequest* request,
      v1::RevokeTokenResponse* response) override;

 private:
  TokenStore& tokens_;
  const AuthGate& gate_;
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_GRPC_SERVICES_H_
