// Coordinator: the EvaluatorService handlers and the evaluation queue.
#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "coordinator/coordinator.h"
#include "coordinator/keys.h"
#include "reca/status.h"

namespace reca::coordinator {

absl::Status Coordinator::QueueEvaluations(const v1::Job& job) {
  const v1::EvalSpec& eval = job.spec().eval();
  if (eval.suites_size() == 0) return absl::OkStatus();
  std::vector<EvalTarget> targets;
  if ((!eval.has_base() || eval.base()) && !job.spec().model().init().empty()) {
    targets.push_back({{job.id(), 0}, job.spec().model().init()});
  }
  RECA_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> rows,
                        CheckpointRecords(job.id()));
  const int64_t every =
      eval.has_every_n_checkpoints() ? eval.every_n_checkpoints() : 1;
  for (size_t i = 0; i < rows.size(); ++i) {
    const v1::Checkpoint& ckpt = rows[i];
    if (ckpt.retired()) continue;  // dropped by retention (not the last)
    const bool nth = every > 0 && (i + 1) % every == 0;
    const bool last = job.state() == v1::SUCCEEDED && i + 1 == rows.size();
    if (nth || last) targets.push_back({{job.id(), ckpt.step()}, ckpt.path()});
  }
  for (EvalTarget& t : targets) {
    if (eval_pending_.count(t.key)) continue;
    RECA_ASSIGN_OR_RETURN(
        std::vector<KeyValue> scored,
        deps_.store.Scan(keys::EvalStepPrefix(job.id(), t.key.second), "", 1));
    if (!scored.empty()) continue;  // scores (or an error) are recorded
    eval_pending_.insert(t.key);
    eval_queue_.push_back(std::move(t));
  }
  return absl::OkStatus();
}

void Coordinator::ExpireClaims() {
  const absl::Time now = deps_.clock.Now();
  for (auto it = claims_.begin(); it != claims_.end();) {
    if (it->second.expiry > now) {
      ++it;
      continue;
    }
    std::cerr << "coordinator: evaluation claim " << it->first << " of "
              << it->second.evaluator_id << " (" << it->second.target.key.first
              << " step " << it->second.target.key.second
              << ") expired; handing it out again\n";
    eval_queue_.push_front(std::move(it->second.target));
    it = claims_.erase(it);
  }
}

absl::StatusOr<v1::ClaimEvaluationResponse> Coordinator::HandleClaimEvaluation(
    const v1::ClaimEvaluationRequest& request) {
  if (request.evaluator_id().empty())
    return absl::InvalidArgumentError("evaluator_id: empty");
  absl::MutexLock lock(&mu_);
  ExpireClaims();
  v1::ClaimEvaluationResponse response;
  response.set_claim_ttl_millis(
      absl::ToInt64Milliseconds(options_.eval_claim_ttl));
  while (!eval_queue_.empty()) {
    EvalTarget target = std::move(eval_queue_.front());
    eval_queue_.pop_front();
    JobEntry* entry = FindJob(target.key.first);
    if (entry == nullptr || !eval_pending_.count(target.key)) {
      eval_pending_.erase(target.key);  // gone, or scored since it was queued
      continue;
    }
    // Unique across restarts too: a zombie's old claim id never names a new
    // claim.
    const std::string claim_id = absl::StrCat(
        "claim-", absl::ToUnixMicros(started_), "-", next_claim_++);
    v1::EvalTask* task = response.mutable_task();
    task->set_claim_id(claim_id);
    task->set_job_id(target.key.first);
    task->set_step(target.key.second);
    task->set_checkpoint_path(target.checkpoint_path);
    for (const std::string& suite : entry->job.spec().eval().suites())
      task->add_suites(suite);
    task->set_output_dir(absl::StrFormat(
        "%s/eval/step-%08d", entry->job.output_dir(), target.key.second));
    std::cerr << "coordinator: " << target.key.first << ": scoring step "
              << target.key.second << " ("
              << absl::StrJoin(task->suites(), ", ") << ") claimed by "
              << request.evaluator_id() << " as " << claim_id << "\n";
    claims_[claim_id] = Claim{std::move(target), request.evaluator_id(),
                              deps_.clock.Now() + options_.eval_claim_ttl};
    break;
  }
  return response;
}

absl::StatusOr<v1::RenewClaimResponse> Coordinator::HandleRenewClaim(
    const v1::RenewClaimRequest& request) {
  absl::MutexLock lock(&mu_);
  ExpireClaims();
  auto it = claims_.find(request.claim_id());
  if (it == claims_.end() ||
      it->second.evaluator_id != request.evaluator_id()) {
    return absl::NotFoundError(absl::StrCat("claim ", request.claim_id(),
                                            " of ", request.evaluator_id(),
                                            " is unknown or expired"));
  }
  it->second.expiry = deps_.clock.Now() + options_.eval_claim_ttl;
  v1::RenewClaimResponse response;
  response.set_claim_ttl_millis(
      absl::ToInt64Milliseconds(options_.eval_claim_ttl));
  return response;
}

