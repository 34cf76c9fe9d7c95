// The per-token diffusion head of the mar family (MAR's DiffLoss): a cosine
// DDPM schedule, an AdaLN residual MLP that predicts the noise epsilon of one
// continuous token given its condition vector z, the epsilon loss (callers
// pass only the rows that carry loss: the masked tokens), and
// respaced ancestral sampling with classifier-free guidance.
//
// Variance is fixed to the posterior variance (MAR learns it; documented
// simplification). Predicted x0 is clamped to the token range [-1, 1].
#ifndef RECA_MAR_DIFFUSION_H_
#define RECA_MAR_DIFFUSION_H_

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace reca {

// Cosine schedule (Nichol & Dhariwal, s = 0.008), computed in double.
struct CosineSchedule {
  explicit CosineSchedule(int64_t steps);
  int64_t steps;
  std::vector<double> alphas_cumprod;  // size steps
  torch::Tensor sqrt_ab;               // float32 [steps]
  torch::Tensor sqrt_one_minus_ab;     // float32 [steps]
};

// Sinusoidal timestep features (dim even), cos first as in MAR/DiT.
torch::Tensor TimestepEmbedding(const torch::Tensor& t, int64_t dim);

class DiffResBlockImpl : public torch::nn::Module {
 public:
  explicit DiffResBlockImpl(int64_t width);
  // silu_y = SiLU(time + condition embedding), shared by all blocks.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& silu_y);

 private:
  torch::nn::LayerNorm ln_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, ada_{nullptr};
  friend class DiffMlpImpl;
};
TORCH_MODULE(DiffResBlock);

class DiffMlpImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kFreqDim = 256;
  DiffMlpImpl(int64_t token_dim, int64_t cond_dim, int64_t width, int64_t depth);
  // x [M, C] noisy tokens, t [M] int64 timesteps, z [M / repeats, cond_dim]
  // conditions (row i of z serves rows i, i + M/repeats, ... of x) -> eps [M, C].
  // The timestep MLP runs once per distinct timestep and the condition
  // projection once per condition row, then both are gathered: the same
  // values as MAR's per-row computation for a fraction of the FLOPs.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& z,
                        int64_t repeats = 1);
  // MAR init: xavier everywhere, then zero AdaLN modulations and the output layer.
  void ResetParameters();

 private:
  torch::nn::Linear time_fc1_{nullptr}, time_fc2_{nullptr}, cond_{nullptr}, input_proj_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear final_ada_{nullptr}, final_linear_{nullptr};
};
TORCH_MODULE(DiffMlp);

// Epsilon-MSE averaged over token channels and rows. x0 [M, C], t [M],
// eps [M, C], z [M / repeats, D] (see DiffMlpImpl::forward).
torch::Tensor DiffusionLoss(DiffMlp& net, const CosineSchedule& sched, const torch::Tensor& x0,
                            const torch::Tensor& z, int64_t repeats, const torch::Tensor& t,
                            const torch::Tensor& eps);

struct DiffusionSampleOptions {
  int64_t steps = 50;        // respaced from the training schedule
  double cfg = 1.0;          // guidance scale; 1 disables the unconditional pass
  double temperature = 1.0;  // scales the per-step noise
};

// Ancestral sampling of M tokens. z_uncond must be defined when cfg != 1.
torch::Tensor DiffusionSample(DiffMlp& net, const CosineSchedule& sched, const torch::Tensor& z,
                              const torch::Tensor& z_uncond, int64_t token_dim,
                              const DiffusionSampleOptions& opt, at::Generator& gen);

}  // namespace reca

#endif  // RECA_MAR_DIFFUSION_H_
