#include "worker/worker_agent.h"

#include <signal.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <iostream>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/daemon_main.h"
#include "common/failpoint.h"
#include "reca/ckpt/checkpoint_store.h"
#include "reca/file_util.h"
#include "worker/checkpoint_scanner.h"
#include "worker/metrics_tailer.h"
#include "worker/rank_launch.h"

namespace reca {
namespace {

// "EXIT_CAUSE_OUT_OF_MEMORY" -> "out_of_memory" (a metrics label).
std::string CauseLabel(v1::ExitCause cause) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(v1::ExitCause_Name(cause), "EXIT_CAUSE_"));
}

v1::ExitCause ToProto(ExitInfo::Cause cause) {
  switch (cause) {
    case ExitInfo::Cause::kSuccess:
      return v1::EXIT_CAUSE_SUCCESS;
    case ExitInfo::Cause::kError:
      return v1::EXIT_CAUSE_ERROR;
    case ExitInfo::Cause::kSignal:
      return v1::EXIT_CAUSE_SIGNAL;
    case ExitInfo::Cause::kOutOfMemory:
      return v1::EXIT_CAUSE_OUT_OF_MEMORY;
    case ExitInfo::Cause::kInvalidJob:
      return v1::EXIT_CAUSE_INVALID_JOB;
    case ExitInfo::Cause::kCheckpointUnreadable:
      return v1::EXIT_CAUSE_CHECKPOINT_UNREADABLE;
  }
  return v1::EXIT_CAUSE_UNSPECIFIED;
}

absl::Duration MillisOr(int64_t millis, absl::Duration fallback) {
  return millis > 0 ? absl::Milliseconds(millis) : fallback;
}

}  // namespace

struct WorkerAgent::Rank {
  v1::Assignment assignment;
  std::string label;  // "job j epoch e rank r"
  std::unique_ptr<Process> process;
  MetricsTailer metrics;
  std::optional<CheckpointScanner> checkpoints;  // rank 0 only
  std::deque<v1::MetricPoint> points;            // read, not yet delivered
  std::optional<v1::RankProgress> progress;
  // The latest copy-collapse check read (metrics lines carry one every
  // reca.collapse_every steps).
  double collapse_ratio = 0;
  bool collapse_alarm = false;
  bool exited = false;
  bool metrics_drained = false;  // exited and the file read to its end
  bool exit_heartbeat_sent = false;
  // Stopping: StopRank sent SIGTERM; SIGKILL when still alive at kill_at.
  std::optional<absl::Time> kill_at;
  bool sigkilled = false;
  std::string stop_reason;

  Rank(v1::Assignment a, std::unique_ptr<Process> p)
      : assignment(std::move(a)),
        label(RankLabel(assignment.job_id(), assignment.epoch(),
                        assignment.rank())),
        process(std::move(p)),
        metrics(MetricsPath(assignment.output_dir(), assignment.rank())) {
    if (assignment.rank() == 0)
      checkpoints.emplace(CheckpointsDir(assignment.output_dir()));
  }
};

