// The evaluator daemon's core (DESIGN.md §5.4): claims one evaluation task at
// a time from the coordinator, runs `reca-eval` on the task's checkpoint,
// keeps the claim alive while it runs, and reports the scores (or why there
// are none). No gRPC here: the coordinator, processes and time are injected.
#ifndef RECA_EVALUATOR_EVALUATOR_AGENT_H_
#define RECA_EVALUATOR_EVALUATOR_AGENT_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "common/process.h"
#include "common/report_outbox.h"
#include "evaluator/coordinator_client.h"
#include "evaluator/eval_launch.h"
#include "reca/v1/evaluator_service.pb.h"

namespace reca {

struct EvaluatorOptions {
  std::string evaluator_id;
  std::string eval_binary = "reca-eval";
  int threads = 1;            // reca-eval --threads, OPENBLAS/OMP_NUM_THREADS
  int images_per_prompt = 0;  // reca-eval flags, passed only when > 0
  int prompts_per_tag = 0;
  int edit_pairs_per_category = 0;
  GenEvalFlags geneval;  // reca-eval --geneval_*, passed only when set
  // Between claims while idle, and between polls of a running reca-eval.
  absl::Duration poll_interval = absl::Seconds(1);
  // Shutdown: SIGTERM -> SIGKILL.
  absl::Duration stop_grace = absl::Seconds(10);
  // When a ClaimEvaluationResponse says no claim_ttl_millis.
  absl::Duration default_claim_ttl = absl::Seconds(30);
};

// Scoring durations' bucket bounds (seconds).
inline constexpr std::array<double, 10> kScoringSecondsBuckets = {
    1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600};

// What the evaluator's /metrics shows (evaluator/prometheus_export.h):
// published at the end of every Tick.
struct EvaluatorStats {
  std::string evaluator_id;
  bool busy = false;  // a reca-eval is running
  size_t pending_reports = 0;
  // Since this evaluator started.
  uint64_t claims = 0, claim_failures = 0;
  // Tasks by outcome: scored, failed (reca-eval failed or could not start),
  // dropped (the claim expired under it).
  std::map<std::string, uint64_t> tasks;
  Histogram<kScoringSecondsBuckets.size()> scoring_seconds;  // reca-eval runs
  // The last scored checkpoint's values: suite -> metric -> value.
  std::string last_job_id;
  int64_t last_step = -1;
  std::map<std::string, std::map<std::string, double>> last_scores;
};

// Single-threaded: Tick, Run and Shutdown are called from one thread (Run's
// `stop` may be set from any thread or a signal handler). Owns its reca-eval
// process; the dependencies in Deps must outlive it.
class EvaluatorAgent {
 public:
  struct Deps {
    EvaluatorCoordinatorClient& client;
    ProcessLauncher& launcher;
    Clock& clock;
    // Run's and Shutdown's waits (default absl::SleepFor); tests advance a
    // FakeClock.
    std::function<void(absl::Duration)> sleep;
    // One log line, no newline (default: stderr); "evaluator <id>: ..."
    std::function<void(const std::string&)> log;
  };

  EvaluatorAgent(Deps deps, EvaluatorOptions options);
  // A reca-eval still running is stopped by its Process.
  ~EvaluatorAgent();

  EvaluatorAgent(const EvaluatorAgent&) = delete;
  EvaluatorAgent& operator=(const EvaluatorAgent&) = delete;

  // One iteration, at most one RPC deadline per call made: sends queued
  // reports in order; with a task running, polls reca-eval and, when it has
  // exited, queues and sends the task's report (scores per suite from
  // scores.json, or the error), else renews the claim every claim TTL / 3
  // (NOT_FOUND: SIGKILLs reca-eval and drops the task unreported); with no
  // task and no report waiting, claims one and launches reca-eval for it
  // (a task that cannot be launched is reported as an error).
  void Tick();

  // Ticks until `stop` is set, waiting NextTickDelay() between ticks, then
  // Shutdown().
  void Run(const std::atomic<bool>& stop);

  // SIGTERMs a running reca-eval (SIGKILL after the grace) and waits for it,
  // without reporting: its claim expires and the task is handed out again.
  // Then tries once to send reports still queued.
  void Shutdown();

  // How long Run waits before the next Tick.
  absl::Duration NextTickDelay() const;

  bool busy() const { return task_ != nullptr; }  // a reca-eval is running
  size_t pending_reports() const { return reports_.size(); }
  // Thread-safe (the /metrics thread): the stats as of the last Tick.
  EvaluatorStats Stats() const;

 private:
  struct Task;

  void Log(const std::string& line) const;
  void ClaimAndLaunch();
  void Launch(const v1::EvalTask& task, absl::Duration claim_ttl,
              absl::Time claimed_at);
  void RenewIfDue();
  void OnExit(const ExitInfo& exit);
  void QueueReport(v1::ReportScoresRequest report);
  void ReportError(const v1::EvalTask& task, const std::string& error);
  v1::EvalScore ScoreOf(const v1::EvalTask& task,
                        const std::string& suite) const;

  Deps deps_;
  const EvaluatorOptions options_;
  const EvalLaunchOptions launch_;
  std::unique_ptr<Task> task_;  // the running one
  ReportOutbox reports_;
  int claim_failures_ = 0;  // in a row
  EvaluatorStats stats_;    // the counters, updated as things happen
  mutable absl::Mutex published_mu_;
  EvaluatorStats published_ ABSL_GUARDED_BY(published_mu_);
};

}  // namespace reca

#endif  // RECA_EVALUATOR_EVALUATOR_AGENT_H_
