// The worker daemon's core (DESIGN.md §5.3): holds a lease with the
// coordinator, runs one `reca-train` process per assigned rank, forwards
// their progress and metric points, reports committed checkpoints and exits,
// and stops its ranks when a job is cancelled or the lease is lost.
// No gRPC here: the coordinator, processes and time are injected.
#ifndef RECA_WORKER_WORKER_AGENT_H_
#define RECA_WORKER_WORKER_AGENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/process.h"
#include "common/report_outbox.h"
#include "reca/v1/worker_service.pb.h"
#include "worker/coordinator_client.h"

namespace reca {

struct WorkerOptions {
  std::string worker_id;
  std::string address = "127.0.0.1";  // its ranks bind Gloo here (--local_addr)
  int cpu_slots = 1;
  int gpu_slots = 0;
  int rendezvous_port_min = 29600;
  int rendezvous_port_max = 29699;
  std::string trainer_path = "reca-train";
  int default_threads = 1;  // --threads when an assignment says 0
  double gpu_peak_flops = 0;  // --gpu_peak_flops (0 = the trainer measures)
  // The spec files' allowed roots (reca-train --data_roots); empty = anywhere.
  std::vector<std::string> data_roots;
  // SIGTERM -> SIGKILL on cancel and shutdown.
  absl::Duration stop_grace = absl::Seconds(30);
  absl::Duration register_backoff_initial = absl::Milliseconds(500);
  absl::Duration register_backoff_max = absl::Seconds(30);
  // Until the coordinator's RegisterWorkerResponse says otherwise.
  absl::Duration default_heartbeat_interval = absl::Seconds(1);
  absl::Duration default_lease_ttl = absl::Seconds(10);
  // More metric points wait for the next heartbeat.
  size_t max_points_per_heartbeat = 2000;
  // Sends of a report failing otherwise than UNAVAILABLE/DEADLINE_EXCEEDED.
  int max_report_attempts = 5;
  // Shutdown gives up on undelivered reports this long after the grace period.
  absl::Duration shutdown_report_timeout = absl::Seconds(10);
};

// What the worker's /metrics shows (worker/prometheus_export.h): published
// at the end of every Tick.
struct WorkerStats {
  std::string worker_id;
  bool registered = false;
  int64_t lease_epoch = 0;
  double last_heartbeat_unix_s = 0;  // last successful heartbeat or register
  int cpu_slots = 0, gpu_slots = 0;
  struct RankRow {
    std::string job_id;
    int32_t rank = 0;
    int64_t epoch = 0;
    int64_t step = 0;  // latest progress read from its metrics file
  };
  std::vector<RankRow> ranks;  // rank processes still running
  size_t pending_reports = 0;  // checkpoint/exit reports not yet delivered
  // Since this worker started.
  uint64_t heartbeats_ok = 0, heartbeats_failed = 0;
  uint64_t registrations = 0, register_failures = 0, leases_lost = 0;
  uint64_t launches = 0;
  std::map<std::string, uint64_t> exits_by_cause;  // "success", "error", ...
};

// Single-threaded: Tick, Run and Shutdown are called from one thread (Run's
// `stop` may be set from any thread or a signal handler). Owns its rank
// processes; the dependencies in Deps must outlive it.
class WorkerAgent {
 public:
  struct Deps {
    CoordinatorClient& coordinator;
    ProcessLauncher& launcher;
    Clock& clock;
    // Run's and Shutdown's waits (default absl::SleepFor); tests advance
    // a FakeClock.
    std::function<void(absl::Duration)> sleep;
    // One log line, no newline (default: stderr); "worker <id>: ..."
    std::function<void(const std::string&)> log;
  };

  WorkerAgent(Deps deps, WorkerOptions options);
  // Ranks still alive are stopped by their Process (SIGTERM, then SIGKILL).
  ~WorkerAgent();

  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;

  // One iteration, never blocking longer than one RPC deadline per call:
  // polls the ranks (exits: newly committed checkpoints of rank 0, then the
  // exit, are queued as reports), SIGKILLs ranks past their stop grace,
  // fences itself (kills every rank) when no heartbeat succeeded within the
  // lease TTL, registers when it holds no lease (with backoff), sends queued
  // reports in order, then heartbeats: progress and metric points out,
  // assignments launched (once per job, epoch and rank), cancellations
  // started (a Cancellation with epoch 0 stops every epoch of the job), and
  // retired checkpoints deleted (acknowledged in the next heartbeat).
  // NOT_FOUND from Heartbeat kills every rank; the next Tick re-registers.
  void Tick();

  // Ticks until `stop` is set, waiting the heartbeat interval between ticks,
  // then Shutdown().
  void Run(const std::atomic<bool>& stop);

  // Stops accepting assignments, SIGTERMs every rank (SIGKILL after the
  // grace), keeps ticking until every rank has exited and its reports are
  // delivered, or until grace + shutdown_report_timeout.
  void Shutdown();

  // How long Run waits before the next Tick.
  absl::Duration NextTickDelay() const;

  bool registered() const { return registered_; }
  const std::string& lease_id() const { return lease_id_; }
  int64_t lease_epoch() const { return lease_epoch_; }
  size_t live_ranks() const;  // processes not yet exited
  size_t pending_reports() const { return reports_.size(); }
  // Thread-safe (the /metrics thread): the stats as of the last Tick.
  WorkerStats Stats() const;

 private:
  struct Rank;
  // job_id, epoch, rank
  using RankKey = std::tuple<std::string, int64_t, int32_t>;

  void Log(const std::string& line) const;
  void PollRanks();
  void ScanCheckpoints(Rank& rank);
  void TryRegister();
  void CheckLeaseExpiry();
  void LoseLease(const std::string& why);
  void SendHeartbeat();
  void TopUpMetrics(Rank& rank);
  void Launch(const v1::Assignment& assignment);
  // Queue a report; the lease is filled in when it is sent.
  void QueueReport(v1::ReportCheckpointRequest report);
  void QueueReport(v1::ReportExitRequest report);
  void ReportLaunchFailure(const v1::Assignment& assignment,
                           const std::string& message);
  void StopRank(Rank& rank, const std::string& reason);
  void KillRank(Rank& rank, const std::string& reason);
  void ReapRanks();
  void PublishStats();
  // A retired checkpoint the coordinator asks this worker to delete: only a
  // <...>/checkpoints/step-<N> directory; "already gone" is done too.
  void DeleteCheckpoint(const v1::Checkpoint& checkpoint);

  Deps deps_;
  const WorkerOptions options_;

  // Lease.
  bool registered_ = false;
  std::string lease_id_;
  int64_t lease_epoch_ = 0;
  absl::Duration lease_ttl_;
  absl::Duration heartbeat_interval_;
  // When the last successful heartbeat (or register) was sent.
  absl::Time lease_renewed_at_;
  absl::Time next_register_at_ = absl::InfinitePast();
  absl::Duration register_backoff_;
  int register_failures_ = 0;
  int heartbeat_failures_ = 0;  // in a row

  bool draining_ = false;  // Shutdown: no new ranks
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::set<RankKey> started_;  // every assignment taken, launched or not
  ReportOutbox reports_;
  // Deleted checkpoints, acknowledged in the next heartbeat that succeeds.
  std::vector<v1::Checkpoint> deleted_;
  WorkerStats stats_;  // the counters, updated as things happen
  mutable absl::Mutex published_mu_;
  WorkerStats published_ ABSL_GUARDED_BY(published_mu_);
};

}  // namespace reca

#endif  // RECA_WORKER_WORKER_AGENT_H_
