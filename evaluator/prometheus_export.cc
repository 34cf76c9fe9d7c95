#include "evaluator/prometheus_export.h"

#include "common/metric_families.h"

namespace reca {

std::vector<prometheus::MetricFamily> EvaluatorFamilies(
    const EvaluatorStats& s, const std::string& version) {
  MetricFamilies f;
  const auto G = prometheus::MetricType::Gauge,
             C = prometheus::MetricType::Counter;
  const MetricLabels me = {{"evaluator", s.evaluator_id}};
  f.Begin("reca_build_info",
          "Build of the reca-evaluator serving these metrics.", G);
  f.Gauge(1, {{"version", version}});
  f.Begin("reca_evaluator_busy", "1 while a reca-eval scores a checkpoint.", G);
  f.Gauge(s.busy ? 1 : 0, me);
  f.Begin("reca_evaluator_pending_reports", "Score reports not yet delivered.",
          G);
  f.Gauge(static_cast<double>(s.pending_reports), me);
  f.Begin("reca_evaluator_claims_total", "Checkpoints claimed for scoring.", C);
  f.Counter(static_cast<double>(s.claims), me);
  f.Begin("reca_evaluator_claim_failures_total", "Claim calls that failed.", C);
  f.Counter(static_cast<double>(s.claim_failures), me);
  f.Begin("reca_evaluator_tasks_total",
          "Claimed checkpoints by outcome: scored, failed, dropped (claim "
          "expired).",
          C);
  for (const char* outcome : {"scored", "failed", "dropped"}) {
    auto it = s.tasks.find(outcome);
    f.Counter(it == s.tasks.end() ? 0.0 : static_cast<double>(it->second),
              {{"evaluator", s.evaluator_id}, {"outcome", outcome}});
  }
  f.Begin("reca_evaluator_scoring_duration_seconds",
          "Duration of each reca-eval run.", prometheus::MetricType::Histogram);
  f.Hist(s.scoring_seconds, kScoringSecondsBuckets, me);
  f.Begin("reca_eval_last_step",
          "Step of the checkpoint this evaluator scored last (0 = base).", G);
  if (s.last_step >= 0)
    f.Gauge(static_cast<double>(s.last_step), {{"job_id", s.last_job_id}});
  f.Begin("reca_eval_score",
          "The last scored checkpoint's values per suite and metric "
          "(ShapesEval tags, PSNR, ...).",
          G);
  for (const auto& [suite, metrics] : s.last_scores) {
    for (const auto& [metric, value] : metrics) {
      f.Gauge(
          value,
          {{"job_id", s.last_job_id}, {"suite", suite}, {"metric", metric}});
    }
  }
  return f.Take();
}

}  // namespace reca
