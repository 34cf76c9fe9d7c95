#include "reca/flow/flow_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <torch/nn/functional/loss.h>
#include <torch/nn/init.h>

#include "reca/mar/diffusion.h"
#include "reca/tokenizer.h"

namespace reca {
FlowVitImpl::FlowVitImpl(int64_t image_size, int64_t patch, int64_t dim, int64_t depth, int64_t heads,
                         int64_t mlp_ratio)
    : patch_(patch), grid_(image_size / patch) {
  patch_embed_ = register_module("patch_embed", MakeLinear(patch * patch * 3, dim));
  pos_ = NormalParam(*this, "pos", {1, grid_ * grid_, dim});
  blocks_ = register_module("blocks", MakeBlocks(depth, dim, heads, mlp_ratio));
}

torch::Tensor FlowVitImpl::forward(const torch::Tensor& images) {
  const int64_t grid = images.size(2) / patch_;
  torch::Tensor x = patch_embed_->forward(Patchify(images, patch_));
  return RunBlocks(blocks_, x + PoolPositions(pos_, grid_, grid), torch::Tensor());
}

FlowGenImpl::FlowGenImpl(const FlowConfig& c) {
  x_in_ = register_module("x_in", MakeLinear(c.token_dim(), c.llm_dim));
  pos_ = NormalParam(*this, "pos", {1, c.seq_len(), c.llm_dim});
  time_fc1_ = register_module("time_fc1", MakeLinear(DiffMlpImpl::kFreqDim, c.llm_dim));
  time_fc2_ = register_module("time_fc2", MakeLinear(c.llm_dim, c.llm_dim));
  blocks_ = register_module("blocks", MakeBlocks(c.llm_depth, c.llm_dim, c.llm_heads, c.mlp_ratio));
  norm_ = register_module("norm", MakeLayerNorm(c.llm_dim));
  x_out_ = register_module("x_out", MakeLinear(c.llm_dim, c.token_dim()));
}

torch::Tensor FlowGenImpl::Embed(const torch::Tensor& x_t, const torch::Tensor& t) {
  // Timesteps in [0, 1] scaled to DiT's [0, 1000] for the sinusoidal features.
  torch::Tensor temb =
      time_fc2_->forward(torch::silu(time_fc1_->forward(TimestepEmbedding(t * 1000.0, DiffMlpImpl::kFreqDim))));
  return x_in_->forward(x_t) + pos_ + temb.unsqueeze(1);
}

FlowModel::FlowModel(const FlowConfig& config) : c_(config) {
  vit_ = register_module("vit", FlowVit(c_.image_size, c_.vit_patch, c_.vit_dim, c_.vit_depth, c_.vit_heads,
                                         c_.mlp_ratio));
  connector_ = register_module("connector", MakeGeluMlp(c_.vit_dim, c_.llm_dim));
  und_ = register_module("und", Llm(c_.vocab_size, c_.llm_dim, c_.llm_max_positions(), c_.llm_depth,
                                    c_.llm_heads, c_.mlp_ratio));
  gen_ = register_module("gen", FlowGen(c_));
  if (c_.meta_queries > 0) {
    meta_ = register_module("meta", MakeGeluMlp(c_.llm_dim, c_.llm_dim));
  }
  InitLinearsAndNorms(*this);
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(und_->named_parameters()["tok_emb.weight"], 0.0, 0.02);
  if (c_.meta_queries > 0) queries_ = NormalParam(*this, "meta_queries", {1, c_.meta_queries, c_.llm_dim});
}

torch::Tensor FlowModel::UnderstandingEmbed(const torch::Tensor& images) {
  return connector_->forward(vit_->forward(DownsampleView(images, c_.image_size / c_.und_image_size)));
}

Prefix FlowModel::AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) {
  return und_->AssemblePrefix(prompt, visual);
}

Prefix FlowModel::EditPrefix(const PromptIds& prompt, const torch::Tensor& sources,
                             const torch::Tensor& keep_source) {
  Prefix p = UnifiedModel::EditPrefix(prompt, sources, keep_source);
  if (c_.meta_queries == 0) {  // OpenUni's queries read the understanding tokens only
    p.source_latents = Patchify(sources, c_.patch).detach();
    p.source_valid = keep_source.defined()
                         ? keep_source.to(p.valid.device(), torch::kBool)
                         : torch::ones({sources.size(0)}, p.valid.options());
  }
  return p;
}

