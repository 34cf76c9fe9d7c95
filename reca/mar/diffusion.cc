#include "reca/mar/diffusion.h"

#include <algorithm>
#include <cmath>

#include <torch/nn/init.h>

#include "reca/mar/layers.h"

namespace reca {

CosineSchedule::CosineSchedule(int64_t n) : steps(n) {
  constexpr double kS = 0.008;
  auto f = [&](double u) {
    const double v = std::cos((u + kS) / (1.0 + kS) * M_PI / 2.0);
    return v * v;
  };
  std::vector<float> sab(n), s1mab(n);
  double prod = 1.0;
  for (int64_t i = 0; i < n; ++i) {
    const double beta = std::min(1.0 - f(double(i + 1) / n) / f(double(i) / n), 0.999);
    prod *= 1.0 - beta;
    alphas_cumprod.push_back(prod);
    sab[i] = static_cast<float>(std::sqrt(prod));
    s1mab[i] = static_cast<float>(std::sqrt(1.0 - prod));
  }
  sqrt_ab = torch::tensor(sab);
  sqrt_one_minus_ab = torch::tensor(s1mab);
}

torch::Tensor TimestepEmbedding(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(t.device());
  torch::Tensor freqs = torch::exp(-std::log(10000.0) * torch::arange(0, half, opts) / half);
  torch::Tensor args = t.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({torch::cos(args), torch::sin(args)}, -1);
}

DiffResBlockImpl::DiffResBlockImpl(int64_t width) {
  ln_ = register_module("ln", MakeLayerNorm(width));
  fc1_ = register_module("fc1", MakeLinear(width, width));
  fc2_ = register_module("fc2", MakeLinear(width, width));
  ada_ = register_module("ada", MakeLinear(width, 3 * width));
}

torch::Tensor DiffResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& silu_y) {
  std::vector<torch::Tensor> mod = ada_->forward(silu_y).chunk(3, -1);  // shift, scale, gate
  torch::Tensor h = torch::addcmul(mod[0], ln_->forward(x), mod[1] + 1);
  h = fc2_->forward(torch::silu(fc1_->forward(h)));
  return torch::addcmul(x, mod[2], h);
}

DiffMlpImpl::DiffMlpImpl(int64_t token_dim, int64_t cond_dim, int64_t width, int64_t depth) {
  time_fc1_ = register_module("time_fc1", MakeLinear(kFreqDim, width));
  time_fc2_ = register_module("time_fc2", MakeLinear(width, width));
  cond_ = register_module("cond", MakeLinear(cond_dim, width));
  input_proj_ = register_module("input_proj", MakeLinear(token_dim, width));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) blocks_->push_back(DiffResBlock(width));
  final_norm_ = register_module("final_norm", MakeLayerNorm(width, /*affine=*/false));
  final_ada_ = register_module("final_ada", MakeLinear(width, 2 * width));
  final_linear_ = register_module("final_linear", MakeLinear(width, token_dim));
}

void DiffMlpImpl::ResetParameters() {
  InitLinearsAndNorms(*this);
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(time_fc1_->weight, 0.0, 0.02);
  torch::nn::init::normal_(time_fc2_->weight, 0.0, 0.02);
  for (const auto& m : *blocks_) {
    auto* b = m->as<DiffResBlockImpl>();
    b->ada_->weight.zero_();
    b->ada_->bias.zero_();
  }
  final_ada_->weight.zero_();
  final_ada_->bias.zero_();
  final_linear_->weight.zero_();
  final_linear_->bias.zero_();
}

torch::Tensor DiffMlpImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                   const torch::Tensor& z, int64_t repeats) {
  auto [steps, which, counts] = at::_unique2(t, /*sorted=*/true, /*return_inverse=*/true);
  (void)counts;
  torch::Tensor temb =
      time_fc2_->forward(torch::silu(time_fc1_->forward(TimestepEmbedding(steps, kFreqDim))))
          .index_select(0, which.reshape({-1}));
  torch::Tensor c = cond_->forward(z);
  if (repeats > 1) c = c.repeat({repeats, 1});
  torch::Tensor silu_y = torch::silu(temb + c);
  torch::Tensor h = input_proj_->forward(x);
  for (const auto& m : *blocks_) h = m->as<DiffResBlockImpl>()->forward(h, silu_y);
  std::vector<torch::Tensor> mod = final_ada_->forward(silu_y).chunk(2, -1);
  return final_linear_->forward(torch::addcmul(mod[0], final_norm_->forward(h), mod[1] + 1));
}

torch::Tensor DiffusionLoss(DiffMlp& net, const CosineSchedule& sched, const torch::Tensor& x0,
                            const torch::Tensor& z, int64_t repeats, const torch::Tensor& t,
                            const torch::Tensor& eps) {
  torch::Tensor a = sched.sqrt_ab.to(x0.device()).index_select(0, t).unsqueeze(1);
  torch::Tensor s = sched.sqrt_one_minus_ab.to(x0.device()).index_select(0, t).unsqueeze(1);
  torch::Tensor xt = a * x0 + s * eps;
  return (net->forward(xt, t, z, repeats) - eps).pow(2).mean();
}

torch::Tensor DiffusionSample(DiffMlp& net, const CosineSchedule& sched, const torch::Tensor& z,
                              const torch::Tensor& z_uncond, int64_t token_dim,
                              const DiffusionSampleOptions& opt, at::Generator& gen) {
  const int64_t m = z.size(0);
  const bool guided = opt.cfg != 1.0;
  const int64_t k = std::max<int64_t>(1, std::min(opt.steps, sched.steps));
  std::vector<int64_t> ts;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t t = (k == 1) ? sched.steps - 1 : std::llround(double(i) * (sched.steps - 1) / (k - 1));
    if (ts.empty() || ts.back() != t) ts.push_back(t);
  }
  auto cpu = torch::TensorOptions().dtype(torch::kFloat32);
  torch::Tensor x = torch::randn({m, token_dim}, gen, cpu).to(z.device());
  torch::Tensor zz = guided ? torch::cat({z, z_uncond}, 0) : z;
  for (int64_t i = static_cast<int64_t>(ts.size()) - 1; i >= 0; --i) {
    const double ab = sched.alphas_cumprod[ts[i]];
    const double ab_prev = i > 0 ? sched.alphas_cumprod[ts[i - 1]] : 1.0;
    const double beta = 1.0 - ab / ab_prev;
    torch::Tensor tt = torch::full({guided ? 2 * m : m}, ts[i],
                                   torch::TensorOptions().dtype(torch::kInt64).device(z.device()));
    torch::Tensor eps = net->forward(guided ? torch::cat({x, x}, 0) : x, tt, zz);
    if (guided) {
      std::vector<torch::Tensor> e = eps.chunk(2, 0);
      eps = e[1] + opt.cfg * (e[0] - e[1]);
    }
    torch::Tensor x0 = ((x - std::sqrt(1.0 - ab) * eps) / std::sqrt(ab)).clamp(-1.0, 1.0);
    torch::Tensor mean = (std::sqrt(ab_prev) * beta / (1.0 - ab)) * x0 +
                         (std::sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)) * x;
    if (i > 0) {
      const double var = beta * (1.0 - ab_prev) / (1.0 - ab);
      torch::Tensor noise = torch::randn({m, token_dim}, gen, cpu).to(z.device());
      x = mean + std::sqrt(var) * opt.temperature * noise;
    } else {
      x = mean;
    }
  }
  return x;
}

}  // namespace reca
