// The training data pipeline of one rank: the job's sources (shapes world,
// image folders, WebDataset shards), a seeded sampler whose position is part
// of every checkpoint, bad-sample accounting, and a loader thread that builds
// the next steps' batches while the current one trains.
//
// Sampling. Each source keeps a cursor: the number of its samples the whole
// job (all ranks) has consumed. Step s takes, per source and repeat j, the
// global block [cursor + j*W*B, cursor + (j+1)*W*B) and rank r the rows
// [r*B, (r+1)*B) of it (W ranks, B = batch_per_rank): ranks never overlap and
// one rank with batch W*B sees exactly the union. A finite source maps
// position p to sample perm_e[p mod N] with a fresh seeded permutation per
// epoch e = p div N; the shapes world is infinite (sample p is scene p).
// Everything random about a sample (template, text drop, noise seeds) is a
// function of (seed, source, p), so a resumed run rebuilds the same batches.
//
// Bad samples (unreadable, corrupt, no caption where one is needed) are
// logged with their origin and replaced by another seeded pick; when more than
// data.max_bad_samples have been skipped and they exceed
// data.max_bad_fraction of those read, the job fails.
#ifndef RECA_DATA_PIPELINE_H_
#define RECA_DATA_PIPELINE_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "reca/batch.h"
#include "reca/data/dataset.h"
#include "reca/job_spec.h"
#include "reca/shapes_world.h"
#include "reca/status.h"
#include "reca/tokenizer.h"

namespace reca {

struct SamplerState {
  std::vector<int64_t> cursors;  // per source, in spec order

  nlohmann::json ToJson() const;
  // Checks the source count against `num_sources`.
  static StatusOr<SamplerState> FromJson(const nlohmann::json& j, size_t num_sources);
};

struct DataStats {
  int64_t samples_read = 0;  // attempts, bad ones included
  int64_t bad_samples = 0;
};

// One step's batches and the sampler position after them (what a checkpoint
// taken after this step stores).
struct PreparedStep {
  int64_t step = 0;
  StepBatches batches;
  SamplerState after;
};

class DataPipeline {
 public:
  // Opens every source (a missing dataset is NOT_FOUND naming its path) and
  // logs one line per source to `log`.
  static StatusOr<std::unique_ptr<DataPipeline>> Open(const JobSpec& spec, int image_size, int rank,
                                                      int world, std::ostream& log);
  ~DataPipeline();

  SamplerState InitialState() const;
  // Builds the next step from `*state` and advances it (synchronously, on
  // the calling thread). Fails when the bad-sample limit is exceeded.
  StatusOr<StepBatches> Build(SamplerState* state);

  // Runs Build for steps [first, end) on the loader thread, up to
  // data.prefetch_steps ahead of Next().
  void Start(int64_t first, int64_t end, SamplerState state);
  // The next prepared step, waiting for it if needed; `*waited_seconds` is
  // how long the caller blocked (data-wait time). Log lines of the loader
  // (bad samples) are written to the log here, on the caller's thread.
  StatusOr<PreparedStep> Next(double* waited_seconds);
  void Stop();

  DataStats stats() const;
  // Continues the bad-sample budget of a resumed job.
  void RestoreStats(const DataStats& stats);
  const std::vector<SourceSpec>& sources() const { return sources_; }

 private:
  DataPipeline(const JobSpec& spec, int image_size, int rank, int world, std::ostream& log);
  struct Loaded {
    Sample sample;
    uint64_t key = 0;  // per-sample seed (template, text drop, noise)
  };
  StatusOr<Loaded> LoadAt(size_t source, int64_t position);
  StatusOr<int64_t> IndexAt(size_t source, int64_t position);
  StatusOr<StepBatches> BuildStep(SamplerState* state);
  void LoaderLoop(int64_t first, int64_t end, SamplerState state);
  void FlushLog();

  JobSpec spec_;
  std::vector<SourceSpec> sources_;
  std::vector<std::unique_ptr<Dataset>> datasets_;  // null for shapes
  std::vector<std::unique_ptr<ShapesWorld>> worlds_;  // null unless shapes
  int image_size_, rank_, world_;
  size_t loader_threads_ = 1;
  std::ostream& log_;
  Tokenizer tok_;
  std::vector<std::string> templates_;  // reconstruction instructions

  std::mutex perm_mu_;
  struct EpochPerm {
    int64_t epoch = -1;
    std::vector<int64_t> perm;
  };
  // Per source, the last two epochs' permutations (a step may span two).
  std::vector<std::array<EpochPerm, 2>> perms_;

  mutable std::mutex stats_mu_;
  DataStats stats_;
  int64_t bad_logged_ = 0;
  std::string pending_log_;  // written to log_ by FlushLog on the consumer's thread

  std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<StatusOr<PreparedStep>> queue_;
  bool stop_ = false;
  bool loader_done_ = false;
  std::thread loader_;
};

// The first `count` steps of rank 0 of 1, synchronously (tests, tools,
// recorded benchmark batches).
StatusOr<std::vector<StepBatches>> BuildSteps(const JobSpec& spec, int image_size, int64_t count);

// A spec whose sources are the shapes world, one per task with the given
// repeats (0 = absent), for tests and tools.
JobSpec ShapesSpec(int64_t recon, int64_t i2t, int64_t t2i, int64_t batch, double cfg_drop = 0.1,
                   uint64_t seed = 0);

}  // namespace reca

#endif  // RECA_DATA_PIPELINE_H_
