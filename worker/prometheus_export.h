// The worker's /metrics: its WorkerStats (published every tick) as
// Prometheus families, built at scrape time. Names as the coordinator's
// (coordinator/prometheus_export.h): reca_worker_*, per-rank series labelled
// {job_id, rank} while the rank process runs.
#ifndef RECA_WORKER_PROMETHEUS_EXPORT_H_
#define RECA_WORKER_PROMETHEUS_EXPORT_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "worker/worker_agent.h"

namespace reca {

std::vector<prometheus::MetricFamily> WorkerFamilies(
    const WorkerStats& stats, const std::string& version);

class WorkerCollector : public prometheus::Collectable {
 public:
  WorkerCollector(const WorkerAgent& agent, std::string version)
      : agent_(agent), version_(std::move(version)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return WorkerFamilies(agent_.Stats(), version_);
  }

 private:
  const WorkerAgent& agent_;
  std::string version_;
};

}  // namespace reca

#endif  // RECA_WORKER_PROMETHEUS_EXPORT_H_
