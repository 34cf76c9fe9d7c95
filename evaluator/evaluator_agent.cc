#include "evaluator/evaluator_agent.h"

#include <signal.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/daemon_main.h"
#include "evaluator/scores_file.h"

namespace reca {
namespace {

// 1, 2, 4, 8, ...: log a repeated failure sparsely.
bool PowerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

// After SIGKILL, Shutdown waits this long for the exit before giving up.
constexpr absl::Duration kKillWait = absl::Seconds(5);

}  // namespace

struct EvaluatorAgent::Task {
  v1::EvalTask task;
  std::string label;  // "job j step s"
  std::unique_ptr<Process> process;
  absl::Duration claim_ttl;
  absl::Time renewed_at;  // when the last successful claim or renew was sent
  absl::Time started_at;
  int renew_failures = 0;  // in a row
};

EvaluatorAgent::EvaluatorAgent(Deps deps, EvaluatorOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      launch_{options_.eval_binary,
              options_.threads,
              options_.images_per_prompt,
              options_.prompts_per_tag,
              options_.edit_pairs_per_category,
              options_.geneval},
      // One try for anything but an outage: a score report the coordinator
      // refuses now it will refuse again.
      reports_(1, [this](const std::string& line) { Log(line); }) {
  if (!deps_.sleep) deps_.sleep = [](absl::Duration d) { absl::SleepFor(d); };
  if (!deps_.log)
    deps_.log = [](const std::string& line) { std::cerr << line << std::endl; };
}

EvaluatorAgent::~EvaluatorAgent() = default;

void EvaluatorAgent::Log(const std::string& line) const {
  deps_.log(absl::StrCat("evaluator ", options_.evaluator_id, ": ", line));
}

void EvaluatorAgent::Tick() {
  if (!reports_.empty()) reports_.Flush();
  if (task_) {
    if (std::optional<ExitInfo> exit = task_->process->Poll()) {
      OnExit(*exit);
    } else {
      RenewIfDue();
    }
  }
  // A report that waits on an outage goes first; so would a claim.
  if (!task_ && reports_.empty()) ClaimAndLaunch();
  stats_.evaluator_id = options_.evaluator_id;
  stats_.busy = task_ != nullptr;
  stats_.pending_reports = reports_.size();
  absl::MutexLock lock(&published_mu_);
  published_ = stats_;
}

EvaluatorStats EvaluatorAgent::Stats() const {
  absl::MutexLock lock(&published_mu_);
  return published_;
}

// --- claim -----------------------------------------------------------------

void EvaluatorAgent::ClaimAndLaunch() {
  const absl::Time sent_at = deps_.clock.Now();
  v1::ClaimEvaluationRequest request;
  request.set_evaluator_id(options_.evaluator_id);
  absl::StatusOr<v1::ClaimEvaluationResponse> response =
      deps_.client.Claim(request);
  if (!response.ok()) {
    ++stats_.claim_failures;
    if (PowerOfTwo(++claim_failures_)) {
      Log(absl::StrCat("claim failed (", claim_failures_,
                       " in a row): ", response.status().ToString()));
    }
    return;
  }
  if (claim_failures_ > 0)
    Log(absl::StrCat("claim succeeded after ", claim_failures_, " failure(s)"));
  claim_failures_ = 0;
  if (!response->has_task()) return;
  ++stats_.claims;
  const absl::Duration ttl =
      response->claim_ttl_millis() > 0
          ? absl::Milliseconds(response->claim_ttl_millis())
          : options_.default_claim_ttl;
  Launch(response->task(), ttl, sent_at);
}

void EvaluatorAgent::Launch(const v1::EvalTask& task, absl::Duration claim_ttl,
                            absl::Time claimed_at) {
  const std::string label = TaskLabel(task);
  absl::StatusOr<ProcessSpec> spec = PrepareEvalLaunch(task, launch_);
  if (!spec.ok())
    return ReportError(task, absl::StrCat("evaluator ", options_.evaluator_id,
                                          ": ", spec.status().ToString()));
  absl::StatusOr<std::unique_ptr<Process>> process =
      deps_.launcher.Launch(*spec);
  if (!process.ok())
    return ReportError(task, absl::StrCat("evaluator ", options_.evaluator_id,
                                          ": launching reca-eval: ",
                                          process.status().ToString()));
  task_ = std::make_unique<Task>();
  task_->task = task;
  task_->label = label;
  task_->process = std::move(*process);
  task_->claim_ttl = claim_ttl;
  task_->renewed_at = claimed_at;
  task_->started_at = deps_.clock.Now();
  Log(absl::StrCat(label, ": claimed (", task.claim_id(), ", ttl ",
                   absl::FormatDuration(claim_ttl), "); reca-eval pid ",
                   task_->process->pid(), " scores ", task.checkpoint_path(),
                   " on ", absl::StrJoin(task.suites(), ","), " into ",
                   task.output_dir(), " (log ", spec->log_path, ")"));
}

void EvaluatorAgent::RenewIfDue() {
  Task& t = *task_;
  const absl::Time now = deps_.clock.Now();
  if (now < t.renewed_at + t.claim_ttl / 3) return;
  v1::RenewClaimRequest request;
  request.set_evaluator_id(options_.evaluator_id);
  request.set_claim_id(t.task.claim_id());
  absl::StatusOr<v1::RenewClaimResponse> response = deps_.client.Renew(request);
  if (response.ok()) {
    if (t.renew_failures > 0)
      Log(absl::StrCat(t.label, ": claim renewed after ", t.renew_failures,
                       " failure(s)"));
    t.renew_failures = 0;
    t.renewed_at = now;
    if (response->claim_ttl_millis() > 0)
      t.claim_ttl = absl::Milliseconds(response->claim_ttl_millis());
    return;
  }
  if (response.status().code() == absl::StatusCode::kNotFound) {
    // Someone else may be scoring it now; their report will count.
    Log(absl::StrCat(t.label, ": claim ", t.task.claim_id(), " expired (",
                     response.status().ToString(),
                     "); SIGKILL to reca-eval pid ", t.process->pid(),
                     ", task dropped unreported"));
    ++stats_.tasks["dropped"];
    t.process->Signal(SIGKILL);
    task_.reset();
    return;
  }
  // Transient: try again next tick. Past the TTL the coordinator may hand
  // the task out again; scores are idempotent per (checkpoint, suite), so
  // finishing it is still worth it, and a later NOT_FOUND stops it.
  if (PowerOfTwo(++t.renew_failures)) {
    Log(absl::StrCat(t.label, ": claim renewal failed (", t.renew_failures,
                     " in a row, last success ",
                     absl::FormatDuration(now - t.renewed_at), " ago, ttl ",
                     absl::FormatDuration(t.claim_ttl),
                     "): ", response.status().ToString()));
  }
}

// --- report ----------------------------------------------------------------

v1::EvalScore EvaluatorAgent::ScoreOf(const v1::EvalTask& task,
                                      const std::string& suite) const {
  v1::EvalScore s;
  s.set_job_id(task.job_id());
  s.set_step(task.step());
  s.set_suite(suite);
  s.set_checkpoint_path(task.checkpoint_path());
  s.set_unix_micros(absl::ToUnixMicros(deps_.clock.Now()));
  s.set_evaluator_id(options_.evaluator_id);
  s.set_output_dir(task.output_dir());
  return s;
}

void EvaluatorAgent::OnExit(const ExitInfo& exit) {
  std::unique_ptr<Task> t = std::move(task_);
  const absl::Duration took = deps_.clock.Now() - t->started_at;
  stats_.scoring_seconds.Observe(absl::ToDoubleSeconds(took),
                                 kScoringSecondsBuckets);
  if (exit.cause != ExitInfo::Cause::kSuccess) {
    Log(absl::StrCat(t->label, ": reca-eval pid ", t->process->pid(),
                     " failed after ", absl::FormatDuration(took), " (",
                     CauseName(exit.cause), "): ", exit.message));
    return ReportError(t->task, exit.message);
  }
  const std::vector<std::string> suites(t->task.suites().begin(),
                                        t->task.suites().end());
  v1::ReportScoresRequest report;
  report.set_evaluator_id(options_.evaluator_id);
  report.set_claim_id(t->task.claim_id());
  report.set_job_id(t->task.job_id());
  report.set_step(t->task.step());
  std::vector<std::string> errors;
  for (SuiteScores& s : ReadScoresFile(ScoresPath(t->task.output_dir()), suites,
                                       t->task.checkpoint_path())) {
    v1::EvalScore* score = report.add_scores();
    *score = ScoreOf(t->task, s.suite);
    if (!s.values.ok()) {
      score->set_error(std::string(s.values.status().message()));
      if (std::find(errors.begin(), errors.end(), score->error()) ==
          errors.end())
        errors.push_back(score->error());
      continue;
    }
    score->mutable_values()->insert(s.values->begin(), s.values->end());
  }
  report.set_error(absl::StrJoin(errors, "; "));
  ++stats_.tasks[report.error().empty() ? "scored" : "failed"];
  stats_.last_job_id = t->task.job_id();
  stats_.last_step = t->task.step();
  stats_.last_scores.clear();
  for (const v1::EvalScore& score : report.scores()) {
    stats_.last_scores[score.suite()].insert(score.values().begin(),
                                             score.values().end());
  }
  Log(absl::StrCat(t->label, ": reca-eval done in ", absl::FormatDuration(took),
                   report.error().empty() ? "" : ": " + report.error()));
  QueueReport(std::move(report));
  reports_.Flush();
}

void EvaluatorAgent::QueueReport(v1::ReportScoresRequest report) {
  std::string what = absl::StrCat("job ", report.job_id(), " step ",
                                  report.step(), ": scores");
  reports_.Push(std::move(what), [this, report] {
    return deps_.client.Report(report).status();
  });
}

// Every suite fails with `error`; reported so that the task is not retried.
void EvaluatorAgent::ReportError(const v1::EvalTask& task,
                                 const std::string& error) {
  Log(absl::StrCat(TaskLabel(task), ": reporting the error: ", error));
  ++stats_.tasks["failed"];
  v1::ReportScoresRequest report;
  report.set_evaluator_id(options_.evaluator_id);
  report.set_claim_id(task.claim_id());
  report.set_job_id(task.job_id());
  report.set_step(task.step());
  report.set_error(error);
  for (const std::string& suite : task.suites()) {
    v1::EvalScore* score = report.add_scores();
    *score = ScoreOf(task, suite);
    score->set_error(error);
  }
  QueueReport(std::move(report));
  reports_.Flush();
}

// --- loop ------------------------------------------------------------------

absl::Duration EvaluatorAgent::NextTickDelay() const {
  absl::Duration d = options_.poll_interval;
  if (task_) {
    const absl::Duration to_renew =
        task_->renewed_at + task_->claim_ttl / 3 - deps_.clock.Now();
    d = std::min(d, std::max(absl::ZeroDuration(), to_renew));
  }
  return d;
}

void EvaluatorAgent::Run(const std::atomic<bool>& stop) {
  Log(absl::StrCat("started (reca-eval ", options_.eval_binary, ", ",
                   options_.threads, " thread(s))"));
  TickUntilStopped(
      stop, [this] { Tick(); }, [this] { return NextTickDelay(); },
      deps_.sleep);
  Shutdown();
}

void EvaluatorAgent::Shutdown() {
  if (task_) {
    Task& t = *task_;
    Log(absl::StrCat("shutting down: SIGTERM to reca-eval pid ",
                     t.process->pid(), " (", t.label, "), SIGKILL after ",
                     absl::FormatDuration(options_.stop_grace),
                     "; not reported, its claim expires"));
    t.process->Signal(SIGTERM);
    absl::Time kill_at = deps_.clock.Now() + options_.stop_grace;
    bool killed = false;
    while (!t.process->Poll()) {
      const absl::Time now = deps_.clock.Now();
      if (now >= kill_at) {
        if (killed) {
          Log(absl::StrCat("reca-eval pid ", t.process->pid(),
                           " still running after SIGKILL; leaving it"));
          break;
        }
        Log(absl::StrCat("SIGKILL to reca-eval pid ", t.process->pid()));
        t.process->Signal(SIGKILL);
        killed = true;
        kill_at = now + kKillWait;
        continue;
      }
      deps_.sleep(std::min(kill_at - now, absl::Milliseconds(100)));
    }
    task_.reset();
  }
  if (!reports_.empty() && reports_.Flush() > 0)
    Log(absl::StrCat(reports_.size(), " report(s) undelivered"));
  Log("stopped");
}

}  // namespace reca
