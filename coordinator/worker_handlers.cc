// Coordinator: the WorkerService handlers (leases, progress, assignments,
// checkpoints, exits).
#include <algorithm>
#include <csignal>
#include <iostream>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/failpoint.h"
#include "coordinator/coordinator.h"
#include "coordinator/keys.h"
#include "reca/status.h"

namespace reca::coordinator {
namespace {

bool Contains(const google::protobuf::RepeatedField<int32_t>& ranks, int rank) {
  return std::find(ranks.begin(), ranks.end(), rank) != ranks.end();
}

// Job.failure_reason of an exit cause.
std::string CauseReason(v1::ExitCause cause) {
  switch (cause) {
    case v1::EXIT_CAUSE_ERROR:
      return "error";
    case v1::EXIT_CAUSE_SIGNAL:
      return "signal";
    case v1::EXIT_CAUSE_OUT_OF_MEMORY:
      return "out_of_memory";
    case v1::EXIT_CAUSE_LAUNCH_FAILED:
      return "launch_failed";
    case v1::EXIT_CAUSE_INVALID_JOB:
      return "invalid_job";
    case v1::EXIT_CAUSE_CHECKPOINT_UNREADABLE:
      return "checkpoint_unreadable";
    default:
      return "unknown";
  }
}

std::string CauseText(const v1::ReportExitRequest& r) {
  switch (r.cause()) {
    case v1::EXIT_CAUSE_SUCCESS:
      return "exited 0";
    case v1::EXIT_CAUSE_ERROR:
      return absl::StrCat("error (exit ", r.exit_code(), ")");
    case v1::EXIT_CAUSE_SIGNAL:
      return absl::StrCat("killed by signal ", r.signal());
    case v1::EXIT_CAUSE_OUT_OF_MEMORY:
      return "out of memory";
    case v1::EXIT_CAUSE_LAUNCH_FAILED:
      return "could not start";
    case v1::EXIT_CAUSE_INVALID_JOB:
      return absl::StrCat("rejected the job (exit ", r.exit_code(), ")");
    case v1::EXIT_CAUSE_CHECKPOINT_UNREADABLE:
      return "cannot resume from its checkpoint";
    default:
      return "unknown exit";
  }
}

absl::Status CheckEpoch(const v1::Job& job, int64_t epoch) {
  if (epoch != job.attempt().epoch()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id(), ": stale epoch ", epoch, " (current ",
                     job.attempt().epoch(), "); report rejected"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::RegisterWorkerResponse> Coordinator::HandleRegisterWorker(
    const v1::RegisterWorkerRequest& request) {
  if (request.worker_id().empty() || request.worker_id().size() > 128 ||
      request.worker_id().find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        "worker_id: must be 1-128 bytes without '/'");
  }
  if (request.cpu_slots() < 0 || request.gpu_slots() < 0 ||
      request.cpu_slots() + request.gpu_slots() == 0) {
    return absl::InvalidArgumentError(
        "cpu_slots, gpu_slots: must be >= 0 and not both 0");
  }
  if (request.rendezvous_port_min() < 1024 ||
      request.rendezvous_port_max() > 65535 ||
      request.rendezvous_port_min() > request.rendezvous_port_max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous_port_min/max: need 1024 <= min <= max <= 65535 (got ",
        request.rendezvous_port_min(), "-", request.rendezvous_port_max(),
        ")"));
  }
  if (request.address().empty())
    return absl::InvalidArgumentError("address: empty");

  absl::MutexLock lock(&mu_);
  if (workers_.count(request.worker_id())) {
    // A restarted worker (or one that lost its lease): its old ranks are gone.
    RECA_RETURN_IF_ERROR(DropWorker(
        request.worker_id(), absl::StrCat("worker ", request.worker_id(),
                                          " re-registered (restarted)")));
  }
  const int64_t epoch = next_epoch_;
  v1::Worker record;
  record.set_id(request.worker_id());
  record.set_address(request.address());
  record.set_cpu_slots(request.cpu_slots());
  record.set_gpu_slots(request.gpu_slots());
  record.set_rendezvous_port_min(request.rendezvous_port_min());
  record.set_rendezvous_port_max(request.rendezvous_port_max());
  record.set_lease_id(absl::StrFormat("%s-%d", request.worker_id(), epoch));
  record.set_epoch(epoch);
  record.set_register_unix_micros(NowMicros());
  WriteBatch batch;
  batch.Put(keys::Worker(record.id()), record.SerializeAsString());
  batch.Put(keys::kNextEpoch, std::to_string(epoch + 1));
  RECA_RETURN_IF_ERROR(deps_.store.Write(batch));
  next_epoch_ = epoch + 1;
  std::cerr << "coordinator: worker " << record.id() << " registered ("
            << record.cpu_slots() << " cpu, " << record.gpu_slots()
            << " gpu slots, lease " << record.lease_id() << ")\n";
  WorkerEntry& entry = workers_[record.id()];
  entry.record = record;
  entry.lease_expiry = deps_.clock.Now() + options_.lease_ttl;
  RECA_RETURN_IF_ERROR(ScheduleQueued());

  v1::RegisterWorkerResponse response;
  response.set_lease_id(record.lease_id());
  response.set_epoch(epoch);
  response.set_lease_ttl_millis(absl::ToInt64Milliseconds(options_.lease_ttl));
  response.set_heartbeat_interval_millis(
      absl::ToInt64Milliseconds(options_.heartbeat_interval));
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::HandleHeartbeat(
    const v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(WorkerEntry * worker,
                        CheckLease(request.worker_id(), request.lease_id()));
  worker->lease_expiry = deps_.clock.Now() + options_.lease_ttl;
  const int64_t now = NowMicros();

  v1::HeartbeatResponse response;
  response.set_lease_ttl_millis(absl::ToInt64Milliseconds(options_.lease_ttl));
  std::set<std::pair<std::string, int>> reported;
  std::set<std::string> started_changed, progressed;
  WriteBatch points;
  points.set_sync(false);
  int points_left = options_.max_points_per_heartbeat;
  // Stores the metric points of `rs` up to step `max_step`.
  auto store_points = [&](const v1::Job& job, const v1::RankStatus& rs,
                         int64_t max_step) {
    for (const v1::MetricPoint& p : rs.points()) {
      if (points_left-- <= 0) break;
      if (p.name().empty() || p.name().size() > 200 || p.step() > max_step)
        continue;
      v1::MetricPoint stored = p;
      stored.set_rank(rs.rank());
      if (stored.unix_micros() == 0) stored.set_unix_micros(now);
      points.Put(keys::Metric(job.id(), p.name(), rs.rank(), p.step()),
                 stored.SerializeAsString());
      if (p.name() == "step_s" && IsActive(job.state()) &&
          rs.epoch() == job.attempt().epoch())
        step_seconds_[{job.id(), rs.rank()}].Observe(p.value(),
                                                     kStepSecondsBuckets);
    }
  };
  auto cancel = [&](const v1::RankStatus& rs, std::string reason) {
    v1::Cancellation* c = response.add_cancellations();
    c->set_job_id(rs.job_id());
    c->set_epoch(rs.epoch());
    c->set_reason(std::move(reason));
  };

  for (const v1::RankStatus& rs : request.ranks()) {
    reported.insert({rs.job_id(), rs.rank()});
    JobEntry* entry = FindJob(rs.job_id());
    if (entry == nullptr) {
      cancel(rs, "unknown job");
      continue;
    }
    v1::Job& job = entry->job;
    if (rs.epoch() != job.attempt().epoch()) {
      // A stopped attempt's last lines can arrive after the next attempt was
      // placed. Its steps up to the checkpoint the next attempt resumes from
      // are never re-run, so their points are kept; its later steps are
      // re-run and reported by the next attempt.
      if (rs.epoch() < job.attempt().epoch() && rs.rank() >= 0 &&
          rs.rank() < job.attempt().placements_size())
        store_points(job, rs, job.attempt().resume_step());
      cancel(rs, absl::StrCat("stale epoch ", rs.epoch(), " (current ",
                              job.attempt().epoch(), ")"));
      continue;
    }
    if (rs.rank() < 0 || rs.rank() >= job.attempt().placements_size() ||
        job.attempt().placements(rs.rank()).worker_id() !=
            request.worker_id()) {
      cancel(rs, absl::StrCat("rank ", rs.rank(), " is not placed on ",
                              request.worker_id()));
      continue;
    }
    if (rs.running() && !Contains(job.attempt().started_ranks(), rs.rank()) &&
        !Contains(job.attempt().exited_ranks(), rs.rank())) {
      // In memory now; written below (active jobs) or kept for slot
      // accounting only (a finished job's rank that started late).
      job.mutable_attempt()->add_started_ranks(rs.rank());
      if (IsActive(job.state())) {
        started_changed.insert(job.id());
      } else {
        unfinished_.insert(job.id());  // it holds a slot until it has exited
      }
    }
    if (rs.has_progress()) {
      v1::RankProgress progress = rs.progress();
      progress.set_rank(rs.rank());
      progress.set_update_unix_micros(now);
      while (job.progress_size() <= rs.rank())
        job.add_progress()->set_rank(job.progress_size() - 1);
      v1::RankProgress& current = *job.mutable_progress(rs.rank());
      const bool moved = current.step() != progress.step() ||
                         current.loss() != progress.loss();
      if (progress.step() != current.step())
        entry->last_step_at = deps_.clock.Now();  // the stall watchdog
      current = progress;
      if (moved && IsActive(job.state()))
        progressed.insert(job.id());  // watchers see real changes only
    }
    store_points(job, rs, std::numeric_limits<int64_t>::max());
    // Progress and points of the current attempt are recorded even after the
    // job ended: a rank's last lines often arrive after its exit report.
    if ((!IsActive(job.state()) || job.cancel_requested()) && rs.running()) {
      cancel(rs, job.cancel_requested()      ? "job cancelled"
                 : !job.preempted_by().empty() ? "preempted by " + job.preempted_by()
                                               : "job " + v1::JobState_Name(job.state()));
    }
  }
  if (!points.empty()) RECA_RETURN_IF_ERROR(deps_.store.Write(points));

  for (const std::string& id : started_changed) {
    JobEntry& entry = jobs_.at(id);
    v1::Job updated = entry.job;
    std::string message;
    if (updated.state() == v1::SCHEDULED &&
        updated.attempt().started_ranks_size() ==
            updated.attempt().placements_size()) {
      entry.last_step_at = deps_.clock.Now();  // the stall watchdog starts
      updated.set_state(v1::RUNNING);
      updated.set_start_unix_micros(now);
      message =
          absl::StrCat("running: all ", updated.attempt().placements_size(),
                       " ranks started");
    }
    RECA_RETURN_IF_ERROR(CommitJob(entry, std::move(updated), message));
    progressed.erase(id);
  }
  for (const std::string& id : progressed) {
    JobEntry& entry = jobs_.at(id);
    entry.job.set_version(entry.job.version() + 1);
    NotifyWatchers(entry.job, {});
  }

  RECA_FAILPOINT("coordinator.mid_heartbeat");
  // What this worker should run and does not yet.
  for (const std::string& id : unfinished_) {
    const v1::Job& job = jobs_.at(id).job;
    if (!IsActive(job.state()) || job.cancel_requested()) continue;
    for (const v1::Placement& p : job.attempt().placements()) {
      if (p.worker_id() != request.worker_id() ||
          reported.count({id, p.rank()}) ||
          Contains(job.attempt().started_ranks(), p.rank()) ||
          Contains(job.attempt().exited_ranks(), p.rank())) {
        continue;
      }
      v1::Assignment* a = response.add_assignments();
      a->set_job_id(id);
      a->set_epoch(job.attempt().epoch());
      a->set_rank(p.rank());
      a->set_world_size(job.attempt().placements_size());
      a->set_master_addr(job.attempt().master_addr());
      a->set_master_port(job.attempt().master_port());
      *a->mutable_spec() = job.spec();
      a->set_output_dir(job.output_dir());
      a->set_threads(job.resources().threads_per_rank());
      a->set_accelerator(job.resources().accelerator());
      a->set_gpu_index(p.gpu_index());
      RECA_RETURN_IF_ERROR(FillResumePoint(job, a));
    }
  }
  RECA_RETURN_IF_ERROR(AckDeletions(request));
  HandOutDeletions(&response);
  return response;
}

absl::StatusOr<v1::ReportCheckpointResponse>
Coordinator::HandleReportCheckpoint(
    const v1::ReportCheckpointRequest& request) {
  const v1::Checkpoint& ckpt = request.checkpoint();
  if (ckpt.step() < 0)
    return absl::InvalidArgumentError("checkpoint.step: must be >= 0");
  if (ckpt.path().empty())
    return absl::InvalidArgumentError("checkpoint.path: empty");
  absl::MutexLock lock(&mu_);
  RECA_RETURN_IF_ERROR(
      CheckLease(request.worker_id(), request.lease_id()).status());
  JobEntry* entry = FindJob(ckpt.job_id());
  if (entry == nullptr)
    return absl::NotFoundError(
        absl::StrCat("job ", ckpt.job_id(), " not found"));
  RECA_ASSIGN_OR_RETURN(
      std::optional<std::string> seen,
      deps_.store.Get(keys::Checkpoint(ckpt.job_id(), ckpt.step())));
  v1::Checkpoint existing;
  if (seen && !existing.ParseFromString(*seen)) {
    return absl::DataLossError(absl::StrCat(
        "coordinator store: ", ckpt.job_id(), "'s checkpoint record at step ",
        ckpt.step(), " is unreadable"));
  }
  if (seen && existing.manifest_sha256() == ckpt.manifest_sha256())
    return v1::ReportCheckpointResponse();  // a retried report (or a rescan)
  // Fencing (README "Guarantees"): only the job's current attempt records
  // checkpoints. Once a new attempt is placed (it resumes from the newest
  // record), nothing an older attempt committed is ever recorded, so its
  // rank 0 may discard whatever lies above its resume point.
  RECA_RETURN_IF_ERROR(CheckEpoch(entry->job, ckpt.epoch()));
  if (seen && existing.unusable_reason().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", ckpt.job_id(), ": checkpoint step ", ckpt.step(),
        " is recorded already, with another manifest (", existing.path(),
        ")"));
  }
  // New, or the step of one found unusable, committed again by this attempt.
  v1::Checkpoint record = ckpt;
  record.set_commit_unix_micros(NowMicros());
  v1::Job updated = entry->job;
  if (ckpt.step() >= updated.latest_checkpoint_step()) {
    updated.set_latest_checkpoint_step(ckpt.step());
    updated.set_latest_checkpoint_path(ckpt.path());
    updated.set_latest_checkpoint_unix_micros(record.commit_unix_micros());
  }
  WriteBatch batch;
  batch.Put(keys::Checkpoint(ckpt.job_id(), ckpt.step()),
            record.SerializeAsString());
  RECA_FAILPOINT("coordinator.before_manifest_record");
  RECA_RETURN_IF_ERROR(
      CommitJob(*entry, std::move(updated),
                absl::StrFormat("checkpoint step %d committed (%.1f MB) at %s",
                                ckpt.step(), ckpt.bytes() / 1e6, ckpt.path()),
                std::move(batch)));
  RECA_FAILPOINT("coordinator.after_manifest_record");
  RECA_RETURN_IF_ERROR(QueueEvaluations(entry->job));
  RECA_RETURN_IF_ERROR(RetireCheckpoints(*entry));
  return v1::ReportCheckpointResponse();
}

absl::StatusOr<v1::ReportExitResponse> Coordinator::HandleReportExit(
    const v1::ReportExitRequest& request) {
  absl::MutexLock lock(&mu_);
  RECA_RETURN_IF_ERROR(
      CheckLease(request.worker_id(), request.lease_id()).status());
  JobEntry* entry = FindJob(request.job_id());
  if (entry == nullptr)
    return absl::NotFoundError(
        absl::StrCat("job ", request.job_id(), " not found"));
  RECA_RETURN_IF_ERROR(CheckEpoch(entry->job, request.epoch()));
  const v1::Job& job = entry->job;
  if (request.rank() < 0 || request.rank() >= job.attempt().placements_size() ||
      job.attempt().placements(request.rank()).worker_id() !=
          request.worker_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", request.rank(), " of ", job.id(),
                     " is not placed on ", request.worker_id()));
  }
  if (Contains(job.attempt().exited_ranks(), request.rank())) {
    // A retry; the transition it started may have been cut short.
    RECA_RETURN_IF_ERROR(MaybeFinish(*entry));
    return v1::ReportExitResponse();
  }
  v1::Job updated = job;
  updated.mutable_attempt()->add_exited_ranks(request.rank());
  std::string what =
      absl::StrCat("rank ", request.rank(), " on ", request.worker_id(), ": ",
                   CauseText(request));
  if (request.cause() != v1::EXIT_CAUSE_SUCCESS && !request.message().empty()) {
    absl::StrAppend(&what, ": ", request.message());
  }
  if (request.cause() == v1::EXIT_CAUSE_CHECKPOINT_UNREADABLE &&
      IsActive(job.state()) && !job.cancel_requested() &&
      job.attempt().resume_step() >= 0) {
    // Not the job's fault: its recorded checkpoint is gone or damaged.
    RECA_RETURN_IF_ERROR(FallBackFromUnusableCheckpoint(
        *entry, std::move(updated), what, request.worker_id()));
  } else if (request.cause() != v1::EXIT_CAUSE_SUCCESS &&
             IsActive(job.state()) && !job.cancel_requested()) {
    // A job's own fault (its spec, data, model, a non-finite loss, a
    // reported out-of-memory) comes back on every attempt. An unrequested
    // SIGKILL may be the kernel's OOM killer or a person's kill -9: it is
    // retried, and max_restarts bounds a real OOM.
    const bool retryable =
        request.cause() == v1::EXIT_CAUSE_ERROR ||
        request.cause() == v1::EXIT_CAUSE_CHECKPOINT_UNREADABLE ||
        request.cause() == v1::EXIT_CAUSE_SIGNAL ||
        request.cause() == v1::EXIT_CAUSE_UNSPECIFIED ||
        (request.cause() == v1::EXIT_CAUSE_OUT_OF_MEMORY &&
         request.signal() == SIGKILL);
    RECA_RETURN_IF_ERROR(FailJob(*entry, std::move(updated), what,
                                 CauseReason(request.cause()), retryable,
                                 request.worker_id()));
  } else {
    RECA_RETURN_IF_ERROR(CommitJob(*entry, std::move(updated), what));
    RECA_RETURN_IF_ERROR(MaybeFinish(*entry));
  }
  RECA_RETURN_IF_ERROR(ScheduleQueued());
  return v1::ReportExitResponse();
}

}  // namespace reca::coordinator
