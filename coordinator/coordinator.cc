// Coordinator: loading, the commit path, scheduling and lease expiry.
// The RPC handlers are in job_handlers.cc and worker_handlers.cc.
#include "coordinator/coordinator.h"

#include <algorithm>
#include <climits>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/failpoint.h"
#include "coordinator/keys.h"
#include "coordinator/scheduler.h"
#include "reca/status.h"

namespace reca::coordinator {
namespace {

absl::StatusOr<int64_t> LoadCounter(const KvStore& store,
                                    const std::string& key) {
  RECA_ASSIGN_OR_RETURN(std::optional<std::string> value, store.Get(key));
  if (!value) return 1;
  int64_t n = 0;
  if (!absl::SimpleAtoi(*value, &n) || n < 1) {
    return absl::DataLossError(absl::StrCat("coordinator store: ", key,
                                            ": not a counter: '", *value, "'"));
  }
  return n;
}

bool Contains(const google::protobuf::RepeatedField<int32_t>& ranks, int rank) {
  return std::find(ranks.begin(), ranks.end(), rank) != ranks.end();
}

// Workers the job's attempts failed on repeatedly, in name order.
std::vector<std::string> AvoidedWorkers(const v1::Job& job) {
  std::vector<std::string> out;
  for (const auto& [worker, failures] : job.failures_by_worker()) {
    if (failures >= 2) out.push_back(worker);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

namespace {

PathRoots SpecRoots(const CoordinatorOptions& options) {
  PathRoots roots;
  if (options.data_roots.empty()) return roots;  // anywhere
  roots.roots = options.data_roots;
  roots.roots.push_back(options.runs_root);
  roots.check_relative = false;
  return roots;
}

}  // namespace

Coordinator::Coordinator(CoordinatorDeps deps, CoordinatorOptions options)
    : deps_(deps),
      options_(std::move(options)),
      spec_roots_(SpecRoots(options_)),
      started_(deps.clock.Now()) {}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    CoordinatorDeps deps, CoordinatorOptions options) {
  std::unique_ptr<Coordinator> c(new Coordinator(deps, std::move(options)));
  RECA_RETURN_IF_ERROR(c->Load());
  return c;
}

absl::Status Coordinator::Load() {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(next_job_seq_,
                        LoadCounter(deps_.store, keys::kNextJobSeq));
  RECA_ASSIGN_OR_RETURN(next_epoch_,
                        LoadCounter(deps_.store, keys::kNextEpoch));
  RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> jobs,
                        deps_.store.Scan(keys::kJobPrefix));
  for (const auto& [key, value] : jobs) {
    JobEntry entry;
    if (!entry.job.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("coordinator store: ", key, ": unreadable job record"));
    }
    entry.next_event_seq = entry.job.event_count();
    entry.last_step_at = deps_.clock.Now();
    const std::string id = entry.job.id();
    bool holds = false;
    for (int r = 0; r < entry.job.attempt().placements_size(); ++r)
      holds |= HoldsSlot(entry.job, r);
    if (entry.job.state() == v1::QUEUED ||
        entry.job.state() == v1::RESTARTING || IsActive(entry.job.state()) ||
        holds)
      unfinished_.insert(id);
    jobs_.emplace(id, std::move(entry));
  }
  for (const auto& [id, entry] : jobs_) {
    RECA_RETURN_IF_ERROR(QueueEvaluations(entry.job));
    RECA_RETURN_IF_ERROR(LoadDeletions(id));
  }
  RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> workers,
                        deps_.store.Scan(keys::kWorkerPrefix));
  const absl::Time expiry = deps_.clock.Now() + options_.lease_ttl;
  for (const auto& [key, value] : workers) {
    WorkerEntry entry;
    if (!entry.record.ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat("coordinator store: ", key,
                                              ": unreadable worker record"));
    }
    entry.lease_expiry = expiry;  // a fresh TTL: see the header
    workers_.emplace(entry.record.id(), std::move(entry));
  }
  std::cerr << "coordinator: loaded " << jobs_.size() << " jobs ("
            << unfinished_.size() << " unfinished), " << workers_.size()
            << " worker leases\n";
  return absl::OkStatus();
}

