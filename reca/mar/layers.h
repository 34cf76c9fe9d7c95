// Transformer building blocks shared by the model families: the mar family's
// encoder, LLM and decoder, the flow family's ViT and experts (pre-norm,
// fused QKV, exact GELU), written out explicitly so that bench/python/
// reca_mar.py can mirror them op for op (the parity test).
#ifndef RECA_MAR_LAYERS_H_
#define RECA_MAR_LAYERS_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace reca {

inline constexpr double kLayerNormEps = 1e-6;

torch::nn::Linear MakeLinear(int64_t in, int64_t out, bool bias = true);
// Linear(in, out) - GELU - Linear(out, out): the flow connector and meta-query
// projector, maskgit's mm_projector.
torch::nn::Sequential MakeGeluMlp(int64_t in, int64_t out);
torch::nn::LayerNorm MakeLayerNorm(int64_t dim, bool affine = true);

// Forward value unchanged; gradient multiplied by `scale` (Harmon's x0.1 into
// the understanding embedding).
torch::Tensor GradScale(const torch::Tensor& x, double scale);

// [B, L, L] bool: causal, keys restricted to `valid` [B, L], and every query
// may see itself (so padded rows never become all -inf).
torch::Tensor CausalPaddingMask(const torch::Tensor& valid);

// Keys and values of one attention layer, each [B, heads, L, head_dim].
struct KeyValues {
  torch::Tensor k, v;
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t heads);
  // x [B, L, D]; allowed [B, L, L] bool or undefined (full attention).
  // With `context`, the queries also attend to those keys/values (placed
  // before x's own; allowed is then [B, L, Lctx + L]): a mixture-of-
  // transformers layer attending to another expert's tokens. `keep`
  // receives x's own keys and values.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed,
                        const KeyValues* context = nullptr, KeyValues* keep = nullptr);
  // Only the keys and values forward's `keep` would receive.
  KeyValues KeysValues(const torch::Tensor& x);

 private:
  int64_t heads_;
  double scale_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(Attention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio);
  // See AttentionImpl::forward for `context` and `keep`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed,
                        const KeyValues* context = nullptr, KeyValues* keep = nullptr);
  // Only the keys and values forward's `keep` would receive (no attention, no MLP).
  KeyValues KeysValues(const torch::Tensor& x) { return attn_->KeysValues(ln1_->forward(x)); }

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

// The lower-resolution view an understanding encoder gets: `images`
// [B, 3, H, W] average-pooled by `factor` (themselves when it is 1).
torch::Tensor DownsampleView(const torch::Tensor& images, int64_t factor);
// A [1, g*g, D] learned position table average-pooled to grid `grid` (a
// divisor of g) for a lower-resolution input; the table itself at g.
torch::Tensor PoolPositions(const torch::Tensor& pos, int64_t g, int64_t grid);

// Registers a parameter of `shape` drawn from N(0, 0.02) (positions, mask tokens).
torch::Tensor NormalParam(torch::nn::Module& m, const std::string& name, std::vector<int64_t> shape);

// Matmul FLOPs of `depth` pre-norm blocks over `len` tokens (batch 1); with
// `context`, each query also attends to that many extra keys.
double BlockFlops(int64_t depth, int64_t len, int64_t dim, int64_t mlp_ratio, int64_t context = 0);

// MAR-style init of every submodule (not `module` itself, which may still be
// under construction): xavier-uniform Linear weights, zero biases, unit LayerNorm.
void InitLinearsAndNorms(torch::nn::Module& module);

}  // namespace reca

#endif  // RECA_MAR_LAYERS_H_
