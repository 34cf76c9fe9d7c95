// Builds Prometheus metric families from a snapshot at scrape time (a
// prometheus::Collectable's Collect()): the daemons' live state becomes
// series that exist exactly while what they describe does.
#ifndef RECA_COMMON_METRIC_FAMILIES_H_
#define RECA_COMMON_METRIC_FAMILIES_H_

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/histogram.h"
#include "prometheus/metric_family.h"

namespace reca {

using MetricLabels = std::vector<prometheus::ClientMetric::Label>;

class MetricFamilies {
 public:
  // Starts a family; the samples added next belong to it. Families left
  // without samples are dropped by Take().
  void Begin(std::string name, std::string help, prometheus::MetricType type) {
    out_.push_back(
        prometheus::MetricFamily{std::move(name), std::move(help), type, {}});
  }
  void Gauge(double v, MetricLabels labels = {}) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    out_.back().metric.push_back(std::move(m));
  }
  void Counter(double v, MetricLabels labels = {}) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = v;
    out_.back().metric.push_back(std::move(m));
  }
  template <size_t N>
  void Hist(const Histogram<N>& h, const std::array<double, N>& bounds,
            MetricLabels labels = {}) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < N; ++i) {
      cumulative += h.counts[i];
      m.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    cumulative += h.counts[N];
    m.histogram.bucket.push_back(
        {cumulative, std::numeric_limits<double>::infinity()});
    out_.back().metric.push_back(std::move(m));
  }
  std::vector<prometheus::MetricFamily> Take() {
    std::vector<prometheus::MetricFamily> out;
    for (prometheus::MetricFamily& f : out_) {
      if (!f.metric.empty()) out.push_back(std::move(f));
    }
    return out;
  }

 private:
  std::vector<prometheus::MetricFamily> out_;
};

}  // namespace reca

#endif  // RECA_COMMON_METRIC_FAMILIES_H_
