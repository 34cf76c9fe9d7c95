// One training process (one rank of a job): builds or loads a model, resumes
// from the newest committed checkpoint, runs RecA / pre-training steps over
// the job's data sources with data-parallel gradient averaging, commits
// crash-safe checkpoints, writes per-step metrics (JSON lines), PNG grids and
// the final weights.
#ifndef RECA_TRAINER_H_
#define RECA_TRAINER_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "reca/dist.h"
#include "reca/job_spec.h"
#include "reca/status.h"

namespace reca {

// How this process runs the job (not part of the job's definition).
struct RuntimeOptions {
  std::string out_dir = "runs/train";  // checkpoints/ , metrics.jsonl, PNGs, model.safetensors
  // LibTorch intra-op threads; 0 = all cores. GEMMs run on OpenBLAS's own
  // pool (all cores) either way; on small machines a second spinning pool
  // only oversubscribes them (2 cores: 398 ms/step at 1 vs 894 ms at 2).
  int threads = 1;
  std::string device = "cpu";
  bool bf16 = false;        // bfloat16 autocast (CUDA)
  // The device's peak FLOP/s, the denominator of MFU; 0 = measure a dense
  // GEMM on the device at start (reca/peak_flops.h).
  double peak_flops = 0;
  DistOptions dist;
  // How long other ranks wait for rank 0 to commit a checkpoint or write
  // grids (a barrier; a dead rank 0 still fails them at once).
  double slow_barrier_timeout_s = 1800;
  bool resume = true;       // continue from <out_dir>/checkpoints' newest checkpoint
  // The service's resume point (the worker passes the coordinator's record):
  // empty = the newest checkpoint on disk (standalone runs); "none" = from the
  // start; else exactly this checkpoint directory, whose MANIFEST.json must
  // hash to `resume_manifest_sha256` when that is set. Either way, rank 0
  // discards the committed checkpoints on disk after that point: a failed
  // attempt committed them and the coordinator never recorded them.
  std::string resume_from;
  std::string resume_manifest_sha256;
  // The service's fencing epoch of this attempt (the worker passes it), written
  // into each checkpoint's MANIFEST.json: the coordinator records a checkpoint
  // only while the attempt that committed it is the job's current one. 0 =
  // standalone.
  int64_t epoch = 0;
  // >= 0: overrides spec.checkpoint.keep (the worker passes 0: in the service
  // the coordinator applies the retention policy).
  int64_t keep_checkpoints = -1;
  int64_t stop_after = 0;   // leave after this many steps of this run, as SIGTERM does (0 = off)
  bool progress = false;    // a progress bar with ETA on stderr
  bool heldout = true;      // held-out reconstruction loss before/after (rank 0)
  // Deterministic CUDA kernels (at::globalContext().setDeterministicAlgorithms;
  // cuBLAS workspace config): bit-exact GPU runs and resumes, some speed lost.
  // CPU runs are deterministic either way.
  bool deterministic = false;
  std::string batches_file;  // replay recorded batches instead of the data sources (benchmark)
};

// reca-train's exit status when the service's resume checkpoint (--resume_from)
// is missing, unreadable or fails verification: not the job's fault, and the
// coordinator falls back to an earlier checkpoint. The worker's classifier
// (common/process.h, kExitResumeCheckpointUnusable) uses the same number.
inline constexpr int kExitResumeCheckpointUnusable = 3;

// Whether `status` (from RunTraining) is such a failure: DATA_LOSS, its
// message starting "--resume_from: ".
bool IsUnusableResumeCheckpoint(const Status& status);

struct TrainSummary {
  int64_t first_step = 0;   // > 0 when resumed
  int64_t steps = 0;        // the step reached
  bool stopped_early = false;  // SIGTERM or stop_after: a checkpoint was committed
  double last_loss = 0;
  double samples_per_second = 0;   // this rank, excluding the first (warm-up) step
  double mean_step_seconds = 0;
  double data_wait_share = 0;      // of the step time
  double allreduce_share = 0;      // exposed all-reduce time / step time
  double model_flops_per_second = 0;  // 3 x forward matmul FLOPs / step time
  double peak_flops = 0;              // RuntimeOptions::peak_flops, or as measured
  double mfu = 0;                     // model_flops_per_second / peak_flops
  double heldout_recon_loss = 0;   // fixed batch, fixed noise, at the end
  // The same with every image conditioned on another image's understanding
  // embedding: the gap to heldout_recon_loss is what reconstruction takes
  // from the understanding side.
  double heldout_recon_loss_mismatched = 0;
  int64_t bad_samples = 0;
};

StatusOr<TrainSummary> RunTraining(const JobSpec& spec, const RuntimeOptions& runtime,
                                   std::ostream& log);

// Writes the weights RunTraining would start from without model.init.
Status SaveInitialWeights(const JobSpec& spec, const std::string& path);

// Writes `count` steps of this rank's batches (see EncodeStepBatches).
Status DumpBatches(const JobSpec& spec, int64_t count, const std::string& path);

}  // namespace reca

#endif  // RECA_TRAINER_H_