NamedTensors FlowModel::SampleGenerationNoise(const NoiseSeeds& seeds) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  std::vector<torch::Tensor> ts, epss;
  for (uint64_t row_seed : seeds.rows) {
    at::Generator g = at::detail::createCPUGenerator(row_seed);
    ts.push_back(torch::randn({1}, g, f32));
    epss.push_back(torch::randn({c_.seq_len(), c_.token_dim()}, g, f32));
  }
  // Logit-normal timesteps (BAGEL: sigmoid of a standard normal), then the shift.
  torch::Tensor t = torch::sigmoid(torch::cat(ts));
  const double s = c_.timestep_shift;
  if (s != 1.0) t = s * t / (1.0 + (s - 1.0) * t);
  return {{"t", t}, {"eps", torch::stack(epss)}};
}

FlowCondition FlowModel::Conditioning(const Prefix& prefix) {
  FlowCondition cond;
  if (c_.meta_queries > 0) {
    const int64_t b = prefix.embeds.size(0), n = c_.meta_queries;
    torch::Tensor q = queries_.to(prefix.embeds.scalar_type()).expand({b, n, c_.llm_dim});
    torch::Tensor valid = torch::cat({prefix.valid, torch::ones({b, n}, prefix.valid.options())}, 1);
    torch::Tensor hidden = und_->forward(torch::cat({prefix.embeds, q}, 1), valid);
    cond.tokens = meta_->forward(hidden.narrow(1, prefix.embeds.size(1), n));
  } else {
    cond.kv = und_->PrefixKeyValues(prefix.embeds, prefix.valid);
    cond.valid = prefix.valid;
    if (prefix.source_latents.defined()) {
      // The source's clean latents through the gen expert (t = 0), attending
      // to the prefix and to each other; their keys and values join the prefix's.
      const torch::Tensor& src = prefix.source_latents;
      const int64_t b = src.size(0), s = src.size(1), p = prefix.valid.size(1);
      torch::Tensor h = gen_->Embed(src.to(prefix.embeds.scalar_type()),
                                    torch::zeros({b}, prefix.embeds.options()));
      torch::Tensor allowed = torch::cat({prefix.valid.unsqueeze(1).expand({b, s, p}),
                                          torch::ones({b, s, s}, prefix.valid.options())},
                                         2);
      auto& blocks = gen_->blocks();
      for (size_t i = 0; i < blocks->size(); ++i) {
        auto* block = blocks[i]->as<BlockImpl>();
        KeyValues own;
        if (i + 1 < blocks->size()) {
          h = block->forward(h, allowed, &cond.kv[i], &own);
        } else {
          own = block->KeysValues(h);
        }
        cond.kv[i] = {torch::cat({cond.kv[i].k, own.k}, 2), torch::cat({cond.kv[i].v, own.v}, 2)};
      }
      cond.valid = torch::cat({prefix.valid, prefix.source_valid.unsqueeze(1).expand({b, s})}, 1);
    }
  }
  return cond;
}

torch::Tensor FlowModel::Velocity(const FlowCondition& cond, const torch::Tensor& x_t,
                                  const torch::Tensor& t) {
  torch::Tensor h = gen_->Embed(x_t, t);
  const int64_t b = h.size(0), s = h.size(1);
  if (c_.meta_queries > 0) {
    const int64_t n = cond.tokens.size(1);
    h = RunBlocks(gen_->blocks(), torch::cat({cond.tokens, h}, 1), torch::Tensor()).narrow(1, n, s);
    return gen_->Out(h);
  }
  // Latents attend to every valid prefix position and to all latents.
  const int64_t p = cond.valid.size(1);
  torch::Tensor allowed = torch::cat(
      {cond.valid.unsqueeze(1).expand({b, s, p}), torch::ones({b, s, s}, cond.valid.options())}, 2);
  auto& blocks = gen_->blocks();
  for (size_t i = 0; i < blocks->size(); ++i) {
    h = blocks[i]->as<BlockImpl>()->forward(h, allowed, &cond.kv[i]);
  }
  return gen_->Out(h);
}

torch::Tensor FlowModel::GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                                        const NamedTensors& noise) {
  const auto dev = images.device();
  torch::Tensor x0 = Patchify(images, c_.patch).detach();
  torch::Tensor t = noise.at("t").to(dev);
  torch::Tensor eps = noise.at("eps").to(dev);
  torch::Tensor tt = t.reshape({-1, 1, 1});
  torch::Tensor x_t = (1.0 - tt) * x0 + tt * eps;
  torch::Tensor v = Velocity(Conditioning(prefix), x_t, t);
  return torch::nn::functional::mse_loss(v, eps - x0);
}

