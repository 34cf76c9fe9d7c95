// The coordinator's core (DESIGN.md §5.2): jobs, their state machine, the
// worker registry with leases and fencing epochs, gang scheduling, the
// checkpoint registry and the metrics store, all behind the handler
// interfaces and none of it aware of gRPC.
//
// Durability: every state transition (submit, schedule, start, finish,
// cancel, checkpoint commit, worker register/loss) is one synced write batch
// of the job record, its event and whatever else the transition touches; the
// in-memory view changes only after the batch is on disk, so a write error
// fails the call (UNAVAILABLE) and leaves the state as it was. Metric points
// are written buffered (they survive a crash of the coordinator process, not
// of the machine). Lease renewals are kept in memory: after a restart every
// stored lease gets a fresh TTL, so live workers carry on and lost ones
// expire then.
//
// Thread-safety: all public methods may be called from any thread; one mutex
// guards the state (a synced write happens under it).
#ifndef RECA_COORDINATOR_COORDINATOR_H_
#define RECA_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/kv_store.h"
#include "coordinator/handlers.h"
#include "coordinator/metrics_snapshot.h"
#include "coordinator/scheduler.h"
#include "reca/path_policy.h"
#include "reca/v1/job.pb.h"
#include "reca/v1/worker_service.pb.h"

namespace reca::coordinator {

struct CoordinatorOptions {
  std::string runs_root =
      "runs/service";  // a job's output_dir is <runs_root>/<job id>
  absl::Duration lease_ttl = absl::Seconds(10);
  absl::Duration heartbeat_interval = absl::Seconds(1);
  size_t max_spec_bytes = 256 << 10;
  int max_points_per_heartbeat = 20000;
  std::string default_owner = "local";
  // SubmitJob answers RESOURCE_EXHAUSTED while the owner has this many jobs
  // not yet ended (queued or running). Zero = no limit.
  int max_unfinished_jobs_per_owner = 100;
  // The files a spec names must be inside these (reca/path_policy.h; checked
  // lexically here, on disk by the ranks); runs_root is always allowed.
  // Empty: anywhere.
  std::vector<std::string> data_roots;
  // An evaluator renews its claim within this, or the task is handed out again.
  absl::Duration eval_claim_ttl = absl::Seconds(60);
  // A RUNNING job none of whose ranks has finished a step for this long
  // (counted from its start, a restart of the coordinator, or its last step)
  // has a hung or blocked rank: the attempt fails ("stalled") and restarts.
  // Zero = off.
  absl::Duration stall_timeout = absl::Minutes(10);
  // A queued job that fits the fleet but not its free slots preempts running
  // jobs of lower priority (MaybePreempt). Off: priority only orders the queue.
  bool preempt = true;
};

struct CoordinatorDeps {
  KvStore& store;
  const Clock& clock;
};

class Coordinator : public JobHandler,
                    public WorkerHandler,
                    public EvaluatorHandler {
 public:
  // Loads every job, worker and counter from the store.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(
      CoordinatorDeps deps, CoordinatorOptions options);

  // JobHandler
  absl::StatusOr<v1::SubmitJobResponse> HandleSubmitJob(
      const Caller& caller, const v1::SubmitJobRequest& request) override;
  absl::StatusOr<v1::GetJobResponse> HandleGetJob(
      const Caller& caller, const v1::GetJobRequest& request) override;
  absl::StatusOr<v1::ListJobsResponse> HandleListJobs(
      const Caller& caller, const v1::ListJobsRequest& request) override;
  absl::StatusOr<v1::CancelJobResponse> HandleCancelJob(
      const Caller& caller, const v1::CancelJobRequest& request) override;
  absl::StatusOr<v1::GetMetricsResponse> HandleGetMetrics(
      const Caller& caller, const v1::GetMetricsRequest& request) override;
  absl::StatusOr<v1::ListCheckpointsResponse> HandleListCheckpoints(
      const Caller& caller, const v1::ListCheckpointsRequest& request) override;
  absl::StatusOr<v1::ListEvaluationsResponse> HandleListEvaluations(
      const Caller& caller, const v1::ListEvaluationsRequest& request) override;
  absl::StatusOr<int64_t> HandleWatchJob(const Caller& caller,
                                         const v1::WatchJobRequest& request,
                                         WatchCallback on_update) override;
  void CancelWatch(int64_t watch_id) override;

  // WorkerHandler
  absl::StatusOr<v1::RegisterWorkerResponse> HandleRegisterWorker(
      const v1::RegisterWorkerRequest& request) override;
  absl::StatusOr<v1::HeartbeatResponse> HandleHeartbeat(
      const v1::HeartbeatRequest& request) override;
  absl::StatusOr<v1::ReportCheckpointResponse> HandleReportCheckpoint(
      const v1::ReportCheckpointRequest& request) override;
  absl::StatusOr<v1::ReportExitResponse> HandleReportExit(
      const v1::ReportExitRequest& request) override;

