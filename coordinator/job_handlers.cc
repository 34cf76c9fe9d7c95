// Coordinator: the JobService handlers.
#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/coordinator.h"
#include "coordinator/keys.h"
#include "coordinator/validation.h"
#include "reca/status.h"

namespace reca::coordinator {
namespace {

constexpr int kDefaultPageSize = 100, kMaxPageSize = 1000;
constexpr int kWatchHistory = 50;  // events a new watcher gets first

}  // namespace

absl::StatusOr<Coordinator::JobEntry*> Coordinator::FindVisibleJob(
    const Caller& caller, const std::string& id) {
  RECA_RETURN_IF_ERROR(CheckLength(id, "job_id", kMaxIdBytes));
  JobEntry* entry = FindJob(id);
  if (entry == nullptr)
    return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  if (!caller.Owns(entry->job.owner())) {
    return absl::PermissionDeniedError(
        absl::StrCat("job ", id, " belongs to another user"));
  }
  return entry;
}

absl::StatusOr<std::string> Coordinator::ResolveInit(const Caller& caller,
                                                     const std::string& init) {
  // "job:<id>": the newest committed checkpoint of another job (of the same
  // owner, unless an admin submits).
  const std::string id = init.substr(4);
  JobEntry* source = FindJob(id);
  if (source == nullptr || !caller.Owns(source->job.owner())) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.model.init: ", init, ": no such job of yours"));
  }
  if (source->job.latest_checkpoint_step() < 0 ||
      source->job.latest_checkpoint_path().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("spec.model.init: ", init, ": job ", id, " (",
                     v1::JobState_Name(source->job.state()),
                     ") has no committed checkpoint yet"));
  }
  return source->job.latest_checkpoint_path();
}

absl::StatusOr<v1::SubmitJobResponse> Coordinator::HandleSubmitJob(
    const Caller& caller, const v1::SubmitJobRequest& submitted) {
  RECA_RETURN_IF_ERROR(CheckNoUnknownFields(submitted, "request"));
  RECA_RETURN_IF_ERROR(
      CheckLength(submitted.request_id(), "request_id", kMaxIdBytes));
  RECA_RETURN_IF_ERROR(CheckLength(submitted.owner(), "owner", kMaxIdBytes));
  // Without a spec the job would be every default (1000 steps): a client
  // that meant that sends an empty spec.
  if (!submitted.has_spec()) {
    return absl::InvalidArgumentError(
        "spec: required (an empty spec, {}, takes every default)");
  }
  // A user submits as itself; an admin (or a trusted caller) for anyone.
  if (!caller.admin() && !submitted.owner().empty() &&
      submitted.owner() != caller.name) {
    return absl::PermissionDeniedError(absl::StrCat(
        "owner: ", submitted.owner(), ": a user submits only as itself (",
        caller.name, ")"));
  }
  v1::SubmitJobRequest request = submitted;
  if (request.owner().empty()) {
    request.set_owner(caller.name.empty() ? options_.default_owner : caller.name);
  }
  RECA_RETURN_IF_ERROR(ValidateResources(request.resources()));
  RECA_ASSIGN_OR_RETURN(SpecSummary summary,
                        ValidateSpec(request.spec(), options_.max_spec_bytes,
                                     spec_roots_));
  RECA_RETURN_IF_ERROR(ValidateJobSize(summary, request.resources()));
  if (request.priority() < -1000 || request.priority() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "priority: must be in [-1000, 1000] (got ", request.priority(), ")"));
  }
  const std::string fingerprint = RequestFingerprint(request);

  absl::MutexLock lock(&mu_);
  if (request.validate_only()) {  // everything checked but the owner's limit
    if (absl::StartsWith(request.spec().model().init(), "job:")) {
      RECA_RETURN_IF_ERROR(
          ResolveInit(caller, request.spec().model().init()).status());
    }
    v1::SubmitJobResponse preview;
    preview.mutable_job()->set_name(summary.name);
    preview.mutable_job()->set_owner(request.owner());
    preview.mutable_job()->set_total_steps(summary.steps);
    return preview;
  }
  if (const int limit = options_.max_unfinished_jobs_per_owner; limit > 0) {
    const int unfinished = static_cast<int>(std::count_if(
        unfinished_.begin(), unfinished_.end(), [&](const std::string& id) {
          return jobs_.at(id).job.owner() == request.owner();
        }));
    if (unfinished >= limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          request.owner(), " has ", unfinished,
          " jobs queued or running, the most allowed per owner "
          "(--max_unfinished_jobs_per_owner); wait for some to end"));
    }
  }
  v1::SubmitJobResponse response;
  if (!request.request_id().empty()) {
    RECA_ASSIGN_OR_RETURN(
        std::optional<std::string> seen,
        deps_.store.Get(keys::Idempotency(request.request_id())));
    if (seen) {
      const size_t sep = seen->find('\n');
      const std::string job_id = seen->substr(0, sep);
      if (sep == std::string::npos || seen->substr(sep + 1) != fingerprint) {
        return absl::AlreadyExistsError(absl::StrCat(
            "request_id ", request.request_id(), " was used for job ", job_id,
            " with a different request"));
      }
      JobEntry* entry = FindJob(job_id);
      if (entry == nullptr)
        return absl::InternalError(
            absl::StrCat("request_id maps to missing job ", job_id));
      *response.mutable_job() = entry->job;
      response.set_created(false);
      return response;
    }
  }

  v1::Job job;
  job.set_id(absl::StrFormat("job-%08d", next_job_seq_));
  job.set_name(summary.name);
  job.set_owner(request.owner());
  *job.mutable_spec() = request.spec();
  if (absl::StartsWith(job.spec().model().init(), "job:")) {
    RECA_ASSIGN_OR_RETURN(std::string path,
                          ResolveInit(caller, job.spec().model().init()));
    job.mutable_spec()->mutable_model()->set_init(path);
  }
  *job.mutable_resources() = request.resources();
  if (job.resources().ranks() == 0) job.mutable_resources()->set_ranks(1);
  if (job.resources().accelerator() == v1::ACCELERATOR_UNSPECIFIED)
    job.mutable_resources()->set_accelerator(v1::CPU);
  job.set_priority(request.priority());
  job.set_state(v1::QUEUED);
  job.set_output_dir(absl::StrCat(options_.runs_root, "/", job.id()));
  job.set_total_steps(summary.steps);
  job.set_samples_per_rank_step(summary.samples_per_rank_step);
  job.set_max_restarts(summary.max_restarts);
  job.set_checkpoint_keep(summary.checkpoint_keep);
  job.set_checkpoint_keep_best(summary.checkpoint_keep_best);
  job.set_submit_unix_micros(NowMicros());
  job.set_latest_checkpoint_step(-1);
  job.set_request_id(request.request_id());

  WriteBatch batch;
  batch.Put(keys::kNextJobSeq, std::to_string(next_job_seq_ + 1));
  if (!request.request_id().empty()) {
    batch.Put(keys::Idempotency(request.request_id()),
              job.id() + "\n" + fingerprint);
  }
  JobEntry& entry = jobs_[job.id()];
  entry.job.set_id(job.id());
  const std::string message = absl::StrCat(
      "submitted by ", job.owner(), ": ", job.resources().ranks(), " ",
      job.resources().accelerator() == v1::GPU ? "gpu" : "cpu", " rank",
      job.resources().ranks() == 1 ? "" : "s", ", ", summary.steps,
      " steps, priority ", job.priority());
  if (absl::Status s = CommitJob(entry, job, message, std::move(batch));
      !s.ok()) {
    jobs_.erase(job.id());
    return s;
  }
  ++next_job_seq_;
  unfinished_.insert(job.id());
  RECA_RETURN_IF_ERROR(QueueEvaluations(entry.job));  // its base
  RECA_RETURN_IF_ERROR(PlaceSubmitted(entry));
  *response.mutable_job() = entry.job;
  response.set_created(true);
  return response;
}

