// How one Assignment becomes one `reca-train` process: the files a rank gets
// under the job's (shared) output directory and the command line.
#ifndef RECA_WORKER_RANK_LAUNCH_H_
#define RECA_WORKER_RANK_LAUNCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process.h"
#include "reca/v1/job_spec.pb.h"
#include "reca/v1/worker_service.pb.h"

namespace reca {

struct RankLaunchOptions {
  std::string trainer_path;  // reca-train
  std::string local_addr;    // --local_addr: the worker's address
  std::string worker_id;
  int default_threads = 1;  // when the assignment says 0
  double gpu_peak_flops = 0;  // GPU ranks' --peak_flops (0 = the trainer measures)
  // Absolute directories the spec's files must be in (reca-train
  // --data_roots, with the job's runs root added); empty = anywhere.
  std::vector<std::string> data_roots;
};

// <output_dir>/ranks/rank-<R>: spec.json and train.log (the process's log).
std::string RankDir(const std::string& output_dir, int rank);
// Rank 0: <output_dir>/metrics.jsonl; rank r > 0: metrics.rank<r>.jsonl.
std::string MetricsPath(const std::string& output_dir, int rank);
std::string CheckpointsDir(const std::string& output_dir);

// The spec as reca-train reads it: proto JSON with the proto field names and
// 64-bit integers as JSON numbers (proto JSON quotes them; reca-train's
// reader wants numbers). Unset optional fields are left out (defaults).
absl::StatusOr<std::string> JobSpecToTrainerJson(const v1::JobSpec& spec);

// Checks the assignment, writes RankDir()/spec.json and returns what to
// launch. INVALID_ARGUMENT for an unusable assignment; file errors as such.
absl::StatusOr<ProcessSpec> PrepareRankLaunch(const v1::Assignment& assignment,
                                              const RankLaunchOptions& options);

// "job j1 epoch 3 rank 0", for log lines.
std::string RankLabel(const std::string& job_id, int64_t epoch, int rank);

}  // namespace reca

#endif  // RECA_WORKER_RANK_LAUNCH_H_