Coordinator::JobEntry* Coordinator::FindJob(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::StatusOr<Coordinator::WorkerEntry*> Coordinator::CheckLease(
    const std::string& worker_id, const std::string& lease_id) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.record.lease_id() != lease_id) {
    return absl::NotFoundError(absl::StrCat(
        "worker ", worker_id, ": lease ", lease_id,
        " is unknown or expired; stop its ranks and register again"));
  }
  return &it->second;
}

absl::Status Coordinator::CommitJob(JobEntry& entry, v1::Job updated,
                                    const std::string& message,
                                    WriteBatch extra) {
  std::vector<v1::JobEvent> events;
  updated.set_version(entry.job.version() + 1);
  if (!message.empty()) {
    v1::JobEvent event;
    event.set_job_id(updated.id());
    event.set_seq(entry.next_event_seq);
    event.set_unix_micros(NowMicros());
    event.set_state(updated.state());
    event.set_message(message);
    extra.Put(keys::Event(updated.id(), event.seq()),
              event.SerializeAsString());
    updated.set_event_count(entry.next_event_seq + 1);
    events.push_back(std::move(event));
  }
  extra.Put(keys::Job(updated.id()), updated.SerializeAsString());
  RECA_FAILPOINT("coordinator.before_state_write");
  RECA_RETURN_IF_ERROR(deps_.store.Write(extra.set_sync(true)));
  RECA_FAILPOINT("coordinator.after_state_write");
  entry.job = std::move(updated);
  entry.next_event_seq = entry.job.event_count();
  if (!IsActive(entry.job.state())) {  // its per-rank series leave /metrics
    step_seconds_.erase(step_seconds_.lower_bound({entry.job.id(), INT_MIN}),
                        step_seconds_.upper_bound({entry.job.id(), INT_MAX}));
  }
  if (!message.empty()) {
    std::cerr << "coordinator: " << entry.job.id() << ": "
              << v1::JobState_Name(entry.job.state()) << ": " << message
              << "\n";
  }
  NotifyWatchers(entry.job, events);
  return absl::OkStatus();
}

void Coordinator::NotifyWatchers(const v1::Job& job,
                                 const std::vector<v1::JobEvent>& events) {
  if (watches_.empty()) return;
  v1::WatchJobResponse update;
  bool built = false;
  for (auto& [id, watch] : watches_) {
    if (watch.job_id != job.id()) continue;
    if (!built) {
      *update.mutable_job() = job;
      for (const v1::JobEvent& e : events) *update.add_events() = e;
      built = true;
    }
    watch.callback(update);
  }
}

bool Coordinator::HoldsSlot(const v1::Job& job, int rank) {
  if (Contains(job.attempt().exited_ranks(), rank)) return false;
  if (IsActive(job.state())) return true;
  // A finished job's rank that is still running until its worker stops it.
  return Contains(job.attempt().started_ranks(), rank);
}

absl::Status Coordinator::FailJob(JobEntry& entry, v1::Job updated,
                                  const std::string& failure,
                                  const std::string& reason, bool retryable,
                                  const std::string& worker_id,
                                  WriteBatch extra) {
  updated.set_failure(failure);
  updated.set_failure_reason(reason);
  if (!worker_id.empty()) ++(*updated.mutable_failures_by_worker())[worker_id];
  const int64_t epoch = updated.attempt().epoch();
  if (retryable && !updated.cancel_requested() &&
      updated.restarts() < updated.max_restarts()) {
    updated.set_state(v1::RESTARTING);
    updated.set_restarts(updated.restarts() + 1);
    const std::string from =
        updated.latest_checkpoint_step() >= 0
            ? absl::StrCat("its checkpoint at step ",
                           updated.latest_checkpoint_step())
            : std::string("the start (no checkpoint yet)");
    const std::string message = absl::StrCat(
        "attempt (epoch ", epoch, ") failed: ", failure, "; restart ",
        updated.restarts(), " of ", updated.max_restarts(), " from ", from,
        " once its other ranks have stopped");
    RECA_RETURN_IF_ERROR(
        CommitJob(entry, std::move(updated), message, std::move(extra)));
    return MaybeFinish(entry);
  }
  std::string message = "failed: " + failure;
  if (!retryable) {
    absl::StrAppend(&message, " (", reason, ": not retried)");
  } else if (updated.max_restarts() > 0 && !updated.cancel_requested()) {
    absl::StrAppend(&message, " (all ", updated.max_restarts(),
                    " restarts used)");
  }
  updated.set_state(v1::FAILED);
  updated.set_end_unix_micros(NowMicros());
  RECA_RETURN_IF_ERROR(
      CommitJob(entry, std::move(updated), message, std::move(extra)));
  return MaybeFinish(entry);
}