  // EvaluatorHandler (eval_handlers.cc). What gets scored: a job whose
  // spec.eval.suites is not empty has its base (model.init, as step 0) scored
  // when eval.base is set, every eval.every_n_checkpoints-th committed
  // checkpoint, and its last one once it has SUCCEEDED. Tasks are rebuilt
  // from the stored checkpoints and scores on load; claims live in memory.
  absl::StatusOr<v1::ClaimEvaluationResponse> HandleClaimEvaluation(
      const v1::ClaimEvaluationRequest& request) override;
  absl::StatusOr<v1::RenewClaimResponse> HandleRenewClaim(
      const v1::RenewClaimRequest& request) override;
  absl::StatusOr<v1::ReportScoresResponse> HandleReportScores(
      const v1::ReportScoresRequest& request) override;

  // Expires lost workers' leases (failing their jobs) and evaluators' claims,
  // and places queued jobs. main() calls it a few times a second; tests call
  // it after moving the clock.
  absl::Status Tick();

  // Live workers (for tests and status pages).
  std::vector<v1::Worker> Workers() const;

  // What /metrics shows now (metrics_snapshot.cc).
  MetricsSnapshot Snapshot() const;

 private:
  struct JobEntry {
    v1::Job job;
    int64_t next_event_seq = 0;
    // When a rank last finished a step (or the job started running, or this
    // process loaded it): the stall watchdog's clock. Not persisted.
    absl::Time last_step_at = absl::InfinitePast();
  };
  struct WorkerEntry {
    v1::Worker record;
    absl::Time lease_expiry;
  };
  struct Watch {
    std::string job_id;
    WatchCallback callback;
  };
  // A checkpoint to score: (job, step); step 0 = the base.
  using EvalKey = std::pair<std::string, int64_t>;
  struct EvalTarget {
    EvalKey key;
    std::string checkpoint_path;
  };
  struct Claim {
    EvalTarget target;
    std::string evaluator_id;
    absl::Time expiry;
  };

  Coordinator(CoordinatorDeps deps, CoordinatorOptions options);
  absl::Status Load();

