#include "reca/mar/layers.h"

#include <cmath>

#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/autograd.h>

#include "reca/mar/attention_core.h"

namespace reca {
namespace {

class GradScaleFn : public torch::autograd::Function<GradScaleFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double scale) {
    ctx->saved_data["scale"] = scale;
    return x.view_as(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const double scale = ctx->saved_data["scale"].toDouble();
    return {grads[0] * scale, torch::Tensor()};
  }
};

}  // namespace

torch::nn::Linear MakeLinear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

torch::nn::Sequential MakeGeluMlp(int64_t in, int64_t out) {
  return torch::nn::Sequential(MakeLinear(in, out), torch::nn::GELU(), MakeLinear(out, out));
}

torch::nn::LayerNorm MakeLayerNorm(int64_t dim, bool affine) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps).elementwise_affine(affine));
}

torch::Tensor GradScale(const torch::Tensor& x, double scale) {
  if (scale == 1.0) return x;
  return GradScaleFn::apply(x, scale);
}

torch::Tensor CausalPaddingMask(const torch::Tensor& valid) {
  const int64_t len = valid.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kBool).device(valid.device());
  torch::Tensor causal = torch::ones({len, len}, opts).tril();
  torch::Tensor eye = torch::eye(len, opts);
  return causal.unsqueeze(0).logical_and(valid.unsqueeze(1)).logical_or(eye.unsqueeze(0));
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads)
    : heads_(heads), scale_(1.0 / std::sqrt(static_cast<double>(dim / heads))) {
  qkv_ = register_module("qkv", MakeLinear(dim, 3 * dim));
  proj_ = register_module("proj", MakeLinear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& allowed,
                                     const KeyValues* context, KeyValues* keep) {
  torch::Tensor qkv = qkv_->forward(x);
  if (keep) SplitKeysValues(qkv, heads_, &keep->k, &keep->v);
  return proj_->forward(AttentionCore(qkv, heads_, scale_, allowed, context ? context->k : torch::Tensor(),
                                      context ? context->v : torch::Tensor()));
}

KeyValues AttentionImpl::KeysValues(const torch::Tensor& x) {
  KeyValues kv;
  SplitKeysValues(qkv_->forward(x), heads_, &kv.k, &kv.v);
  return kv;
}

BlockImpl::BlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio) {
  ln1_ = register_module("ln1", MakeLayerNorm(dim));
  attn_ = register_module("attn", Attention(dim, heads));
  ln2_ = register_module("ln2", MakeLayerNorm(dim));
  fc1_ = register_module("fc1", MakeLinear(dim, dim * mlp_ratio));
  fc2_ = register_module("fc2", MakeLinear(dim * mlp_ratio, dim));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& allowed,
                                 const KeyValues* context, KeyValues* keep) {
  torch::Tensor h = x + attn_->forward(ln1_->forward(x), allowed, context, keep);
  return h + fc2_->forward(torch::gelu(fc1_->forward(ln2_->forward(h))));
}

torch::nn::ModuleList MakeBlocks(int64_t depth, int64_t dim, int64_t heads, int64_t mlp_ratio) {
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < depth; ++i) list->push_back(Block(dim, heads, mlp_ratio));
  return list;
}

torch::Tensor RunBlocks(torch::nn::ModuleList& blocks, torch::Tensor x,
                        const torch::Tensor& allowed) {
  for (const auto& m : *blocks) x = m->as<BlockImpl>()->forward(x, allowed);
  return x;
}

torch::Tensor DownsampleView(const torch::Tensor& images, int64_t factor) {
  if (factor == 1) return images;
  return torch::nn::functional::avg_pool2d(images, torch::nn::functional::AvgPool2dFuncOptions(factor));
}

torch::Tensor PoolPositions(const torch::Tensor& pos, int64_t g, int64_t grid) {
  if (grid == g) return pos;
  const int64_t d = pos.size(2);
  torch::Tensor img = pos.reshape({1, g, g, d}).permute({0, 3, 1, 2});
  img = torch::nn::functional::avg_pool2d(img, torch::nn::functional::AvgPool2dFuncOptions(g / grid));
  return img.permute({0, 2, 3, 1}).reshape({1, grid * grid, d});
}

torch::Tensor NormalParam(torch::nn::Module& m, const std::string& name, std::vector<int64_t> shape) {
  torch::Tensor p = torch::empty(shape);
  torch::nn::init::normal_(p, 0.0, 0.02);
  return m.register_parameter(name, p);
}

double BlockFlops(int64_t depth, int64_t len, int64_t dim, int64_t mlp_ratio, int64_t context) {
  const double l = len, d = dim;
  return depth * ((8.0 + 4.0 * mlp_ratio) * l * d * d + 4.0 * l * (l + context) * d);
}

void InitLinearsAndNorms(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::LinearImpl>()) {
      torch::nn::init::xavier_uniform_(lin->weight);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNormImpl>()) {
      if (ln->weight.defined()) ln->weight.fill_(1.0);
      if (ln->bias.defined()) ln->bias.zero_();
    }
  }
}

}  // namespace reca