absl::Status Coordinator::MaybeRequeue(JobEntry& entry) {
  const v1::Job& job = entry.job;
  for (int r = 0; r < job.attempt().placements_size(); ++r) {
    if (HoldsSlot(job, r)) return absl::OkStatus();  // still stopping
  }
  v1::Job updated = job;
  if (job.cancel_requested()) {
    updated.set_state(v1::CANCELLED);
    updated.set_end_unix_micros(NowMicros());
    RECA_RETURN_IF_ERROR(CommitJob(
        entry, std::move(updated), "cancelled while restarting; every rank has stopped"));
    unfinished_.erase(job.id());
    return absl::OkStatus();
  }
  updated.set_state(v1::QUEUED);
  const std::string preempted_by = job.preempted_by();
  updated.clear_preempted_by();
  updated.set_queue_reason(preempted_by.empty()
                               ? "restarting: waiting for a gang placement"
                               : "preempted by " + preempted_by +
                                     ": waiting for a gang placement");
  return CommitJob(
      entry, std::move(updated),
      preempted_by.empty()
          ? absl::StrCat("every rank of epoch ", job.attempt().epoch(),
                         " has stopped; queued again (restart ",
                         job.restarts(), " of ", job.max_restarts(), ")")
          : absl::StrCat("every rank of epoch ", job.attempt().epoch(),
                         " has stopped; queued again after preemption ",
                         job.preemptions(), " (no restart spent)"));
}