WorkerAgent::WorkerAgent(Deps deps, WorkerOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      lease_ttl_(options_.default_lease_ttl),
      heartbeat_interval_(options_.default_heartbeat_interval),
      register_backoff_(options_.register_backoff_initial),
      reports_(options_.max_report_attempts,
               [this](const std::string& line) { Log(line); }) {
  if (!deps_.sleep) deps_.sleep = [](absl::Duration d) { absl::SleepFor(d); };
  if (!deps_.log)
    deps_.log = [](const std::string& line) { std::cerr << line << std::endl; };
}

WorkerAgent::~WorkerAgent() = default;

void WorkerAgent::Log(const std::string& line) const {
  deps_.log(absl::StrCat("worker ", options_.worker_id, ": ", line));
}

size_t WorkerAgent::live_ranks() const {
  return std::count_if(ranks_.begin(), ranks_.end(),
                       [](const auto& r) { return !r->exited; });
}

void WorkerAgent::Tick() {
  PollRanks();
  CheckLeaseExpiry();
  if (!registered_) TryRegister();
  const bool flushed = registered_ && reports_.Flush() == 0;
  if (registered_) SendHeartbeat();
  // Launch failures from this heartbeat go out now, unless reports are already
  // waiting on an outage.
  if (registered_ && flushed && !reports_.empty()) reports_.Flush();
  ReapRanks();
  PublishStats();
}

void WorkerAgent::PublishStats() {
  stats_.worker_id = options_.worker_id;
  stats_.registered = registered_;
  stats_.lease_epoch = lease_epoch_;
  stats_.last_heartbeat_unix_s =
      registered_ ? absl::ToDoubleSeconds(lease_renewed_at_ - absl::UnixEpoch())
                  : 0;
  stats_.cpu_slots = options_.cpu_slots;
  stats_.gpu_slots = options_.gpu_slots;
  stats_.pending_reports = reports_.size();
  stats_.ranks.clear();
  for (const auto& r : ranks_) {
    if (r->exited) continue;
    stats_.ranks.push_back({r->assignment.job_id(), r->assignment.rank(),
                            r->assignment.epoch(),
                            r->progress ? r->progress->step() : 0});
  }
  absl::MutexLock lock(&published_mu_);
  published_ = stats_;
}

WorkerStats WorkerAgent::Stats() const {
  absl::MutexLock lock(&published_mu_);
  return published_;
}

// --- ranks -----------------------------------------------------------------

void WorkerAgent::PollRanks() {
  const absl::Time now = deps_.clock.Now();
  for (auto& r : ranks_) {
    if (r->exited) continue;
    std::optional<ExitInfo> exit = r->process->Poll();
    if (!exit) {
      if (r->kill_at && now >= *r->kill_at && !r->sigkilled) {
        KillRank(*r, absl::StrCat(r->stop_reason, "; still running ",
                                  absl::FormatDuration(options_.stop_grace),
                                  " after SIGTERM"));
      }
      if (r->checkpoints) ScanCheckpoints(*r);
      continue;
    }
    r->exited = true;
    v1::ReportExitRequest report;
    report.set_job_id(r->assignment.job_id());
    report.set_epoch(r->assignment.epoch());
    report.set_rank(r->assignment.rank());
    report.set_cause(ToProto(exit->cause));
    report.set_exit_code(exit->exit_code);
    report.set_signal(exit->signal);
    report.set_message(exit->message);
    if (r->sigkilled && exit->signal == SIGKILL) {
      // Our SIGKILL, not the kernel's OOM killer.
      report.set_cause(v1::EXIT_CAUSE_SIGNAL);
      report.set_message(absl::StrCat("killed by SIGKILL from worker ",
                                      options_.worker_id, ": ",
                                      r->stop_reason));
    }
    Log(absl::StrCat(r->label, ": pid ", r->process->pid(),
                     " ended: ", v1::ExitCause_Name(report.cause()), ": ",
                     report.message()));
    ++stats_.exits_by_cause[CauseLabel(report.cause())];
    // The checkpoints it committed go first: the coordinator then knows the
    // last one when it decides what the exit means (restart from where?).
    if (r->checkpoints) ScanCheckpoints(*r);
    QueueReport(std::move(report));
  }
}

void WorkerAgent::ScanCheckpoints(Rank& r) {
  std::vector<std::string> errors;
  for (const CommittedCheckpoint& c : r.checkpoints->ScanNew(&errors)) {
    v1::ReportCheckpointRequest report;
    v1::Checkpoint* ckpt = report.mutable_checkpoint();
    ckpt->set_job_id(r.assignment.job_id());
    // The committing attempt's epoch, not this rank's: a checkpoint an earlier
    // attempt left on disk is never recorded as this attempt's (fencing).
    ckpt->set_epoch(c.epoch);
    ckpt->set_step(c.step);
    ckpt->set_path(c.path);
    ckpt->set_manifest_sha256(c.manifest_sha256);
    ckpt->set_bytes(c.bytes);
    ckpt->set_commit_unix_micros(c.commit_unix_micros);
    Log(absl::StrCat(r.label, ": checkpoint step ", c.step, " committed at ",
                     c.path, " (", c.bytes, " bytes, epoch ", c.epoch, ")"));
    QueueReport(std::move(report));
  }
  for (const std::string& e : errors)
    Log(absl::StrCat(r.label, ": checkpoint scan: ", e));
}

void WorkerAgent::Launch(const v1::Assignment& a) {
  const RankKey key{a.job_id(), a.epoch(), a.rank()};
  if (started_.count(key))
    return;  // repeated until the coordinator sees it running
  started_.insert(key);
  const std::string label = RankLabel(a.job_id(), a.epoch(), a.rank());
  RankLaunchOptions lo;
  lo.trainer_path = options_.trainer_path;
  lo.local_addr = options_.address;
  lo.worker_id = options_.worker_id;
  lo.default_threads = options_.default_threads;
  lo.gpu_peak_flops = options_.gpu_peak_flops;
  lo.data_roots = options_.data_roots;
  absl::StatusOr<ProcessSpec> spec = PrepareRankLaunch(a, lo);
  if (!spec.ok()) return ReportLaunchFailure(a, spec.status().ToString());
  absl::StatusOr<std::unique_ptr<Process>> process =
      deps_.launcher.Launch(*spec);
  if (!process.ok()) return ReportLaunchFailure(a, process.status().ToString());
  ++stats_.launches;
  auto rank = std::make_unique<Rank>(a, std::move(*process));
  // An earlier attempt's lines are not this attempt's progress.
  rank->metrics.SkipExisting();
  Log(absl::StrCat(label, ": launched pid ", rank->process->pid(), " (world ",
                   a.world_size(), ", master ", a.master_addr(), ":",
                   a.master_port(), ", out ", a.output_dir(), ", log ",
                   spec->log_path, ")"));
  ranks_.push_back(std::move(rank));
}

void WorkerAgent::ReportLaunchFailure(const v1::Assignment& a,
                                      const std::string& message) {
  Log(absl::StrCat(RankLabel(a.job_id(), a.epoch(), a.rank()),
                   ": launch failed: ", message));
  v1::ReportExitRequest report;
  report.set_job_id(a.job_id());
  report.set_epoch(a.epoch());
  report.set_rank(a.rank());
  report.set_cause(v1::EXIT_CAUSE_LAUNCH_FAILED);
  ++stats_.exits_by_cause[CauseLabel(report.cause())];
  report.set_exit_code(-1);
  report.set_message(message);
  QueueReport(std::move(report));
}

void WorkerAgent::QueueReport(v1::ReportCheckpointRequest report) {
  const v1::Checkpoint& c = report.checkpoint();
  std::string what = absl::StrCat(RankLabel(c.job_id(), c.epoch(), 0),
                                  ": checkpoint step ", c.step());
  reports_.Push(std::move(what), [this, report]() mutable {
    report.set_worker_id(options_.worker_id);
    report.set_lease_id(lease_id_);
    return deps_.coordinator.ReportCheckpoint(report).status();
  });
}

void WorkerAgent::QueueReport(v1::ReportExitRequest report) {
  std::string what =
      absl::StrCat(RankLabel(report.job_id(), report.epoch(), report.rank()),
                   ": exit (", v1::ExitCause_Name(report.cause()), ")");
  reports_.Push(std::move(what), [this, report]() mutable {
    report.set_worker_id(options_.worker_id);
    report.set_lease_id(lease_id_);
    return deps_.coordinator.ReportExit(report).status();
  });
}

void WorkerAgent::StopRank(Rank& r, const std::string& reason) {
  if (r.exited || r.kill_at) return;  // already stopping
  r.stop_reason = reason;
  r.kill_at = deps_.clock.Now() + options_.stop_grace;
  Log(absl::StrCat(r.label, ": stopping (", reason, "): SIGTERM to pid ",
                   r.process->pid(), ", SIGKILL after ",
                   absl::FormatDuration(options_.stop_grace)));
  r.process->Signal(SIGTERM);
}

void WorkerAgent::KillRank(Rank& r, const std::string& reason) {
  if (r.exited || r.sigkilled) return;
  r.stop_reason = reason;
  r.sigkilled = true;
  Log(absl::StrCat(r.label, ": SIGKILL to pid ", r.process->pid(), " (", reason,
                   ")"));
  r.process->Signal(SIGKILL);
}

void WorkerAgent::ReapRanks() {
  ranks_.erase(std::remove_if(ranks_.begin(), ranks_.end(),
                              [](const auto& r) {
                                return r->exited && r->metrics_drained &&
                                       r->points.empty() &&
                                       r->exit_heartbeat_sent;
                              }),
               ranks_.end());
}

// --- lease -----------------------------------------------------------------

void WorkerAgent::TryRegister() {
  const absl::Time now = deps_.clock.Now();
  if (now < next_register_at_) return;
  v1::RegisterWorkerRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_address(options_.address);
  request.set_cpu_slots(options_.cpu_slots);
  request.set_gpu_slots(options_.gpu_slots);
  request.set_rendezvous_port_min(options_.rendezvous_port_min);
  request.set_rendezvous_port_max(options_.rendezvous_port_max);
  absl::StatusOr<v1::RegisterWorkerResponse> response =
      deps_.coordinator.Register(request);
  if (!response.ok()) {
    ++register_failures_;
    ++stats_.register_failures;
    next_register_at_ = now + register_backoff_;
    if ((register_failures_ & (register_failures_ - 1)) ==
        0) {  // tries 1, 2, 4, 8, ...
      Log(absl::StrCat("register failed (try ", register_failures_,
                       "), retrying in ",
                       absl::FormatDuration(register_backoff_), ": ",
                       response.status().ToString()));
    }
    register_backoff_ =
        std::min(register_backoff_ * 2, options_.register_backoff_max);
    return;
  }
  registered_ = true;
  ++stats_.registrations;
  lease_id_ = response->lease_id();
  lease_epoch_ = response->epoch();
  lease_ttl_ =
      MillisOr(response->lease_ttl_millis(), options_.default_lease_ttl);
  heartbeat_interval_ = MillisOr(response->heartbeat_interval_millis(),
                                 options_.default_heartbeat_interval);
  lease_renewed_at_ = now;
  register_failures_ = 0;
  register_backoff_ = options_.register_backoff_initial;
  Log(absl::StrCat(
      "registered: lease ", lease_id_, " epoch ", lease_epoch_, " ttl ",
      absl::FormatDuration(lease_ttl_), " heartbeat every ",
      absl::FormatDuration(heartbeat_interval_), " (", options_.cpu_slots,
      " cpu slots, ", options_.gpu_slots, " gpu slots)"));
}

void WorkerAgent::CheckLeaseExpiry() {
  if (!registered_) return;
  const absl::Duration since = deps_.clock.Now() - lease_renewed_at_;
  if (since >= lease_ttl_) {
    LoseLease(absl::StrCat("no heartbeat succeeded for ",
                           absl::FormatDuration(since), " (lease TTL ",
                           absl::FormatDuration(lease_ttl_),
                           "), so the coordinator has expired it"));
  }
}

void WorkerAgent::LoseLease(const std::string& why) {
  Log(absl::StrCat("lease ", lease_id_, " lost: ", why, "; killing ",
                   live_ranks(), " rank(s), re-registering"));
  registered_ = false;
  lease_id_.clear();
  heartbeat_failures_ = 0;
  ++stats_.leases_lost;
  next_register_at_ = absl::InfinitePast();
  register_backoff_ = options_.register_backoff_initial;
  // Fencing: the coordinator may already run these ranks elsewhere.
  for (auto& r : ranks_) KillRank(*r, absl::StrCat("lease lost: ", why));
}

void WorkerAgent::SendHeartbeat() {
  const absl::Time sent_at = deps_.clock.Now();
  v1::HeartbeatRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_lease_id(lease_id_);
  size_t budget = options_.max_points_per_heartbeat;
  std::vector<std::pair<Rank*, size_t>> taken;  // points sent per rank
  for (auto& r : ranks_) {
    TopUpMetrics(*r);
    v1::RankStatus* s = request.add_ranks();
    s->set_job_id(r->assignment.job_id());
    s->set_epoch(r->assignment.epoch());
    s->set_rank(r->assignment.rank());
    s->set_running(!r->exited);
    if (r->progress) *s->mutable_progress() = *r->progress;
    const size_t n = std::min(budget, r->points.size());
    for (size_t i = 0; i < n; ++i) *s->add_points() = r->points[i];
    budget -= n;
    taken.emplace_back(r.get(), n);
  }
  for (const v1::Checkpoint& c : deleted_) *request.add_deleted_checkpoints() = c;
  absl::StatusOr<v1::HeartbeatResponse> response =
      deps_.coordinator.Heartbeat(request);
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kNotFound) {
      LoseLease(absl::StrCat("heartbeat: ", response.status().ToString()));
      return;
    }
    ++heartbeat_failures_;
    ++stats_.heartbeats_failed;
    if ((heartbeat_failures_ & (heartbeat_failures_ - 1)) ==
        0) {  // failures 1, 2, 4, 8, ...
      Log(absl::StrCat(
          "heartbeat failed (", heartbeat_failures_,
          " in a row): ", response.status().ToString(), " (last success ",
          absl::FormatDuration(deps_.clock.Now() - lease_renewed_at_),
          " ago, lease TTL ", absl::FormatDuration(lease_ttl_), ")"));
    }
    CheckLeaseExpiry();
    return;
  }
  if (!Failpoint("worker.mid_heartbeat").ok()) return;  // as if lost
  if (heartbeat_failures_ > 0)
    Log(absl::StrCat("heartbeat succeeded after ", heartbeat_failures_,
                     " failure(s)"));
  heartbeat_failures_ = 0;
  ++stats_.heartbeats_ok;
  // The coordinator extended the lease from no earlier than when this was sent.
  lease_renewed_at_ = sent_at;
  lease_ttl_ = MillisOr(response->lease_ttl_millis(), lease_ttl_);
  for (auto& [r, n] : taken) {
    r->points.erase(r->points.begin(),
                    r->points.begin() + static_cast<std::ptrdiff_t>(n));
    if (r->exited) r->exit_heartbeat_sent = true;
  }
  deleted_.clear();
  for (const v1::Checkpoint& c : response->delete_checkpoints())
    DeleteCheckpoint(c);
  for (const v1::Cancellation& c : response->cancellations()) {
    bool any = false;
    for (auto& r : ranks_) {
      if (r->exited || r->assignment.job_id() != c.job_id()) continue;
      if (c.epoch() != 0 && r->assignment.epoch() != c.epoch()) continue;
      any = true;
      StopRank(*r,
               c.reason().empty() ? "cancelled" : "cancelled: " + c.reason());
    }
    if (!any) {
      // Not started yet (or already gone): make sure it never starts.
      for (const v1::Assignment& a : response->assignments()) {
        if (a.job_id() == c.job_id() &&
            (c.epoch() == 0 || a.epoch() == c.epoch())) {
          started_.insert(RankKey{a.job_id(), a.epoch(), a.rank()});
        }
      }
    }
  }
  for (const v1::Assignment& a : response->assignments()) {
    if (draining_) {
      if (started_.count(RankKey{a.job_id(), a.epoch(), a.rank()})) continue;
      Log(absl::StrCat(RankLabel(a.job_id(), a.epoch(), a.rank()),
                       ": not started: this worker is shutting down"));
      continue;
    }
    Launch(a);
  }
}