  int64_t NowMicros() const { return absl::ToUnixMicros(deps_.clock.Now()); }
  JobEntry* FindJob(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job `caller` asks for: NOT_FOUND, or PERMISSION_DENIED when it is
  // another user's.
  absl::StatusOr<JobEntry*> FindVisibleJob(const Caller& caller,
                                           const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<WorkerEntry*> CheckLease(const std::string& worker_id,
                                          const std::string& lease_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Writes `updated` (+ an event with `message` when not empty, + `extra`) as
  // one synced batch, then makes it the job's state and tells its watchers.
  absl::Status CommitJob(JobEntry& entry, v1::Job updated,
                         const std::string& message, WriteBatch extra = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the job's watchers without writing (progress, queue reason).
  void NotifyWatchers(const v1::Job& job,
                      const std::vector<v1::JobEvent>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A terminal state when every rank has exited (or the job failed); a
  // RESTARTING job whose ranks have all stopped is queued again.
  absl::Status MaybeFinish(JobEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The attempt failed. `reason`: Job.failure_reason's class. When a retry
  // can fix it (`retryable`) and restarts are left, the job goes RESTARTING:
  // its other ranks are stopped, then it is queued again and resumes from
  // its last committed checkpoint; otherwise it FAILED. `extra` is written
  // with the transition.
  // `worker_id`: where it failed (empty: nowhere in particular); counted in
  // Job.failures_by_worker.
  absl::Status FailJob(JobEntry& entry, v1::Job updated,
                       const std::string& failure, const std::string& reason,
                       bool retryable, const std::string& worker_id,
                       WriteBatch extra = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When `kind`'s first waiting job (its blocker) could run if active jobs
  // of lower priority gave up their slots of that kind: the fewest of them,
  // lowest priority and newest first, go RESTARTING with preempted_by set;
  // their ranks are sent SIGTERM (they checkpoint and exit), and they are
  // queued again without spending a restart.
  absl::Status MaybePreempt(const KindSummary& kind, bool gpu)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RESTARTING: queued again (or CANCELLED) once no rank holds a slot.
  absl::Status MaybeRequeue(JobEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ExpireLeases() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails the attempts of RUNNING jobs that made no step progress for
  // options_.stall_timeout.
  absl::Status FailStalledJobs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status DropWorker(const std::string& worker_id, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A full scheduling pass over the queue and the fleet.
  absl::Status ScheduleQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A job just submitted: placed, or given its queue reason.
  absl::Status PlaceSubmitted(JobEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetQueueReason(JobEntry& entry, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int PickRendezvousPort(const WorkerEntry& worker, int64_t epoch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The lowest GPU index on the worker that no slot-holding rank (nor an
  // earlier rank of `placing`) uses.
  int FreeGpuIndex(const std::string& worker_id,
                   const v1::Attempt& placing) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `rank` of `job` still holds its slot on its worker.
  static bool HoldsSlot(const v1::Job& job, int rank);
  static bool IsActive(v1::JobState state) {
    return state == v1::SCHEDULED || state == v1::RUNNING;
  }
  // Queues the job's checkpoints that should be scored and are not (nor
  // queued, nor claimed). Reads its checkpoint and score records.
  absl::Status QueueEvaluations(const v1::Job& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireClaims() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> ResolveInit(const Caller& caller,
                                          const std::string& init)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // checkpoints.cc: the job's checkpoint records, by step (retired ones too).
  absl::StatusOr<std::vector<v1::Checkpoint>> CheckpointRecords(
      const std::string& job_id) const;
  // A new attempt's resume point is the job's newest recorded
  // checkpoint (none: from the start).
  absl::Status FillResumePoint(const v1::Job& job, v1::Assignment* assignment)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An attempt could not resume from its recorded checkpoint (the one at
  // attempt.resume_step: missing, or failing verification). That record is
  // marked unusable (retired, with `why`; the next attempt's rank 0 discards
  // its directory with everything above its resume point), the job's resume
  // point becomes the newest earlier usable record (none: its base), and the
  // job goes RESTARTING without spending a restart. `updated` is the job with
  // the exit recorded.
  absl::Status FallBackFromUnusableCheckpoint(JobEntry& entry, v1::Job updated,
                                              const std::string& why,
                                              const std::string& worker_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the job's retention policy (retention.h) to its recorded
  // checkpoints: the dropped ones are retired (one synced batch with an
  // event) and queued for deletion.
  absl::Status RetireCheckpoints(JobEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retired checkpoints no worker has deleted yet (Load).
  absl::Status LoadDeletions(const std::string& job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the deletions a heartbeat reports as done.
  absl::Status AckDeletions(const v1::HeartbeatRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds deletions not handed out recently to a heartbeat's response.
  void HandOutDeletions(v1::HeartbeatResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  CoordinatorDeps deps_;
  const CoordinatorOptions options_;
  // options_.data_roots and runs_root, relative paths left to the ranks.
  const PathRoots spec_roots_;

  mutable absl::Mutex mu_;
  std::map<std::string, JobEntry> jobs_
      ABSL_GUARDED_BY(mu_);  // by id = submit order
  std::set<std::string> unfinished_
      ABSL_GUARDED_BY(mu_);  // QUEUED/SCHEDULED/RUNNING, or ranks alive
  std::map<std::string, WorkerEntry> workers_ ABSL_GUARDED_BY(mu_);
  int64_t next_job_seq_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_epoch_ ABSL_GUARDED_BY(mu_) = 1;
  // What the last full pass left per slot kind (CPU, GPU): PlaceSubmitted's
  // shortcut.
  KindSummary summary_[2] ABSL_GUARDED_BY(mu_);
  bool summary_valid_ ABSL_GUARDED_BY(mu_) = false;
  std::map<int64_t, Watch> watches_ ABSL_GUARDED_BY(mu_);
  int64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<EvalTarget> eval_queue_ ABSL_GUARDED_BY(mu_);  // to be claimed
  std::set<EvalKey> eval_pending_ ABSL_GUARDED_BY(mu_);     // queued or claimed
  std::map<std::string, Claim> claims_ ABSL_GUARDED_BY(mu_);  // by claim id
  int64_t next_claim_ ABSL_GUARDED_BY(mu_) = 1;
  // Step durations per (job, rank) of active jobs, from their "step_s"
  // points; dropped when the job ends (its series leave /metrics).
  std::map<std::pair<std::string, int>, StepHistogram> step_seconds_
      ABSL_GUARDED_BY(mu_);
  int64_t eval_scores_recorded_ ABSL_GUARDED_BY(mu_) = 0;  // since start
  // Retired checkpoints to delete, by (job, step): handed to one heartbeating
  // worker at a time, again after `handed_until` until acknowledged.
  struct Deletion {
    std::string path;
    absl::Time handed_until;
  };
  std::map<EvalKey, Deletion> deletions_ ABSL_GUARDED_BY(mu_);
  const absl::Time started_;  // when this coordinator process loaded its state
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_COORDINATOR_H_