absl::Status Coordinator::MaybePreempt(const KindSummary& kind, bool gpu) {
  if (kind.blocker.empty()) return absl::OkStatus();
  const JobEntry& blocker = jobs_.at(kind.blocker);
  const int need = std::max(1, blocker.job.resources().ranks());
  if (need > kind.total) return absl::OkStatus();  // never fits anyway
  // Slots of this kind held per job; those of jobs already stopping count as
  // free soon.
  int free = kind.free;
  std::vector<std::pair<JobEntry*, int>> victims;  // and the slots they hold
  for (const std::string& id : unfinished_) {
    JobEntry& entry = jobs_.at(id);
    const v1::Job& job = entry.job;
    if ((job.resources().accelerator() == v1::GPU) != gpu) continue;
    int held = 0;
    for (int r = 0; r < job.attempt().placements_size(); ++r)
      held += HoldsSlot(job, r) ? 1 : 0;
    if (held == 0) continue;
    if (!IsActive(job.state()) || job.cancel_requested()) {
      free += held;
    } else if (job.priority() < blocker.job.priority()) {
      victims.emplace_back(&entry, held);
    }
  }
  if (free >= need) return absl::OkStatus();  // waits for ranks stopping now
  // The lowest priority first, then the most recently submitted.
  std::sort(victims.begin(), victims.end(), [](const auto& a, const auto& b) {
    if (a.first->job.priority() != b.first->job.priority())
      return a.first->job.priority() < b.first->job.priority();
    return a.first->job.id() > b.first->job.id();
  });
  std::vector<JobEntry*> chosen;
  for (const auto& [v, held] : victims) {
    if (free >= need) break;
    chosen.push_back(v);
    free += held;
  }
  if (free < need) return absl::OkStatus();  // preempting cannot make room
  for (JobEntry* v : chosen) {
    v1::Job updated = v->job;
    updated.set_state(v1::RESTARTING);
    updated.set_preemptions(updated.preemptions() + 1);
    updated.set_preempted_by(blocker.job.id());
    RECA_RETURN_IF_ERROR(CommitJob(
        *v, std::move(updated),
        absl::StrCat("preempted by ", blocker.job.id(), " (priority ",
                     blocker.job.priority(), " > ", v->job.priority(),
                     "): its ranks checkpoint and stop, then it is queued "
                     "again and resumes from that checkpoint")));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::MaybeFinish(JobEntry& entry) {
  if (entry.job.state() == v1::RESTARTING) return MaybeRequeue(entry);
  const v1::Job& job = entry.job;
  const int ranks = job.attempt().placements_size();
  if (IsActive(job.state())) {
    int exited = job.attempt().exited_ranks_size();
    bool started_all_exited = true;
    for (int r : job.attempt().started_ranks())
      started_all_exited &= Contains(job.attempt().exited_ranks(), r);
    v1::Job updated = job;
    if (job.cancel_requested() && started_all_exited) {
      updated.set_state(v1::CANCELLED);
      updated.set_end_unix_micros(NowMicros());
      RECA_RETURN_IF_ERROR(
          CommitJob(entry, std::move(updated),
                    "cancelled; every started rank has stopped"));
    } else if (!job.cancel_requested() && exited == ranks) {
      updated.set_state(v1::SUCCEEDED);
      updated.set_end_unix_micros(NowMicros());
      RECA_RETURN_IF_ERROR(CommitJob(
          entry, std::move(updated),
          absl::StrCat("succeeded: all ", ranks, " ranks exited 0",
                       job.latest_checkpoint_step() >= 0
                           ? absl::StrCat("; last checkpoint step ",
                                          job.latest_checkpoint_step())
                           : "")));
      RECA_RETURN_IF_ERROR(QueueEvaluations(entry.job));  // its last checkpoint
    }
  }
  if (!IsActive(entry.job.state()) && entry.job.state() != v1::QUEUED) {
    bool holds = false;
    for (int r = 0; r < ranks; ++r) holds |= HoldsSlot(entry.job, r);
    if (!holds) unfinished_.erase(entry.job.id());
  }
  return absl::OkStatus();
}

absl::Status Coordinator::Tick() {
  absl::MutexLock lock(&mu_);
  ExpireClaims();
  RECA_RETURN_IF_ERROR(ExpireLeases());
  RECA_RETURN_IF_ERROR(FailStalledJobs());
  // A transition a crash cut short: a restart whose ranks all stopped, or a
  // job whose ranks all exited, before the coordinator restarted.
  const std::vector<std::string> jobs(unfinished_.begin(), unfinished_.end());
  for (const std::string& id : jobs)
    RECA_RETURN_IF_ERROR(MaybeFinish(jobs_.at(id)));
  return ScheduleQueued();
}

std::vector<v1::Worker> Coordinator::Workers() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Worker> out;
  for (const auto& [id, w] : workers_) out.push_back(w.record);
  return out;
}

absl::Status Coordinator::ExpireLeases() {
  const absl::Time now = deps_.clock.Now();
  std::vector<std::string> expired;
  for (const auto& [id, w] : workers_) {
    if (w.lease_expiry <= now) expired.push_back(id);
  }
  for (const std::string& id : expired) {
    RECA_RETURN_IF_ERROR(
        DropWorker(id, absl::StrCat("worker ", id, " lost: no heartbeat for ",
                                    absl::FormatDuration(options_.lease_ttl))));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::FailStalledJobs() {
  if (options_.stall_timeout <= absl::ZeroDuration()) return absl::OkStatus();
  const absl::Time now = deps_.clock.Now();
  const std::vector<std::string> ids(unfinished_.begin(), unfinished_.end());
  for (const std::string& id : ids) {
    JobEntry& entry = jobs_.at(id);
    const v1::Job& job = entry.job;
    if (job.state() != v1::RUNNING || job.cancel_requested() ||
        now - entry.last_step_at < options_.stall_timeout) {
      continue;
    }
    int64_t step = 0;
    for (const v1::RankProgress& p : job.progress()) step = std::max(step, p.step());
    RECA_RETURN_IF_ERROR(FailJob(
        entry, job,
        absl::StrCat("no rank finished a step for ",
                     absl::FormatDuration(now - entry.last_step_at),
                     " (at step ", step,
                     "): a rank is hung or blocked in a collective"),
        "stalled", /*retryable=*/true, /*worker_id=*/""));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::DropWorker(const std::string& worker_id,
                                     const std::string& why) {
  // Every job with a rank there loses that rank: active jobs fail, finished
  // ones stop waiting for it. The lease goes in the same batch as the first
  // job's transition, or alone.
  WriteBatch drop;
  drop.Delete(keys::Worker(worker_id));
  std::vector<std::string> affected(unfinished_.begin(), unfinished_.end());
  for (const std::string& id : affected) {
    JobEntry* entry = FindJob(id);
    if (entry == nullptr || entry->job.state() == v1::QUEUED) continue;
    v1::Job updated = entry->job;
    std::vector<int> lost;
    for (const v1::Placement& p : updated.attempt().placements()) {
      if (p.worker_id() == worker_id && HoldsSlot(updated, p.rank()))
        lost.push_back(p.rank());
    }
    if (lost.empty()) continue;
    for (int r : lost) updated.mutable_attempt()->add_exited_ranks(r);
    if (IsActive(updated.state()) && !updated.cancel_requested()) {
      RECA_RETURN_IF_ERROR(FailJob(
          *entry, std::move(updated),
          absl::StrCat(why, " (rank ", absl::StrJoin(lost, ", rank "), ")"),
          "worker_lost", /*retryable=*/true, worker_id, std::move(drop)));
    } else {
      RECA_RETURN_IF_ERROR(
          CommitJob(*entry, std::move(updated), why, std::move(drop)));
      RECA_RETURN_IF_ERROR(MaybeFinish(*entry));
    }
    drop = WriteBatch();
  }
  if (!drop.empty()) RECA_RETURN_IF_ERROR(deps_.store.Write(drop));
  workers_.erase(worker_id);
  std::cerr << "coordinator: " << why << "\n";
  return absl::OkStatus();
}

int Coordinator::PickRendezvousPort(const WorkerEntry& worker,
                                    int64_t epoch) const {
  const int lo = worker.record.rendezvous_port_min(),
            hi = worker.record.rendezvous_port_max();
  std::set<int> used;
  for (const std::string& id : unfinished_) {
    const v1::Job& job = jobs_.at(id).job;
    if (job.attempt().placements_size() > 0 &&
        job.attempt().placements(0).worker_id() == worker.record.id()) {
      used.insert(job.attempt().master_port());
    }
  }
  const int span = hi - lo + 1;
  // Start at a different port each attempt, so a port just freed (maybe in
  // TIME_WAIT) is not the first one reused.
  for (int i = 0; i < span; ++i) {
    const int port = lo + static_cast<int>((epoch * 7919 + i) % span);
    if (!used.count(port)) return port;
  }
  return lo + static_cast<int>(epoch % span);
}

int Coordinator::FreeGpuIndex(const std::string& worker_id,
                              const v1::Attempt& placing) const {
  std::set<int> used;
  for (const v1::Placement& p : placing.placements()) {
    if (p.worker_id() == worker_id) used.insert(p.gpu_index());
  }
  for (const std::string& id : unfinished_) {
    const v1::Job& job = jobs_.at(id).job;
    if (job.resources().accelerator() != v1::GPU) continue;
    for (const v1::Placement& p : job.attempt().placements()) {
      if (p.worker_id() == worker_id && HoldsSlot(job, p.rank()))
        used.insert(p.gpu_index());
    }
  }
  int index = 0;
  while (used.count(index)) ++index;
  return index;  // the scheduler only places a rank where a GPU slot is free
}

void Coordinator::SetQueueReason(JobEntry& entry, const std::string& reason) {
  if (entry.job.queue_reason() == reason) return;
  entry.job.set_queue_reason(reason);  // derived, not persisted on its own
  entry.job.set_version(entry.job.version() + 1);
  NotifyWatchers(entry.job, {});
}

absl::Status Coordinator::PlaceSubmitted(JobEntry& entry) {
  // The last pass's summary answers for a job that cannot start now, in
  // O(1) however long the queue is; only one that may start needs a pass.
  // Every change of capacity (register, exit, cancel, lost worker, the
  // periodic Tick) runs a full pass, which renews the summary.
  if (summary_valid_) {
    const v1::Job& job = entry.job;
    const GangRequest request{job.id(), std::max(1, job.resources().ranks()),
                              job.resources().accelerator() == v1::GPU,
                              job.priority()};
    KindSummary kind = summary_[request.gpu];
    if (std::optional<std::string> reason = Classify(request, kind)) {
      summary_[request.gpu] = kind;
      SetQueueReason(entry, *reason);
      return absl::OkStatus();
    }
  }
  return ScheduleQueued();
}

absl::Status Coordinator::ScheduleQueued() {
  std::vector<const v1::Job*> queued;
  for (const std::string& id : unfinished_) {
    const v1::Job& job = jobs_.at(id).job;
    if (job.state() == v1::QUEUED) queued.push_back(&job);
  }
  if (queued.empty()) {
    summary_valid_ = false;  // the next submit makes a full pass
    return absl::OkStatus();
  }
  std::stable_sort(queued.begin(), queued.end(),
                   [](const v1::Job* a, const v1::Job* b) {
                     return a->priority() > b->priority();
                   });
  std::vector<GangRequest> requests;
  for (const v1::Job* job : queued) {
    requests.push_back({job->id(), std::max(1, job->resources().ranks()),
                        job->resources().accelerator() == v1::GPU,
                        job->priority(), AvoidedWorkers(*job)});
  }
  std::map<std::string, WorkerCapacity> capacity;
  for (const auto& [id, w] : workers_) {
    capacity[id] = {id, w.record.cpu_slots(), w.record.gpu_slots(),
                    w.record.cpu_slots(), w.record.gpu_slots()};
  }
  for (const std::string& id : unfinished_) {
    const v1::Job& job = jobs_.at(id).job;
    const bool gpu = job.resources().accelerator() == v1::GPU;
    for (const v1::Placement& p : job.attempt().placements()) {
      auto it = capacity.find(p.worker_id());
      if (it == capacity.end() || !HoldsSlot(job, p.rank())) continue;
      --(gpu ? it->second.free_gpu : it->second.free_cpu);
    }
  }
  std::vector<WorkerCapacity> fleet;
  for (auto& [id, c] : capacity) fleet.push_back(c);
  const ScheduleResult result = Schedule(requests, std::move(fleet));

  for (const ScheduleResult::Waiting& w : result.waiting) {
    SetQueueReason(jobs_.at(w.job_id), w.reason);
  }
  summary_[0] = result.kinds[0];
  summary_[1] = result.kinds[1];
  summary_valid_ = true;
  for (int kind = 0; options_.preempt && kind < 2; ++kind) {
    RECA_RETURN_IF_ERROR(MaybePreempt(result.kinds[kind], kind == 1));
  }
  for (const ScheduleResult::Placed& placed : result.placed) {
    JobEntry& entry = jobs_.at(placed.job_id);
    v1::Job updated = entry.job;
    const int64_t epoch = next_epoch_;
    v1::Attempt* attempt = updated.mutable_attempt();
    attempt->Clear();
    attempt->set_epoch(epoch);
    attempt->set_resume_step(updated.latest_checkpoint_step());
    std::vector<std::string> where;
    const bool gpu = updated.resources().accelerator() == v1::GPU;
    for (size_t r = 0; r < placed.worker_per_rank.size(); ++r) {
      const int gpu_index =
          gpu ? FreeGpuIndex(placed.worker_per_rank[r], *attempt) : 0;
      v1::Placement* p = attempt->add_placements();
      p->set_rank(static_cast<int>(r));
      p->set_worker_id(placed.worker_per_rank[r]);
      p->set_gpu_index(gpu_index);
      where.push_back(
          absl::StrCat("rank ", r, " on ", placed.worker_per_rank[r]));
      if (gpu) absl::StrAppend(&where.back(), " (gpu ", gpu_index, ")");
    }
    const WorkerEntry& rank0 = workers_.at(placed.worker_per_rank[0]);
    attempt->set_master_addr(rank0.record.address());
    attempt->set_master_port(PickRendezvousPort(rank0, epoch));
    attempt->set_start_unix_micros(NowMicros());
    updated.set_state(v1::SCHEDULED);
    updated.clear_queue_reason();
    std::string message =
        absl::StrCat("scheduled: ", absl::StrJoin(where, ", "), " (epoch ",
                     epoch, ", rendezvous ", attempt->master_addr(), ":",
                     attempt->master_port(), ")");
    if (const std::vector<std::string> avoid = AvoidedWorkers(updated); !avoid.empty()) {
      absl::StrAppend(&message, "; avoiding ", absl::StrJoin(avoid, ", "),
                      " (failed there repeatedly)");
    }
    WriteBatch batch;
    batch.Put(keys::kNextEpoch, std::to_string(epoch + 1));
    RECA_RETURN_IF_ERROR(
        CommitJob(entry, std::move(updated), message, std::move(batch)));
    next_epoch_ = epoch + 1;
  }
  return absl::OkStatus();
}

}  // namespace reca::coordinator
