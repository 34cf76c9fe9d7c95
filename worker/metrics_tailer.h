// Follows one rank's metrics file (<out>/metrics.jsonl, or
// metrics.rank<r>.jsonl), one JSON object per step as reca-train writes it.
#ifndef RECA_WORKER_METRICS_TAILER_H_
#define RECA_WORKER_METRICS_TAILER_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace reca {

// One step's line: every number in it but "step" and "rank", nested objects
// flattened with '/' ("loss", "lr", "loss_by_source/shapes-recon", ...), in
// the line's order. Non-numbers (null for NaN) are left out.
struct MetricRecord {
  int64_t step = 0;
  std::vector<std::pair<std::string, double>> values;

  // The value named `name`, or `fallback`.
  double Get(const std::string& name, double fallback = 0) const;
};

// Not thread-safe. Only complete lines are consumed; a line still being
// written is read on a later call; each step is returned once per file. A
// file that was replaced or shrank (the trainer rewrites it on resume,
// keeping the steps up to its checkpoint, then re-runs the rest) is returned
// again from the start: the steps after the checkpoint are new values, and
// the kept ones may never have been delivered before the last attempt died
// (the metrics history is keyed by step, so a repeat overwrites itself).
class MetricsTailer {
 public:
  explicit MetricsTailer(std::string path) : path_(std::move(path)) {}

  // Marks the steps already in the file as returned (a rank launched over
  // the output of an earlier attempt forwards only what it adds).
  void SkipExisting();

  // Up to `max_records` new records (a missing file is no records).
  std::vector<MetricRecord> ReadNew(size_t max_records);

  // The last line parsed, returned or skipped: the rank's current progress.
  const std::optional<MetricRecord>& latest() const { return latest_; }
  int64_t last_returned_step() const { return last_step_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int64_t offset_ = 0;  // bytes of complete lines consumed
  dev_t dev_ = 0;       // identity of the file the offset belongs to
  ino_t ino_ = 0;
  int64_t last_step_ = -1;
  std::optional<MetricRecord> latest_;
};

// Parses one line; nullopt when it is not an object with an integer "step".
std::optional<MetricRecord> ParseMetricLine(const std::string& line);

}  // namespace reca

#endif  // RECA_WORKER_METRICS_TAILER_H_