void WorkerAgent::DeleteCheckpoint(const v1::Checkpoint& c) {
  const std::string what =
      absl::StrCat(c.job_id(), ": checkpoint step ", c.step(), " (", c.path(), ")");
  int64_t step = 0;
  if (!ParseCheckpointPath(c.path(), &step) ||
      std::filesystem::path(DirName(c.path())).filename() != "checkpoints") {
    Log(absl::StrCat("not deleting ", what,
                     ": not a checkpoints/step-<N> directory"));
    return;
  }
  const Status deleted = CheckpointStore::Delete(c.path());
  if (!deleted.ok()) {
    Log(absl::StrCat("cannot delete ", what, " (retried later): ",
                     deleted.ToString()));
    return;
  }
  Log(absl::StrCat("deleted retired ", what));
  v1::Checkpoint& done = deleted_.emplace_back();
  done.set_job_id(c.job_id());
  done.set_step(c.step());
}

void WorkerAgent::TopUpMetrics(Rank& r) {
  if (r.metrics_drained) return;
  const int64_t now_micros = absl::ToUnixMicros(deps_.clock.Now());
  const bool had_latest = r.metrics.latest().has_value();
  const int64_t before = had_latest ? r.metrics.latest()->step : 0;
  bool read_any = false;
  while (r.points.size() < options_.max_points_per_heartbeat) {
    std::vector<MetricRecord> records = r.metrics.ReadNew(64);
    if (records.empty()) {
      if (r.exited)
        r.metrics_drained = true;  // it wrote its last line before it exited
      break;
    }
    read_any = true;
    for (const MetricRecord& m : records) {
      if (const double ratio = m.Get("collapse_ratio", -1); ratio >= 0) {
        r.collapse_ratio = ratio;
        r.collapse_alarm = m.Get("collapse_alarm") > 0;
      }
      for (const auto& [name, value] : m.values) {
        v1::MetricPoint* p = &r.points.emplace_back();
        p->set_name(name);
        p->set_rank(r.assignment.rank());
        p->set_step(m.step);
        p->set_value(value);
        p->set_unix_micros(now_micros);
      }
    }
  }
  const auto& latest = r.metrics.latest();
  // Progress is what this attempt wrote: lines skipped at launch do not count.
  if (latest && (read_any || !had_latest || latest->step != before)) {
    v1::RankProgress p;
    p.set_rank(r.assignment.rank());
    p.set_step(latest->step);
    p.set_loss(latest->Get("loss"));
    p.set_samples_per_second(latest->Get("samples_per_s"));
    p.set_step_seconds(latest->Get("step_s"));
    p.set_data_wait_seconds(latest->Get("data_wait_s"));
    p.set_allreduce_seconds(latest->Get("allreduce_s"));
    p.set_model_flops_per_second(latest->Get("model_flops_per_s"));
    p.set_mfu(latest->Get("mfu"));
    p.set_collapse_ratio(r.collapse_ratio);
    p.set_collapse_alarm(r.collapse_alarm);
    p.set_update_unix_micros(now_micros);
    r.progress = p;
  }
}

