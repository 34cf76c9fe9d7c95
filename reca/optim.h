// AdamW with Harmon's recipe: betas (0.9, 0.95), weight decay 0.02 on
// matrices only (no decay on 1-D parameters: biases, norms), linear warm-up
// then cosine decay, gradient clipping by global norm, optional EMA of the
// weights.
#ifndef RECA_OPTIM_H_
#define RECA_OPTIM_H_

#include <map>
#include <memory>
#include <string>

#include <torch/optim/adamw.h>

#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

struct OptimOptions {
  double lr = 5e-4;
  double min_lr = 0.0;  // cosine floor
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.02;
  double grad_clip = 1.0;  // <= 0 disables clipping
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double ema_decay = 0.0;  // 0 = EMA off
  bool constant_after_warmup = false;  // no cosine decay

  Status Validate() const;
};

// Learning rate at `step` (0-based): linear warm-up to lr, cosine to min_lr.
double LearningRateAt(const OptimOptions& o, int64_t step);

class Optimizer {
 public:
  Optimizer(UnifiedModel& model, OptimOptions options);

  // Clips, applies the step-`step` learning rate, steps AdamW, zeroes the
  // gradients and updates the EMA. Returns the pre-clip global gradient norm;
  // when it is not finite the update is skipped and the caller decides.
  StatusOr<double> Step(int64_t step);
  void ZeroGrad();

  // Everything a bit-exact resume needs, by name: AdamW's per-parameter
  // step count and moments ("adam.<param>.step|exp_avg|exp_avg_sq") and the
  // EMA weights ("ema.<param>").
  std::map<std::string, torch::Tensor> StateTensors() const;
  // Restores StateTensors(); DATA_LOSS naming `origin` and the tensor on a
  // missing name or a shape mismatch.
  Status LoadStateTensors(const std::map<std::string, torch::Tensor>& state, const std::string& origin);

  // EMA weights by parameter name (empty when EMA is off).
  const std::map<std::string, torch::Tensor>& ema() const { return ema_; }
  torch::optim::AdamW& adamw() { return *adamw_; }

 private:
  UnifiedModel& model_;
  OptimOptions o_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
  std::map<std::string, torch::Tensor> ema_;
};

}  // namespace reca

#endif  // RECA_OPTIM_H_
