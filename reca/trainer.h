// One training process (one rank): builds or loads a model, runs RecA or
// pre-training steps over shapes-world data (or recorded batches), prints
// progress, writes weights and PNG grids.
#ifndef RECA_TRAINER_H_
#define RECA_TRAINER_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "reca/batch.h"
#include "reca/optim.h"
#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

struct TrainOptions {
  std::string mode = "reca";  // "reca" or "pretrain"
  std::string family = "mar";
  std::string preset = "tiny";
  std::string init;           // weights to start from; empty = fresh init
  std::string out_dir = "runs/train";
  int64_t steps = 100;
  int64_t batch = 16;         // per source batch
  uint64_t seed = 0;
  // LibTorch intra-op threads; 0 = all cores. GEMMs run on OpenBLAS's own
  // pool (all cores) either way; on small machines a second spinning pool
  // only oversubscribes them (2 cores: 398 ms/step at 1 vs 894 ms at 2).
  int threads = 1;
  std::string device = "cpu";
  bool bf16 = false;          // bfloat16 autocast (CUDA)
  OptimOptions optim;
  SourceMix mix;              // see DefaultMix(mode)
  bool dense_captions = false;
  double cfg_drop = 0.1;
  int64_t log_every = 10;
  int64_t sample_every = 0;   // also write grids every N steps (0 = only at the end)
  int64_t save_every = 0;     // also save weights every N steps (0 = only at the end)
  int64_t num_samples = 8;    // columns of the PNG grids; 0 = no grids
  SampleOptions sampling;
  std::string batches_file;   // replay recorded batches instead of generating data

  Status Validate() const;
};

// pretrain: t2i + i2t on captioned shapes (0:1:1); reca: recon + i2t (2:2:0).
SourceMix DefaultMix(const std::string& mode);

struct TrainSummary {
  int64_t steps = 0;
  double last_loss = 0;
  double samples_per_second = 0;   // excluding the first (warm-up) step
  double mean_step_seconds = 0;
  double model_flops_per_second = 0;  // 3 x forward matmul FLOPs / step time
  double heldout_recon_loss = 0;   // fixed batch, fixed noise, at the end
  // The same with every image conditioned on another image's understanding
  // embedding: the gap to heldout_recon_loss is what reconstruction takes
  // from the understanding side.
  double heldout_recon_loss_mismatched = 0;
};

StatusOr<TrainSummary> RunTraining(const TrainOptions& options, std::ostream& log);

// Writes the weights RunTraining would start from without --init.
Status SaveInitialWeights(const TrainOptions& options, const std::string& path);

// Writes `count` recorded steps of shapes-world data (see EncodeStepBatches).
Status DumpBatches(const TrainOptions& options, int64_t count, const std::string& path);

}  // namespace reca

#endif  // RECA_TRAINER_H_
