#include "reca/maskgit/maskgit_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/nn/functional/loss.h>
#include <torch/nn/init.h>

#include "reca/batch.h"
#include "reca/shapes_world.h"
#include "reca/tokenizer.h"

namespace reca {
namespace {

// Squared distances [N, K] between rows of x [N, C] and codes [K, C].
torch::Tensor SquaredDistances(const torch::Tensor& x, const torch::Tensor& codes) {
  return x.pow(2).sum(1, true) - 2 * x.matmul(codes.t()) + codes.pow(2).sum(1).unsqueeze(0);
}

}  // namespace

VqCodebookImpl::VqCodebookImpl(const MaskGitConfig& c) : c_(c) {
  codebook_ = register_buffer("codebook", torch::zeros({c.codebook_size, c.token_dim()}));
}

void VqCodebookImpl::Fit() {
  torch::NoGradGuard no_grad;
  // The patches of a fixed set of shapes-world images (not the training
  // stream's: its own world seed).
  ShapesWorld world(ShapesWorldOptions{0x7e9c0deull, static_cast<int>(c_.image_size)});
  std::vector<std::vector<uint8_t>> px;
  for (int64_t i = 0; i < c_.vq_fit_images; ++i) px.push_back(ShapesWorld::Render(world.SceneAt(i)));
  torch::Tensor x = Patchify(ImagesToTensor(px, c_.image_size), c_.patch).reshape({-1, c_.token_dim()});
  // k-means++ seeding, then Lloyd iterations; an emptied code keeps its centre.
  at::Generator gen = at::detail::createCPUGenerator(0x5eedc0deull);
  const int64_t n = x.size(0), k = c_.codebook_size;
  std::vector<int64_t> chosen = {torch::randint(0, n, {1}, gen, torch::kInt64).item<int64_t>()};
  torch::Tensor d2 = (x - x[chosen[0]]).pow(2).sum(1);
  for (int64_t j = 1; j < k; ++j) {
    const int64_t next = torch::multinomial(d2 + 1e-12, 1, false, gen).item<int64_t>();
    chosen.push_back(next);
    d2 = torch::minimum(d2, (x - x[next]).pow(2).sum(1));
  }
  torch::Tensor centres = x.index_select(0, torch::tensor(chosen, torch::kInt64)).clone();
  for (int64_t it = 0; it < c_.vq_fit_iters; ++it) {
    torch::Tensor assign = SquaredDistances(x, centres).argmin(1);
    torch::Tensor sums = torch::zeros_like(centres).index_add_(0, assign, x);
    torch::Tensor counts = torch::zeros({k}, x.options()).index_add_(0, assign, torch::ones({n}, x.options()));
    torch::Tensor used = counts > 0;
    centres = torch::where(used.unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), centres);
  }
  codebook_.copy_(centres);
}

torch::Tensor VqCodebookImpl::Encode(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const int64_t b = images.size(0);
  torch::Tensor x = Patchify(images, c_.patch).reshape({-1, c_.token_dim()});
  return SquaredDistances(x, codebook_.to(x.scalar_type())).argmin(1).reshape({b, -1});
}

torch::Tensor VqCodebookImpl::Decode(const torch::Tensor& ids) {
  const int64_t b = ids.size(0);
  return Unpatchify(codebook_.index_select(0, ids.reshape({-1})).reshape({b, ids.size(1), -1}), c_.patch,
                    c_.image_size);
}

MaskGitImageImpl::MaskGitImageImpl(const MaskGitConfig& c) {
  emb_ = register_module("emb", torch::nn::Embedding(c.codebook_size + 1, c.llm_dim));
  pos_ = NormalParam(*this, "pos", {1, c.seq_len(), c.llm_dim});
  head_ = register_module("head", MakeLinear(c.llm_dim, c.codebook_size));
}

