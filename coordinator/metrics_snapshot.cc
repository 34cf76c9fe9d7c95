// Coordinator::Snapshot: the live state as /metrics shows it.
#include <algorithm>

#include "coordinator/coordinator.h"

namespace reca::coordinator {

MetricsSnapshot Coordinator::Snapshot() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = deps_.clock.Now();
  const double now_s = absl::ToDoubleSeconds(now - absl::UnixEpoch());
  MetricsSnapshot m;
  m.now_unix_s = now_s;
  m.start_unix_s = absl::ToDoubleSeconds(started_ - absl::UnixEpoch());
  for (int s = v1::JobState_MIN; s <= v1::JobState_MAX; ++s) {
    if (v1::JobState_IsValid(s) && s != v1::JOB_STATE_UNSPECIFIED)
      m.jobs_by_state[static_cast<v1::JobState>(s)] = 0;
  }
  m.jobs_submitted = static_cast<int64_t>(jobs_.size());
  std::map<std::string, std::pair<int, int>> used;  // worker -> (cpu, gpu)
  for (const auto& [id, entry] : jobs_) {
    const v1::Job& job = entry.job;
    ++m.jobs_by_state[job.state()];
    m.checkpoints_unreadable += job.unusable_checkpoints();
    if (job.state() == v1::FAILED) {
      ++m.failures_by_reason[job.failure_reason().empty()
                                 ? "unknown"
                                 : job.failure_reason()];
    }
    if (job.start_unix_micros() > 0 && job.submit_unix_micros() > 0) {
      m.queue_wait.Observe(std::max<int64_t>(0, job.start_unix_micros() -
                                                    job.submit_unix_micros()) /
                               1e6,
                           kWaitSecondsBuckets);
    }
    if (job.state() == v1::QUEUED) {
      ++m.queue_depth;
      m.oldest_queued_s =
          std::max(m.oldest_queued_s, now_s - job.submit_unix_micros() / 1e6);
    }
    for (const v1::Placement& p : job.attempt().placements()) {
      if (!HoldsSlot(job, p.rank())) continue;
      auto& [cpu, gpu] = used[p.worker_id()];
      ++(job.resources().accelerator() == v1::GPU ? gpu : cpu);
    }
    if (!IsActive(job.state())) continue;
    JobSnapshot& js = m.active_jobs.emplace_back();
    js.id = job.id();
    js.name = job.name();
    js.owner = job.owner();
    js.state = job.state();
    js.ranks = job.attempt().placements_size();
    js.total_steps = job.total_steps();
    js.restarts = job.restarts();
    js.latest_checkpoint_step = job.latest_checkpoint_step();
    js.last_checkpoint_unix_s = job.latest_checkpoint_unix_micros() / 1e6;
    js.start_unix_s = job.start_unix_micros() / 1e6;
    for (const v1::Placement& p : job.attempt().placements()) {
      RankSnapshot& r = m.ranks.emplace_back();
      r.job_id = job.id();
      r.job_name = job.name();
      r.rank = p.rank();
      r.worker_id = p.worker_id();
      r.samples_per_step = job.samples_per_rank_step();
      if (p.rank() < job.progress_size()) r.progress = job.progress(p.rank());
      auto h = step_seconds_.find({job.id(), p.rank()});
      if (h != step_seconds_.end()) r.step_seconds = h->second;
    }
  }
  for (const auto& [id, w] : workers_) {
    WorkerSnapshot& ws = m.workers.emplace_back();
    ws.id = id;
    ws.cpu_slots = w.record.cpu_slots();
    ws.gpu_slots = w.record.gpu_slots();
    auto u = used.find(id);
    if (u != used.end()) std::tie(ws.cpu_used, ws.gpu_used) = u->second;
    // The lease is renewed to now + TTL on every heartbeat.
    ws.heartbeat_age_s = std::max(
        0.0,
        absl::ToDoubleSeconds(now - (w.lease_expiry - options_.lease_ttl)));
  }
  m.eval_queue_depth = static_cast<int>(eval_queue_.size());
  m.eval_claims = static_cast<int>(claims_.size());
  m.eval_scores = eval_scores_recorded_;
  return m;
}

}  // namespace reca::coordinator