absl::StatusOr<v1::ReportScoresResponse> Coordinator::HandleReportScores(
    const v1::ReportScoresRequest& request) {
  if (request.scores_size() == 0 && request.error().empty()) {
    return absl::InvalidArgumentError("scores: empty, and no error");
  }
  absl::MutexLock lock(&mu_);
  JobEntry* entry = FindJob(request.job_id());
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("job ", request.job_id(), " not found"));
  }
  const EvalKey key{request.job_id(), request.step()};
  RECA_ASSIGN_OR_RETURN(
      std::vector<KeyValue> scored,
      deps_.store.Scan(keys::EvalStepPrefix(key.first, key.second), "", 1));
  // Whoever held the claim, the first report of a checkpoint wins.
  auto claim = claims_.find(request.claim_id());
  std::string checkpoint_path, output_dir;
  if (claim != claims_.end() && claim->second.target.key == key) {
    checkpoint_path = claim->second.target.checkpoint_path;
    output_dir = absl::StrFormat("%s/eval/step-%08d", entry->job.output_dir(),
                                 key.second);
    claims_.erase(claim);
  }
  if (!scored.empty()) {
    eval_pending_.erase(key);
    return v1::ReportScoresResponse();
  }
  const int64_t now = NowMicros();
  WriteBatch batch;
  std::vector<std::string> summary;
  std::vector<v1::EvalScore> scores(request.scores().begin(),
                                    request.scores().end());
  if (scores.empty()) {  // the scoring failed: one record per suite, with the
                         // error
    for (const std::string& suite : entry->job.spec().eval().suites()) {
      scores.emplace_back().set_suite(suite);
    }
  }
  for (v1::EvalScore& score : scores) {
    if (score.suite().empty() || score.suite().find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "scores.suite: '", score.suite(), "' is empty or has a '/'"));
    }
    score.set_job_id(key.first);
    score.set_step(key.second);
    score.set_unix_micros(now);
    score.set_evaluator_id(request.evaluator_id());
    if (!checkpoint_path.empty()) score.set_checkpoint_path(checkpoint_path);
    if (!output_dir.empty()) score.set_output_dir(output_dir);
    if (!request.error().empty()) score.set_error(request.error());
    batch.Put(keys::Eval(key.first, key.second, score.suite()),
              score.SerializeAsString());
    for (const auto& [name, value] : score.values()) {
      v1::MetricPoint point;
      point.set_name(absl::StrCat("eval/", score.suite(), "/", name));
      point.set_step(key.second);
      point.set_value(value);
      point.set_unix_micros(now);
      batch.Put(keys::Metric(key.first, point.name(), 0, key.second),
                point.SerializeAsString());
    }
    auto headline =
        score.values().find(score.suite() == "recon" ? "psnr" : "overall");
    summary.push_back(headline == score.values().end()
                          ? score.suite()
                          : absl::StrFormat("%s %s %.4g", score.suite(),
                                            headline->first, headline->second));
  }
  const std::string message =
      request.error().empty() ? absl::StrCat("scored step ", key.second,
                                             key.second == 0 ? " (base)" : "",
                                             ": ", absl::StrJoin(summary, ", "))
                              : absl::StrCat("scoring step ", key.second,
                                             " failed: ", request.error());
  RECA_RETURN_IF_ERROR(
      CommitJob(*entry, entry->job, message, std::move(batch)));
  eval_pending_.erase(key);
  eval_scores_recorded_ += static_cast<int64_t>(scores.size());
  RECA_RETURN_IF_ERROR(RetireCheckpoints(*entry));
  return v1::ReportScoresResponse();
}

absl::StatusOr<v1::ListEvaluationsResponse> Coordinator::HandleListEvaluations(
    const Caller& caller, const v1::ListEvaluationsRequest& request) {
  v1::ListEvaluationsResponse response;
  {
    absl::MutexLock lock(&mu_);
    RECA_RETURN_IF_ERROR(FindVisibleJob(caller, request.job_id()).status());
    response.set_pending(static_cast<int32_t>(std::count_if(
        eval_pending_.begin(), eval_pending_.end(),
        [&](const EvalKey& k) { return k.first == request.job_id(); })));
  }
  RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> rows,
                        deps_.store.Scan(keys::EvalPrefix(request.job_id())));
  for (const auto& [key, value] : rows) {
    if (!response.add_scores()->ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("coordinator store: ", key, ": unreadable score"));
    }
  }
  return response;
}

}  // namespace reca::coordinator
