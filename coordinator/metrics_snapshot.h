// What the coordinator's /metrics shows, as plain data: the core fills it
// under its lock at scrape time (Coordinator::Snapshot), and
// coordinator/prometheus_export.h turns it into Prometheus families. Built at
// scrape time from the live state, so a job's per-rank series exist exactly
// while it runs; no Prometheus types here (the core stays exporter-free).
#ifndef RECA_COORDINATOR_METRICS_SNAPSHOT_H_
#define RECA_COORDINATOR_METRICS_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "reca/v1/job.pb.h"

namespace reca::coordinator {

// Upper bounds (seconds) of the step-duration histogram's buckets; +Inf is
// implicit.
inline constexpr std::array<double, 12> kStepSecondsBuckets = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
// Queue wait and job duration (seconds).
inline constexpr std::array<double, 10> kWaitSecondsBuckets = {
    1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600};

using StepHistogram = Histogram<kStepSecondsBuckets.size()>;
using WaitHistogram = Histogram<kWaitSecondsBuckets.size()>;

struct RankSnapshot {
  std::string job_id, job_name;
  int rank = 0;
  std::string worker_id;
  v1::RankProgress progress;     // latest reported (step 0 before the first)
  int64_t samples_per_step = 0;  // 0 = unknown (a job from an older version)
  StepHistogram step_seconds;    // every step's duration this coordinator saw
};

struct JobSnapshot {
  std::string id, name, owner;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  int ranks = 0;
  int64_t total_steps = 0;
  int restarts = 0;  // Job.restarts
  int64_t latest_checkpoint_step = -1;
  double last_checkpoint_unix_s = 0;  // 0 = none yet
  double start_unix_s = 0;            // RUNNING since (0 = not yet)
};

struct WorkerSnapshot {
  std::string id;
  int cpu_slots = 0, gpu_slots = 0;
  int cpu_used = 0, gpu_used = 0;
  double heartbeat_age_s = 0;  // since its last heartbeat (or registration)
};

struct MetricsSnapshot {
  double now_unix_s = 0;
  double start_unix_s = 0;  // when this coordinator process loaded its state
  std::map<v1::JobState, int> jobs_by_state;  // every state, zeros included
  int queue_depth = 0;
  double oldest_queued_s = 0;  // how long the longest-waiting job has waited
  int64_t jobs_submitted = 0;  // all jobs on record
  std::map<std::string, int64_t> failures_by_reason;  // Job.failure_reason
  WaitHistogram queue_wait;  // submit -> running, over jobs that ran
  std::vector<JobSnapshot> active_jobs;  // SCHEDULED / RUNNING
  std::vector<RankSnapshot> ranks;       // of the active jobs
  std::vector<WorkerSnapshot> workers;
  int eval_queue_depth = 0;  // checkpoints waiting for an evaluator
  int eval_claims = 0;       // being scored
  int64_t eval_scores = 0;   // (checkpoint, suite) scores recorded
  // Recorded checkpoints attempts could not resume from (Job.unusable_checkpoints).
  int64_t checkpoints_unreadable = 0;
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_METRICS_SNAPSHOT_H_
