// The coordinator's /metrics: its live state (a MetricsSnapshot taken at
// scrape time) as Prometheus families, plus the event-driven instruments
// (gRPC per method, RocksDB writes) kept in a prometheus::Registry.
// Names: `reca_` prefix, base units (seconds), `_total` counters, `_info`
// gauges; per-job series carry only {job_id, rank} (not "job": Prometheus
// owns that label for the scrape job) and exist while the job runs.
#ifndef RECA_COORDINATOR_PROMETHEUS_EXPORT_H_
#define RECA_COORDINATOR_PROMETHEUS_EXPORT_H_

#include <functional>
#include <string>
#include <vector>

#include "coordinator/metrics_snapshot.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace reca::coordinator {

// The families of one snapshot (`version` labels reca_build_info).
std::vector<prometheus::MetricFamily> SnapshotFamilies(
    const MetricsSnapshot& snapshot, const std::string& version);

// Registers with an Exposer; takes a snapshot on every scrape.
class SnapshotCollector : public prometheus::Collectable {
 public:
  SnapshotCollector(std::function<MetricsSnapshot()> snapshot,
                    std::string version)
      : snapshot_(std::move(snapshot)), version_(std::move(version)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return SnapshotFamilies(snapshot_(), version_);
  }

 private:
  std::function<MetricsSnapshot()> snapshot_;
  std::string version_;
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_PROMETHEUS_EXPORT_H_
