// Transformer building blocks shared by the mar family's encoder, LLM and
// decoder (pre-norm, fused QKV, exact GELU), written out explicitly so that
// bench/python/reca_mar.py can mirror them op for op (the parity test).
#ifndef RECA_MAR_LAYERS_H_
#define RECA_MAR_LAYERS_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace reca {

inline constexpr double kLayerNormEps = 1e-6;

torch::nn::Linear MakeLinear(int64_t in, int64_t out, bool bias = true);
torch::nn::LayerNorm MakeLayerNorm(int64_t dim, bool affine = true);

// Forward value unchanged; gradient multiplied by `scale` (Harmon's x0.1 into
// the understanding embedding).
torch::Tensor GradScale(const torch::Tensor& x, double scale);

// [B, L, L] bool: causal, keys restricted to `valid` [B, L], and every query
// may see itself (so padded rows never become all -inf).
torch::Tensor CausalPaddingMask(const torch::Tensor& valid);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t heads);
  // x [B, L, D]; allowed [B, L, L] bool or undefined (full attention).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed);

 private:
  int64_t heads_;
  double scale_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(Attention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed);

 private:
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  Attention attn_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Block);

// Runs `blocks` (a ModuleList of Block) in order.
torch::Tensor RunBlocks(torch::nn::ModuleList& blocks, torch::Tensor x,
                        const torch::Tensor& allowed);
torch::nn::ModuleList MakeBlocks(int64_t depth, int64_t dim, int64_t heads, int64_t mlp_ratio);

// MAR-style init of every submodule (not `module` itself, which may still be
// under construction): xavier-uniform Linear weights, zero biases, unit LayerNorm.
void InitLinearsAndNorms(torch::nn::Module& module);

}  // namespace reca

#endif  // RECA_MAR_LAYERS_H_