// --- loop ------------------------------------------------------------------

absl::Duration WorkerAgent::NextTickDelay() const {
  const absl::Time now = deps_.clock.Now();
  absl::Duration d = heartbeat_interval_;
  if (!registered_)
    d = std::min(d, std::max(absl::ZeroDuration(), next_register_at_ - now));
  if (registered_)
    d = std::min(d, std::max(absl::ZeroDuration(),
                             lease_renewed_at_ + lease_ttl_ - now));
  for (const auto& r : ranks_) {
    if (r->kill_at && !r->sigkilled && !r->exited)
      d = std::min(d, std::max(absl::ZeroDuration(), *r->kill_at - now));
  }
  return d;
}

void WorkerAgent::Run(const std::atomic<bool>& stop) {
  Log(absl::StrCat("started (address ", options_.address, ", trainer ",
                   options_.trainer_path, ")"));
  TickUntilStopped(
      stop, [this] { Tick(); }, [this] { return NextTickDelay(); },
      deps_.sleep);
  Shutdown();
}

void WorkerAgent::Shutdown() {
  draining_ = true;
  const absl::Time deadline = deps_.clock.Now() + options_.stop_grace +
                              options_.shutdown_report_timeout;
  Log(absl::StrCat("shutting down: stopping ", live_ranks(), " rank(s)"));
  for (auto& r : ranks_) StopRank(*r, "worker shutting down");
  while (true) {
    Tick();
    if (live_ranks() == 0 && reports_.empty()) break;
    if (deps_.clock.Now() >= deadline) {
      Log(absl::StrCat("shutdown: giving up with ", live_ranks(),
                       " rank(s) alive and ", reports_.size(),
                       " report(s) undelivered"));
      break;
    }
    deps_.sleep(std::max(NextTickDelay(), absl::Milliseconds(10)));
  }
  Log("stopped");
}

}  // namespace reca
