// Iterative MAR decoding: start fully masked, and in each of num_iter rounds
// predict conditions for every position, then sample (by per-token
// diffusion with classifier-free guidance) the tokens whose turn it is in a
// random order, following MAR's cosine schedule of how many stay masked.
#include <cmath>

#include "reca/mar/mar_model.h"

namespace reca {
namespace {

// Left-pads the shorter prefix so the two stack into one batch.
Prefix StackPrefixes(const Prefix& a, const Prefix& b) {
  auto pad = [](const Prefix& p, int64_t len) {
    const int64_t extra = len - p.embeds.size(1);
    if (extra == 0) return p;
    const int64_t n = p.embeds.size(0);
    return Prefix{
        torch::cat({torch::zeros({n, extra, p.embeds.size(2)}, p.embeds.options()), p.embeds}, 1),
        torch::cat({torch::zeros({n, extra}, p.valid.options()), p.valid}, 1)};
  };
  const int64_t len = std::max(a.embeds.size(1), b.embeds.size(1));
  Prefix pa = pad(a, len), pb = pad(b, len);
  return {torch::cat({pa.embeds, pb.embeds}, 0), torch::cat({pa.valid, pb.valid}, 0)};
}

}  // namespace

torch::Tensor MarModel::Generate(const Prefix& cond, const Prefix& uncond,
                                 const SampleOptions& options, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const auto dev = cond.embeds.device();
  const int64_t b = cond.embeds.size(0), seq = c_.seq_len(), cdim = c_.token_dim();
  const int64_t num_iter = std::max<int64_t>(1, std::min(options.num_iter, seq));
  const bool guided = options.cfg != 1.0;
  const Prefix prefix = guided ? StackPrefixes(cond, uncond) : cond;

  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  std::vector<torch::Tensor> perms;
  for (int64_t i = 0; i < b; ++i) perms.push_back(torch::randperm(seq, gen, i64));
  torch::Tensor orders = torch::stack(perms).to(dev);
  torch::Tensor tokens = torch::zeros({b, seq, cdim}, cond.embeds.options());
  torch::Tensor mask = torch::ones({b, seq}, torch::TensorOptions().dtype(torch::kBool).device(dev));

  for (int64_t step = 0; step < num_iter; ++step) {
    torch::Tensor visible = mask.logical_not();
    torch::Tensor z = guided ? GenerationConditions(prefix, torch::cat({tokens, tokens}, 0),
                                                    torch::cat({visible, visible}, 0))
                             : GenerationConditions(prefix, tokens, visible);
    const int64_t masked_now = mask[0].sum().item<int64_t>();
    int64_t mask_len = static_cast<int64_t>(
        std::floor(seq * std::cos(M_PI / 2.0 * double(step + 1) / num_iter)));
    mask_len = std::max<int64_t>(1, std::min(masked_now - 1, mask_len));
    torch::Tensor to_pred;
    if (step + 1 >= num_iter) {
      to_pred = mask;
      mask = torch::zeros_like(mask);
    } else {
      torch::Tensor next = torch::zeros_like(mask);
      next.scatter_(1, orders.narrow(1, 0, mask_len), true);
      to_pred = mask.logical_and(next.logical_not());
      mask = next;
    }
    DiffusionSampleOptions dopt;
    dopt.steps = options.diffusion_steps;
    dopt.temperature = options.temperature;
    // MAR's linear guidance schedule: weaker while most tokens are unknown.
    dopt.cfg = 1.0 + (options.cfg - 1.0) * double(seq - mask_len) / seq;
    torch::Tensor zc = z.narrow(0, 0, b).index({to_pred});
    torch::Tensor zu = guided ? z.narrow(0, b, b).index({to_pred}) : torch::Tensor();
    torch::Tensor sampled = DiffusionSample(diff_, sched_, zc, zu, cdim, dopt, gen);
    tokens.index_put_({to_pred}, sampled);
  }
  return Unpatchify(tokens, c_.patch, c_.image_size);
}

}  // namespace reca