MaskGitModel::MaskGitModel(const MaskGitConfig& config, bool fit_codebook) : c_(config) {
  vq_ = register_module("vq", VqCodebook(c_));
  clip_ = register_module("clip", FlowVit(c_.image_size, c_.clip_patch, c_.clip_dim, c_.clip_depth,
                                          c_.clip_heads, c_.mlp_ratio));
  projector_ = register_module("projector", MakeGeluMlp(c_.clip_dim, c_.llm_dim));
  llm_ = register_module("llm", Llm(c_.vocab_size, c_.llm_dim, c_.llm_max_positions(), c_.llm_depth,
                                    c_.llm_heads, c_.mlp_ratio));
  img_ = register_module("img", MaskGitImage(c_));
  InitLinearsAndNorms(*this);
  torch::NoGradGuard no_grad;
  auto params = named_parameters();
  torch::nn::init::normal_(params["llm.tok_emb.weight"], 0.0, 0.02);
  torch::nn::init::normal_(params["img.emb.weight"], 0.0, 0.02);
  if (fit_codebook) vq_->Fit();
}

torch::Tensor MaskGitModel::UnderstandingEmbed(const torch::Tensor& images) {
  const int64_t f = c_.image_size / c_.und_image_size;
  torch::Tensor view = DownsampleView(images, f);
  if (c_.vq_condition) {
    // The image's own tokens (of the down-then-up view): no encoder at all.
    if (f != 1) view = view.repeat_interleave(f, 2).repeat_interleave(f, 3);
    return img_->Embed(vq_->Encode(view));
  }
  return projector_->forward(clip_->forward(view));
}

Prefix MaskGitModel::AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) {
  return llm_->AssemblePrefix(prompt, visual);
}

NamedTensors MaskGitModel::SampleGenerationNoise(const NoiseSeeds& seeds) {
  const int64_t seq = c_.seq_len();
  std::vector<torch::Tensor> masks;
  for (uint64_t row_seed : seeds.rows) {
    at::Generator g = at::detail::createCPUGenerator(row_seed);
    const double u = torch::rand({1}, g, torch::kFloat64).item<double>();
    const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(std::cos(u * M_PI / 2) * seq)), 1, seq);
    torch::Tensor order = torch::randperm(seq, g, torch::kInt64);
    masks.push_back(torch::zeros({seq}, torch::kBool).index_fill_(0, order.narrow(0, 0, n), true));
  }
  return {{"mask", torch::stack(masks)}};
}

torch::Tensor MaskGitModel::ImageLogits(const std::vector<KeyValues>& kv, const torch::Tensor& valid,
                                        const torch::Tensor& ids) {
  torch::Tensor h = img_->Embed(ids);
  const int64_t b = h.size(0), s = h.size(1), p = valid.size(1);
  torch::Tensor allowed =
      torch::cat({valid.unsqueeze(1).expand({b, s, p}), torch::ones({b, s, s}, valid.options())}, 2);
  auto& blocks = llm_->blocks();
  for (size_t i = 0; i < blocks->size(); ++i) h = blocks[i]->as<BlockImpl>()->forward(h, allowed, &kv[i]);
  return img_->Logits(llm_->Norm(h));
}

std::vector<KeyValues> MaskGitModel::PrefixKeyValues(const Prefix& prefix) {
  return llm_->PrefixKeyValues(prefix.embeds, prefix.valid);
}

torch::Tensor MaskGitModel::GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                                           const NamedTensors& noise) {
  torch::Tensor ids = vq_->Encode(images);
  torch::Tensor mask = noise.at("mask").to(ids.device());
  torch::Tensor input = ids.masked_fill(mask, c_.mask_id());
  torch::Tensor logits = ImageLogits(PrefixKeyValues(prefix), prefix.valid, input);
  return torch::nn::functional::cross_entropy(logits.index({mask}), ids.index({mask}));
}

torch::Tensor MaskGitModel::I2TLoss(const torch::Tensor& images, const PromptIds& question,
                                    const torch::Tensor& caption_ids) {
  return llm_->CaptionLoss(AssemblePrefix(question, UnderstandingEmbed(images)), caption_ids);
}