torch::Tensor FlowModel::I2TLoss(const torch::Tensor& images, const PromptIds& question,
                                 const torch::Tensor& caption_ids) {
  return und_->CaptionLoss(AssemblePrefix(question, UnderstandingEmbed(images)), caption_ids);
}

torch::Tensor FlowModel::Generate(const Prefix& cond, const Prefix& uncond, const SampleOptions& options,
                                  at::Generator& gen) {
  return Sample(cond, options.cfg != 1.0 ? &uncond : nullptr, nullptr, options, gen);
}

torch::Tensor FlowModel::GenerateEdit(const Prefix& cond, const Prefix& no_text, const Prefix& no_image,
                                      const SampleOptions& options, at::Generator& gen) {
  return Sample(cond, options.cfg != 1.0 ? &no_text : nullptr,
                options.image_cfg != 1.0 ? &no_image : nullptr, options, gen);
}

torch::Tensor FlowModel::Sample(const Prefix& cond, const Prefix* no_text, const Prefix* no_image,
                                const SampleOptions& options, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const auto dev = cond.embeds.device();
  const int64_t b = cond.embeds.size(0), steps = std::max<int64_t>(1, options.diffusion_steps);
  const FlowCondition c = Conditioning(cond);
  FlowCondition ut, ui;
  if (no_text) ut = Conditioning(*no_text);
  if (no_image) ui = Conditioning(*no_image);
  torch::Tensor x = (torch::randn({b, c_.seq_len(), c_.token_dim()}, gen,
                                  torch::TensorOptions().dtype(torch::kFloat32)) *
                     options.temperature)
                        .to(dev);
  const double s = c_.timestep_shift;
  auto shifted = [s](double t) { return s * t / (1.0 + (s - 1.0) * t); };
  for (int64_t i = 0; i < steps; ++i) {
    const double t = shifted(1.0 - static_cast<double>(i) / steps);
    const double t_next = shifted(1.0 - static_cast<double>(i + 1) / steps);
    torch::Tensor tv = torch::full({b}, t, x.options());
    torch::Tensor v = Velocity(c, x, tv);
    if (no_text) {
      torch::Tensor vu = Velocity(ut, x, tv);
      v = vu + options.cfg * (v - vu);
    }
    if (no_image) {
      torch::Tensor vi = Velocity(ui, x, tv);
      v = vi + options.image_cfg * (v - vi);
    }
    x = x + (t_next - t) * v;
  }
  return Unpatchify(x, c_.patch, c_.image_size);
}

double FlowModel::UnderstandingForwardFlops(int64_t batch) const {
  const double n = c_.und_seq_len(), dv = c_.vit_dim, dl = c_.llm_dim;
  const double f = 2 * n * c_.vit_patch * c_.vit_patch * 3 * dv +
                   BlockFlops(c_.vit_depth, c_.und_seq_len(), c_.vit_dim, c_.mlp_ratio) +
                   2 * n * (dv * dl + dl * dl);
  return batch * f;
}

double FlowModel::GenerationForwardFlops(int64_t batch, int64_t prefix_len) const {
  const double s = c_.seq_len(), d = c_.llm_dim, c = c_.token_dim();
  double f = 2 * s * (c * d + d * c);
  double cond = 0;
  if (c_.meta_queries > 0) {
    const int64_t n = c_.meta_queries;
    cond = BlockFlops(c_.llm_depth, prefix_len + n, c_.llm_dim, c_.mlp_ratio) + 2.0 * n * 2 * d * d;
    f += BlockFlops(c_.llm_depth, n + c_.seq_len(), c_.llm_dim, c_.mlp_ratio);
  } else {
    cond = BlockFlops(c_.llm_depth, prefix_len, c_.llm_dim, c_.mlp_ratio);
    f += BlockFlops(c_.llm_depth, c_.seq_len(), c_.llm_dim, c_.mlp_ratio, prefix_len);
  }
  return batch * (f + cond) + 2.0 * batch * (DiffMlpImpl::kFreqDim * d + d * d);
}

double FlowModel::I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const {
  const double f = BlockFlops(c_.llm_depth, prefix_len + caption_len, c_.llm_dim, c_.mlp_ratio) +
                   2.0 * caption_len * c_.llm_dim * c_.vocab_size;
  return UnderstandingForwardFlops(batch) + batch * f;
}

}  // namespace reca
