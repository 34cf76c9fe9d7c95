#include "coordinator/grpc_services.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"

namespace reca::coordinator {
namespace {

constexpr absl::string_view kJobService = "reca.v1.JobService",
                           kWorkerService = "reca.v1.WorkerService",
                           kEvaluatorService = "reca.v1.EvaluatorService",
                           kAdminService = "reca.v1.AdminService";

template <typename Response>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                absl::StatusOr<Response> result,
                                Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) *response = std::move(*result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

// Admits the call, then replies with handle(caller).
template <typename Response, typename Handle>
grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                const AuthGate& gate, absl::string_view service,
                                Response* response, Handle handle) {
  absl::StatusOr<Caller> caller = gate.Admit(*context, service);
  if (!caller.ok())
    return Reply(context, absl::StatusOr<Response>(caller.status()), response);
  return Reply(context, handle(*caller), response);
}

// WatchJob: writes the job, then each change, one write in flight at a time;
// changes that arrive during a write are merged (latest job, all events) and
// sent next. Finishes after writing a terminal state.
class WatchReactor final
    : public grpc::ServerWriteReactor<v1::WatchJobResponse> {
 public:
  WatchReactor(JobHandler& handler, const absl::StatusOr<Caller>& caller,
               const v1::WatchJobRequest& request)
      : handler_(handler) {
    absl::StatusOr<int64_t> id =
        !caller.ok() ? absl::StatusOr<int64_t>(caller.status())
                     : handler_.HandleWatchJob(*caller, request,
        [this](const v1::WatchJobResponse& update) { OnUpdate(update); });
    absl::MutexLock lock(&mu_);
    if (!id.ok()) {
      FinishLocked(ToGrpcStatus(id.status()));
      return;
    }
    watch_id_ = *id;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                              "watch cancelled by the client"));
  }

  void OnDone() override {
    if (watch_id_ >= 0) handler_.CancelWatch(watch_id_);
    delete this;
  }

 private:
  void OnUpdate(const v1::WatchJobResponse& update) {
    absl::MutexLock lock(&mu_);
    if (finished_ || last_queued_) return;
    *pending_.mutable_job() = update.job();
    for (const v1::JobEvent& e : update.events()) *pending_.add_events() = e;
    has_pending_ = true;
    if (IsTerminal(update.job().state())) last_queued_ = true;
    if (!writing_) WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (!has_pending_) {
      if (last_queued_) FinishLocked(grpc::Status::OK);
      return;
    }
    in_flight_ = std::move(pending_);
    pending_.Clear();
    has_pending_ = false;
    writing_ = true;
    StartWrite(&in_flight_);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  JobHandler& handler_;
  int64_t watch_id_ = -1;  // set once in the constructor
  absl::Mutex mu_;
  v1::WatchJobResponse pending_ ABSL_GUARDED_BY(mu_), in_flight_
      ABSL_GUARDED_BY(mu_);
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool last_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerUnaryReactor* GrpcJobService::SubmitJob(
    grpc::CallbackServerContext* context, const v1::SubmitJobRequest* request,
    v1::SubmitJobResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleSubmitJob(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::GetJob(
    grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
    v1::GetJobResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleGetJob(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::ListJobs(
    grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
    v1::ListJobsResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleListJobs(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::CancelJob(
    grpc::CallbackServerContext* context, const v1::CancelJobRequest* request,
    v1::CancelJobResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleCancelJob(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::GetMetrics(
    grpc::CallbackServerContext* context, const v1::GetMetricsRequest* request,
    v1::GetMetricsResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleGetMetrics(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::ListCheckpoints(
    grpc::CallbackServerContext* context,
    const v1::ListCheckpointsRequest* request,
    v1::ListCheckpointsResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleListCheckpoints(caller, *request);
  });
}
grpc::ServerWriteReactor<v1::WatchJobResponse>* GrpcJobService::WatchJob(
    grpc::CallbackServerContext* context, const v1::WatchJobRequest* request) {
  return new WatchReactor(handler_, gate_.Admit(*context, kJobService),
                          *request);
}

grpc::ServerUnaryReactor* GrpcWorkerService::RegisterWorker(
    grpc::CallbackServerContext* context,
    const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  return Serve(context, gate_, kWorkerService, response, [&](const Caller&) {
    return handler_.HandleRegisterWorker(*request);
  });
}
grpc::ServerUnaryReactor* GrpcWorkerService::Heartbeat(
    grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
    v1::HeartbeatResponse* response) {
  return Serve(context, gate_, kWorkerService, response, [&](const Caller&) {
    return handler_.HandleHeartbeat(*request);
  });
}
grpc::ServerUnaryReactor* GrpcWorkerService::ReportCheckpoint(
    grpc::CallbackServerContext* context,
    const v1::ReportCheckpointRequest* request,
    v1::ReportCheckpointResponse* response) {
  return Serve(context, gate_, kWorkerService, response, [&](const Caller&) {
    return handler_.HandleReportCheckpoint(*request);
  });
}
grpc::ServerUnaryReactor* GrpcWorkerService::ReportExit(
    grpc::CallbackServerContext* context, const v1::ReportExitRequest* request,
    v1::ReportExitResponse* response) {
  return Serve(context, gate_, kWorkerService, response, [&](const Caller&) {
    return handler_.HandleReportExit(*request);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::ListEvaluations(
    grpc::CallbackServerContext* context,
    const v1::ListEvaluationsRequest* request,
    v1::ListEvaluationsResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return handler_.HandleListEvaluations(caller, *request);
  });
}

grpc::ServerUnaryReactor* GrpcJobService::SubmitSweep(
    grpc::CallbackServerContext* context, const v1::SubmitSweepRequest* request,
    v1::SubmitSweepResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return sweeps_.HandleSubmitSweep(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::GetSweep(
    grpc::CallbackServerContext* context, const v1::GetSweepRequest* request,
    v1::GetSweepResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return sweeps_.HandleGetSweep(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::ListSweeps(
    grpc::CallbackServerContext* context, const v1::ListSweepsRequest* request,
    v1::ListSweepsResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return sweeps_.HandleListSweeps(caller, *request);
  });
}
grpc::ServerUnaryReactor* GrpcJobService::CancelSweep(
    grpc::CallbackServerContext* context, const v1::CancelSweepRequest* request,
    v1::CancelSweepResponse* response) {
  return Serve(context, gate_, kJobService, response, [&](const Caller& caller) {
    return sweeps_.HandleCancelSweep(caller, *request);
  });
}

grpc::ServerUnaryReactor* GrpcEvaluatorService::ClaimEvaluation(
    grpc::CallbackServerContext* context,
    const v1::ClaimEvaluationRequest* request,
    v1::ClaimEvaluationResponse* response) {
  return Serve(context, gate_, kEvaluatorService, response, [&](const Caller&) {
    return handler_.HandleClaimEvaluation(*request);
  });
}
grpc::ServerUnaryReactor* GrpcEvaluatorService::RenewClaim(
    grpc::CallbackServerContext* context, const v1::RenewClaimRequest* request,
    v1::RenewClaimResponse* response) {
  return Serve(context, gate_, kEvaluatorService, response, [&](const Caller&) {
    return handler_.HandleRenewClaim(*request);
  });
}
grpc::ServerUnaryReactor* GrpcEvaluatorService::ReportScores(
    grpc::CallbackServerContext* context,
    const v1::ReportScoresRequest* request,
    v1::ReportScoresResponse* response) {
  return Serve(context, gate_, kEvaluatorService, response, [&](const Caller&) {
    return handler_.HandleReportScores(*request);
  });
}

grpc::ServerUnaryReactor* GrpcAdminService::CreateToken(
    grpc::CallbackServerContext* context,
    const v1::CreateTokenRequest* request, v1::CreateTokenResponse* response) {
  return Serve(context, gate_, kAdminService, response,
               [&](const Caller& caller) { return tokens_.Create(caller, *request); });
}
grpc::ServerUnaryReactor* GrpcAdminService::ListTokens(
    grpc::CallbackServerContext* context, const v1::ListTokensRequest* request,
    v1::ListTokensResponse* response) {
  return Serve(context, gate_, kAdminService, response, [&](const Caller&) {
    return absl::StatusOr<v1::ListTokensResponse>(tokens_.List(*request));
  });
}
grpc::ServerUnaryReactor* GrpcAdminService::RevokeToken(
    grpc::CallbackServerContext* context,
    const v1::RevokeTokenRequest* request, v1::RevokeTokenResponse* response) {
  return Serve(context, gate_, kAdminService, response,
               [&](const Caller&) { return tokens_.Revoke(*request); });
}

absl::StatusOr<Caller> AuthGate::Admit(const grpc::ServerContextBase& context,
                                       absl::string_view service) const {
  if (tokens_ == nullptr) return Caller::Trusted();
  absl::string_view authorization;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end())
    authorization = absl::string_view(it->second.data(), it->second.size());
  absl::StatusOr<Caller> caller = tokens_->Authenticate(authorization);
  if (caller.ok()) {
    if (absl::Status s = RequireRole(*caller, service); !s.ok()) caller = s;
  }
  if (!caller.ok() && on_denied_) on_denied_(service, caller.status().code());
  return caller;
}

}  // namespace reca::coordinator
