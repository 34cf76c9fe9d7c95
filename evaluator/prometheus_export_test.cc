// The evaluator's /metrics text from its stats, and promtool's lint of it.
#include "evaluator/prometheus_export.h"

#include <string>

#include "common/promtool_test_util.h"
#include "gtest/gtest.h"

namespace reca {
namespace {

EvaluatorStats Sample() {
  EvaluatorStats s;
  s.evaluator_id = "e1";
  s.busy = true;
  s.claims = 3;
  s.tasks = {{"scored", 2}, {"dropped", 1}};
  s.scoring_seconds.Observe(80, kScoringSecondsBuckets);
  s.scoring_seconds.Observe(4, kScoringSecondsBuckets);
  s.last_job_id = "job-00000002";
  s.last_step = 400;
  s.last_scores = {{"shapes_eval", {{"overall", 0.25}, {"position", 0.1}}},
                   {"recon", {{"psnr", 14.5}}}};
  return s;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(EvaluatorPrometheusExportTest, StatsBecomeSeries) {
  const std::string text = ExpositionText(EvaluatorFamilies(Sample(), "t"));
  EXPECT_TRUE(Has(text, "reca_evaluator_busy{evaluator=\"e1\"} 1")) << text;
  EXPECT_TRUE(
      Has(text,
          "reca_evaluator_tasks_total{evaluator=\"e1\",outcome=\"failed\"} 0"))
      << text;
  EXPECT_TRUE(
      Has(text,
          "reca_evaluator_tasks_total{evaluator=\"e1\",outcome=\"dropped\"} 1"))
      << text;
  EXPECT_TRUE(Has(text,
                  "reca_evaluator_scoring_duration_seconds_bucket{evaluator="
                  "\"e1\",le=\"5\"} 1"))
      << text;
  EXPECT_TRUE(
      Has(text,
          "reca_evaluator_scoring_duration_seconds_count{evaluator=\"e1\"} 2"))
      << text;
  EXPECT_TRUE(Has(text,
                  "reca_eval_score{job_id=\"job-00000002\",suite=\"shapes_"
                  "eval\",metric=\"position\"} 0.1"))
      << text;
  EXPECT_TRUE(Has(text, "reca_eval_last_step{job_id=\"job-00000002\"} 400"))
      << text;

  const std::string idle =
      ExpositionText(EvaluatorFamilies(EvaluatorStats{}, "t"));
  EXPECT_EQ(idle.find("reca_eval_score{"), std::string::npos) << idle;
}

TEST(EvaluatorPrometheusExportTest, PromtoolAcceptsTheExposition) {
  EXPECT_EQ(PromtoolComplaints(EvaluatorFamilies(Sample(), "t"), "evaluator"),
            "");
}

}  // namespace
}  // namespace reca