torch::Tensor MaskGitModel::Generate(const Prefix& cond, const Prefix& uncond, const SampleOptions& options,
                                     at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const auto dev = cond.embeds.device();
  const int64_t b = cond.embeds.size(0), s = c_.seq_len(), iters = std::max<int64_t>(1, options.num_iter);
  const bool guided = options.cfg != 1.0;
  const std::vector<KeyValues> kc = PrefixKeyValues(cond);
  const std::vector<KeyValues> ku = guided ? PrefixKeyValues(uncond) : std::vector<KeyValues>{};
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  torch::Tensor ids = torch::full({b, s}, c_.mask_id(), torch::TensorOptions().dtype(torch::kInt64).device(dev));
  for (int64_t k = 0; k < iters; ++k) {
    torch::Tensor logits = ImageLogits(kc, cond.valid, ids);
    if (guided) {
      torch::Tensor lu = ImageLogits(ku, uncond.valid, ids);
      logits = lu + options.cfg * (logits - lu);
    }
    const double temp = std::max(options.temperature, 1e-4);
    torch::Tensor probs = torch::softmax(logits.to(torch::kFloat32) / temp, -1).cpu();
    torch::Tensor sampled = torch::multinomial(probs.reshape({b * s, -1}), 1, false, gen).reshape({b, s});
    torch::Tensor conf = probs.gather(2, sampled.unsqueeze(2)).squeeze(2);
    // MaskGIT: confidence plus annealed Gumbel noise; decoded tokens stay.
    torch::Tensor u = torch::rand({b, s}, gen, f32).clamp(1e-20, 1.0);
    const double anneal = 4.5 * options.temperature * (1.0 - static_cast<double>(k + 1) / iters);
    torch::Tensor score = conf.log() + anneal * -torch::log(-torch::log(u));
    torch::Tensor masked = ids.eq(c_.mask_id()).cpu();
    sampled = torch::where(masked, sampled, ids.cpu());
    score = score.masked_fill(masked.logical_not(), std::numeric_limits<float>::infinity());
    // Cosine schedule: this many tokens stay masked after round k.
    const int64_t keep_masked =
        static_cast<int64_t>(std::floor(s * std::cos(M_PI / 2 * static_cast<double>(k + 1) / iters)));
    torch::Tensor next = sampled;
    if (keep_masked > 0) {
      torch::Tensor lowest = std::get<1>(score.topk(keep_masked, 1, /*largest=*/false));
      next = sampled.scatter(1, lowest, c_.mask_id());
    }
    ids = next.to(dev);
  }
  return vq_->Decode(ids.clamp_max(c_.codebook_size - 1));
}

double MaskGitModel::UnderstandingForwardFlops(int64_t batch) const {
  const double n = c_.und_seq_len(), dv = c_.clip_dim, dl = c_.llm_dim;
  return batch * (2 * n * c_.clip_patch * c_.clip_patch * 3 * dv +
                  BlockFlops(c_.clip_depth, c_.und_seq_len(), c_.clip_dim, c_.mlp_ratio) +
                  2 * n * (dv * dl + dl * dl));
}

double MaskGitModel::GenerationForwardFlops(int64_t batch, int64_t prefix_len) const {
  const double s = c_.seq_len(), d = c_.llm_dim, k = c_.codebook_size;
  const double f = BlockFlops(c_.llm_depth, prefix_len, c_.llm_dim, c_.mlp_ratio) +
                   BlockFlops(c_.llm_depth, c_.seq_len(), c_.llm_dim, c_.mlp_ratio, prefix_len) +
                   2 * s * c_.token_dim() * k + 2 * s * d * k;
  return batch * f;
}

double MaskGitModel::I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const {
  const double f = BlockFlops(c_.llm_depth, prefix_len + caption_len, c_.llm_dim, c_.mlp_ratio) +
                   2.0 * caption_len * c_.llm_dim * c_.vocab_size;
  return UnderstandingForwardFlops(batch) + batch * f;
}

}  // namespace reca
