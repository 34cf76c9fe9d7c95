#include "coordinator/prometheus_export.h"

#include "absl/strings/ascii.h"
#include "common/metric_families.h"

namespace reca::coordinator {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = MetricLabels;

std::string StateLabel(v1::JobState s) {
  return absl::AsciiStrToLower(v1::JobState_Name(s));
}

}  // namespace

std::vector<MetricFamily> SnapshotFamilies(const MetricsSnapshot& m,
                                           const std::string& version) {
  MetricFamilies f;
  const auto G = MetricType::Gauge, C = MetricType::Counter,
             H = MetricType::Histogram;
  f.Begin("reca_build_info",
          "Build of the reca-coordinator serving these metrics.", G);
  f.Gauge(1, {{"version", version}});
  f.Begin("reca_coordinator_start_time_seconds",
          "When this coordinator process loaded its state (Unix time).", G);
  f.Gauge(m.start_unix_s);

  f.Begin("reca_jobs", "Jobs on record by state.", G);
  for (const auto& [state, n] : m.jobs_by_state)
    f.Gauge(n, {{"state", StateLabel(state)}});
  f.Begin("reca_jobs_submitted_total",
          "Jobs admitted (accepted by SubmitJob), all time.", C);
  f.Counter(static_cast<double>(m.jobs_submitted));
  f.Begin("reca_job_failures_total", "Failed jobs by cause class, all time.",
          C);
  // Job.failure_reason's bounded set (job.proto), every one from zero.
  for (const char* reason :
       {"worker_lost", "error", "signal", "out_of_memory", "launch_failed",
        "invalid_job", "checkpoint_unreadable", "stalled", "unknown"}) {
    auto it = m.failures_by_reason.find(reason);
    f.Counter(it == m.failures_by_reason.end()
                  ? 0.0
                  : static_cast<double>(it->second),
              {{"reason", reason}});
  }
  f.Begin("reca_queue_depth", "Jobs waiting to be placed (QUEUED).", G);
  f.Gauge(m.queue_depth);
  f.Begin("reca_queue_oldest_wait_seconds",
          "How long the longest-waiting queued job has waited.", G);
  f.Gauge(m.oldest_queued_s);
  f.Begin("reca_queue_wait_seconds",
          "Submit to running, over the jobs that started.", H);
  f.Hist(m.queue_wait, kWaitSecondsBuckets);

  f.Begin("reca_job_info", "A running (or scheduled) job: its name and owner.",
          G);
  for (const JobSnapshot& j : m.active_jobs) {
    f.Gauge(1, {{"job_id", j.id},
                {"name", j.name},
                {"owner", j.owner},
                {"state", StateLabel(j.state)}});
  }
  f.Begin("reca_job_ranks", "Data-parallel ranks of a running job.", G);
  for (const JobSnapshot& j : m.active_jobs)
    f.Gauge(j.ranks, {{"job_id", j.id}});
  f.Begin("reca_job_restarts_total",
          "Times a running job was restarted from its last committed "
          "checkpoint after a failed attempt (max: spec.max_restarts).", C);
  for (const JobSnapshot& j : m.active_jobs)
    f.Counter(j.restarts, {{"job_id", j.id}});
  f.Begin("reca_job_total_steps", "Steps a running job will take.", G);
  for (const JobSnapshot& j : m.active_jobs)
    f.Gauge(j.total_steps, {{"job_id", j.id}});
  f.Begin("reca_job_start_time_seconds",
          "When a running job's ranks all started (Unix time).", G);
  for (const JobSnapshot& j : m.active_jobs) {
    if (j.start_unix_s > 0) f.Gauge(j.start_unix_s, {{"job_id", j.id}});
  }
  f.Begin("reca_job_checkpoint_step",
          "Step of a running job's latest committed checkpoint.", G);
  for (const JobSnapshot& j : m.active_jobs) {
    if (j.latest_checkpoint_step >= 0)
      f.Gauge(j.latest_checkpoint_step, {{"job_id", j.id}});
  }
  f.Begin("reca_job_last_checkpoint_timestamp_seconds",
          "When a running job's latest checkpoint was committed (Unix time).",
          G);
  for (const JobSnapshot& j : m.active_jobs) {
    if (j.last_checkpoint_unix_s > 0)
      f.Gauge(j.last_checkpoint_unix_s, {{"job_id", j.id}});
  }

  auto rank_labels = [](const RankSnapshot& r) {
    return Labels{{"job_id", r.job_id}, {"rank", std::to_string(r.rank)}};
  };
  f.Begin("reca_job_steps_total", "Optimizer steps a rank has completed.", C);
  for (const RankSnapshot& r : m.ranks)
    f.Counter(r.progress.step(), rank_labels(r));
  f.Begin("reca_job_samples_total",
          "Samples a rank has trained on (steps x samples per step).", C);
  for (const RankSnapshot& r : m.ranks) {
    if (r.samples_per_step > 0)
      f.Counter(static_cast<double>(r.progress.step() * r.samples_per_step),
                rank_labels(r));
  }
  f.Begin("reca_job_loss", "A rank's latest training loss.", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.step() > 0) f.Gauge(r.progress.loss(), rank_labels(r));
  }
  f.Begin("reca_job_samples_per_second", "A rank's latest training throughput.",
          G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.step() > 0)
      f.Gauge(r.progress.samples_per_second(), rank_labels(r));
  }
  f.Begin("reca_job_data_wait_seconds",
          "Time a rank's latest step waited for its batch.", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.step() > 0)
      f.Gauge(r.progress.data_wait_seconds(), rank_labels(r));
  }
  f.Begin("reca_job_allreduce_seconds",
          "Time a rank's latest step spent in gradient all-reduce.", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.step() > 0)
      f.Gauge(r.progress.allreduce_seconds(), rank_labels(r));
  }
  f.Begin("reca_job_model_flops_per_second",
          "A rank's latest model FLOP/s (3 x forward matmul FLOPs / step time).", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.model_flops_per_second() > 0)
      f.Gauge(r.progress.model_flops_per_second(), rank_labels(r));
  }
  f.Begin("reca_job_mfu_ratio",
          "A rank's latest model FLOP/s utilisation: model FLOP/s / the device's "
          "peak (reca-worker --peak_flops, or a GEMM the trainer measured).", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.mfu() > 0) f.Gauge(r.progress.mfu(), rank_labels(r));
  }
  f.Begin("reca_job_collapse_ratio",
          "Copy-collapse check: held-out reconstruction loss / the job's "
          "text-to-image level (rank 0, every reca.collapse_every steps).", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.collapse_ratio() > 0) f.Gauge(r.progress.collapse_ratio(), rank_labels(r));
  }
  f.Begin("reca_job_collapse_alarm",
          "1 while the latest copy-collapse check is below reca.collapse_ratio.", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.collapse_ratio() > 0)
      f.Gauge(r.progress.collapse_alarm() ? 1 : 0, rank_labels(r));
  }
  f.Begin("reca_job_progress_age_seconds",
          "Since a rank last reported progress.", G);
  for (const RankSnapshot& r : m.ranks) {
    if (r.progress.update_unix_micros() > 0)
      f.Gauge(m.now_unix_s - r.progress.update_unix_micros() / 1e6,
              rank_labels(r));
  }
  f.Begin("reca_job_step_duration_seconds",
          "Duration of each training step of a rank.", H);
  for (const RankSnapshot& r : m.ranks) {
    f.Hist(r.step_seconds, kStepSecondsBuckets, rank_labels(r));
  }

  f.Begin("reca_worker_slots", "Rank slots a live worker offers.", G);
  for (const WorkerSnapshot& w : m.workers) {
    f.Gauge(w.cpu_slots, {{"worker", w.id}, {"kind", "cpu"}});
    f.Gauge(w.gpu_slots, {{"worker", w.id}, {"kind", "gpu"}});
  }
  f.Begin("reca_worker_slots_used",
          "Rank slots of a live worker held by ranks.", G);
  for (const WorkerSnapshot& w : m.workers) {
    f.Gauge(w.cpu_used, {{"worker", w.id}, {"kind", "cpu"}});
    f.Gauge(w.gpu_used, {{"worker", w.id}, {"kind", "gpu"}});
  }
  f.Begin("reca_worker_heartbeat_age_seconds",
          "Since a live worker's last heartbeat.", G);
  for (const WorkerSnapshot& w : m.workers)
    f.Gauge(w.heartbeat_age_s, {{"worker", w.id}});
  f.Begin("reca_workers", "Live workers (registered, lease not expired).", G);
  f.Gauge(static_cast<double>(m.workers.size()));

  f.Begin("reca_eval_queue_depth", "Checkpoints waiting for an evaluator.", G);
  f.Gauge(m.eval_queue_depth);
  f.Begin("reca_eval_claims", "Checkpoints an evaluator is scoring now.", G);
  f.Gauge(m.eval_claims);
  f.Begin("reca_eval_scores_total",
          "(checkpoint, suite) scores recorded since this coordinator started.",
          C);
  f.Counter(static_cast<double>(m.eval_scores));
  f.Begin("reca_checkpoint_unreadable_total",
          "Recorded checkpoints an attempt could not resume from (missing or "
          "failing verification); the job went on from an earlier one.",
          C);
  f.Counter(static_cast<double>(m.checkpoints_unreadable));
  return f.Take();
}

}  // namespace reca::coordinator
