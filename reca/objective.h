// The RecA objective (DESIGN.md §4.2):
//   L = w_recon * L_gen(template + h_v(I) -> I) + w_i2t * L_i2t + w_t2i * L_t2i
//       (+ w_edit * L_gen(instruction + source -> target) with edit sources)
// accumulated over every batch of a step (each loss scaled by its weight and
// divided by the total number of batches, as Harmon's accumulative_counts).
#ifndef RECA_OBJECTIVE_H_
#define RECA_OBJECTIVE_H_

#include <functional>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

#include "reca/batch.h"
#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

struct StepLosses {
  // Mean loss per source over its batches this step; NaN when the source has none.
  double recon, i2t, t2i, edit;
  double total;          // the accumulated objective
  double forward_flops;  // matmul FLOPs of all forward passes of the step
  int64_t samples = 0;
  // (batch.source, loss) of every batch, in the order they ran.
  std::vector<std::pair<int, double>> per_batch;
};

// Runs forward and backward for every batch of `step` (adding to .grad);
// randomness of the generation losses comes from `gen`. Under `bf16` the
// forward passes run in bfloat16 autocast (CUDA only). `before_last_backward`
// runs just before the step's final backward pass (data parallelism arms its
// gradient all-reduce hooks there, to overlap communication with it).
StatusOr<StepLosses> AccumulateRecaGradients(
    UnifiedModel& model, const StepBatches& step, const LossWeights& weights, at::Generator& gen,
    const c10::Device& device, bool bf16 = false,
    const std::function<void()>& before_last_backward = nullptr);

// The loss of the reconstruction source alone, without gradients (held-out
// evaluation). The understanding embedding comes from `condition_images`
// when given (e.g. other images: how much the generator relies on it),
// otherwise from the target images themselves.
StatusOr<double> ReconstructionLoss(UnifiedModel& model, const ReconBatch& batch,
                                    at::Generator& gen, const c10::Device& device,
                                    const at::Tensor& condition_images = at::Tensor());

}  // namespace reca

#endif  // RECA_OBJECTIVE_H_
