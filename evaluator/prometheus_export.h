// The evaluator's /metrics: its EvaluatorStats (published every tick) as
// Prometheus families, built at scrape time (reca_evaluator_*, and the last
// scored checkpoint's values as reca_eval_score{job_id, suite, metric}).
#ifndef RECA_EVALUATOR_PROMETHEUS_EXPORT_H_
#define RECA_EVALUATOR_PROMETHEUS_EXPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "evaluator/evaluator_agent.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace reca {

std::vector<prometheus::MetricFamily> EvaluatorFamilies(
    const EvaluatorStats& stats, const std::string& version);

class EvaluatorCollector : public prometheus::Collectable {
 public:
  EvaluatorCollector(const EvaluatorAgent& agent, std::string version)
      : agent_(agent), version_(std::move(version)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return EvaluatorFamilies(agent_.Stats(), version_);
  }

 private:
  const EvaluatorAgent& agent_;
  std::string version_;
};

}  // namespace reca

#endif  // RECA_EVALUATOR_PROMETHEUS_EXPORT_H_