absl::StatusOr<v1::GetJobResponse> Coordinator::HandleGetJob(
    const Caller& caller, const v1::GetJobRequest& request) {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(JobEntry * entry,
                        FindVisibleJob(caller, request.job_id()));
  v1::GetJobResponse response;
  *response.mutable_job() = entry->job;
  if (request.include_events()) {
    RECA_ASSIGN_OR_RETURN(
        std::vector<KeyValue> events,
        deps_.store.Scan(keys::EventPrefix(request.job_id())));
    for (const auto& [key, value] : events) {
      if (!response.add_events()->ParseFromString(value)) {
        return absl::DataLossError(
            absl::StrCat("coordinator store: ", key, ": unreadable event"));
      }
    }
  }
  return response;
}

absl::StatusOr<v1::ListJobsResponse> Coordinator::HandleListJobs(
    const Caller& caller, const v1::ListJobsRequest& request) {
  if (request.page_size() < 0)
    return absl::InvalidArgumentError("page_size: must be >= 0");
  // A prefix longer than any job name (spec.name) matches none: a client bug.
  RECA_RETURN_IF_ERROR(
      CheckLength(request.name_prefix(), "name_prefix", kMaxIdBytes));
  RECA_RETURN_IF_ERROR(CheckLength(request.owner(), "owner", kMaxIdBytes));
  RECA_RETURN_IF_ERROR(
      CheckLength(request.page_token(), "page_token", kMaxIdBytes));
  const int page_size = request.page_size() == 0
                            ? kDefaultPageSize
                            : std::min(request.page_size(), kMaxPageSize);
  absl::MutexLock lock(&mu_);
  v1::ListJobsResponse response;
  auto it = request.page_token().empty()
                ? jobs_.begin()
                : jobs_.upper_bound(request.page_token());
  for (; it != jobs_.end(); ++it) {
    const v1::Job& job = it->second.job;
    if (request.states_size() > 0 &&
        std::find(request.states().begin(), request.states().end(),
                  job.state()) == request.states().end()) {
      continue;
    }
    if (!absl::StartsWith(job.name(), request.name_prefix())) continue;
    if (!request.owner().empty() && job.owner() != request.owner()) continue;
    if (!caller.Owns(job.owner())) continue;  // a user lists its own jobs
    if (response.jobs_size() == page_size) {
      response.set_next_page_token(response.jobs(page_size - 1).id());
      break;
    }
    *response.add_jobs() = job;
  }
  return response;
}

