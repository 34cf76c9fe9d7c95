// A fixed-bucket histogram as plain data (no Prometheus types): what a core
// records and a /metrics exporter turns into a Prometheus histogram
// (common/metric_families.h).
#ifndef RECA_COMMON_HISTOGRAM_H_
#define RECA_COMMON_HISTOGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace reca {

template <size_t N>
struct Histogram {
  std::array<uint64_t, N + 1>
      counts{};  // per bucket (not cumulative), +Inf last
  double sum = 0;
  uint64_t count = 0;
  // `bounds`: the buckets' upper bounds, ascending.
  void Observe(double v, const std::array<double, N>& bounds) {
    size_t i = 0;
    while (i < N && v > bounds[i]) ++i;
    ++counts[i];
    sum += v;
    ++count;
  }
};

}  // namespace reca

#endif  // RECA_COMMON_HISTOGRAM_H_