absl::StatusOr<v1::CancelJobResponse> Coordinator::HandleCancelJob(
    const Caller& caller, const v1::CancelJobRequest& request) {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(JobEntry * entry,
                        FindVisibleJob(caller, request.job_id()));
  v1::CancelJobResponse response;
  const v1::Job& job = entry->job;
  if (IsTerminal(job.state()) || job.cancel_requested()) {
    *response.mutable_job() = job;  // already ending or ended: nothing to do
    return response;
  }
  v1::Job updated = job;
  if (job.state() == v1::QUEUED) {
    updated.set_state(v1::CANCELLED);
    updated.clear_queue_reason();
    updated.set_end_unix_micros(NowMicros());
    RECA_RETURN_IF_ERROR(
        CommitJob(*entry, std::move(updated), "cancelled while queued"));
    unfinished_.erase(request.job_id());
  } else {
    updated.set_cancel_requested(true);
    RECA_RETURN_IF_ERROR(CommitJob(*entry, std::move(updated),
                                   "cancel requested; stopping its ranks"));
    RECA_RETURN_IF_ERROR(MaybeFinish(*entry));
  }
  RECA_RETURN_IF_ERROR(ScheduleQueued());
  *response.mutable_job() = entry->job;
  return response;
}

absl::StatusOr<v1::GetMetricsResponse> Coordinator::HandleGetMetrics(
    const Caller& caller, const v1::GetMetricsRequest& request) {
  if (request.limit() < 0)
    return absl::InvalidArgumentError("limit: must be >= 0");
  if (request.names_size() > kMaxMetricNames) {
    return absl::InvalidArgumentError(
        absl::StrCat("names: ", request.names_size(),
                     " items, more than the limit of ", kMaxMetricNames));
  }
  for (int i = 0; i < request.names_size(); ++i) {
    RECA_RETURN_IF_ERROR(CheckLength(request.names(i),
                                     absl::StrCat("names[", i, "]"),
                                     kMaxMetricNameBytes));
  }
  const size_t limit = request.limit() == 0 ? 100000 : request.limit();
  {
    absl::MutexLock lock(&mu_);
    RECA_RETURN_IF_ERROR(FindVisibleJob(caller, request.job_id()).status());
  }
  std::vector<std::string> prefixes;
  if (request.names().empty()) {
    prefixes.push_back(keys::MetricPrefix(request.job_id()));
  } else {
    for (const std::string& name : request.names())
      prefixes.push_back(keys::MetricNamePrefix(request.job_id(), name));
  }
  v1::GetMetricsResponse response;
  for (const std::string& prefix : prefixes) {
    RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> rows, deps_.store.Scan(prefix));
    for (const auto& [key, value] : rows) {
      v1::MetricPoint point;
      if (!point.ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("coordinator store: ", key,
                                                ": unreadable metric point"));
      }
      if (request.rank() >= 0 && point.rank() != request.rank()) continue;
      if (point.step() < request.min_step()) continue;
      if (request.max_step() > 0 && point.step() > request.max_step()) continue;
      if (static_cast<size_t>(response.points_size()) == limit) return response;
      *response.add_points() = std::move(point);
    }
  }
  return response;
}

absl::StatusOr<v1::ListCheckpointsResponse> Coordinator::HandleListCheckpoints(
    const Caller& caller, const v1::ListCheckpointsRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    RECA_RETURN_IF_ERROR(FindVisibleJob(caller, request.job_id()).status());
  }
  RECA_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> records,
                        CheckpointRecords(request.job_id()));
  v1::ListCheckpointsResponse response;
  for (v1::Checkpoint& ckpt : records) {
    if (!ckpt.retired()) *response.add_checkpoints() = std::move(ckpt);
  }
  return response;
}

absl::StatusOr<int64_t> Coordinator::HandleWatchJob(
    const Caller& caller, const v1::WatchJobRequest& request, WatchCallback on_update) {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(JobEntry * entry,
                        FindVisibleJob(caller, request.job_id()));
  v1::WatchJobResponse first;
  *first.mutable_job() = entry->job;
  const int64_t from =
      std::max<int64_t>(0, entry->next_event_seq - kWatchHistory);
  RECA_ASSIGN_OR_RETURN(
      std::vector<KeyValue> events,
      deps_.store.Scan(
          keys::EventPrefix(request.job_id()),
          from > 0 ? keys::Event(request.job_id(), from - 1) : ""));
  for (const auto& [key, value] : events)
    first.add_events()->ParseFromString(value);
  on_update(first);
  const int64_t id = next_watch_id_++;
  watches_[id] = Watch{request.job_id(), std::move(on_update)};
  return id;
}

void Coordinator::CancelWatch(int64_t watch_id) {
  absl::MutexLock lock(&mu_);
  watches_.erase(watch_id);
}

}  // namespace reca::coordinator
