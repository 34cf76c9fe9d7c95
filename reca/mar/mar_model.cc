#include "reca/mar/mar_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include <torch/nn/functional/loss.h>
#include <torch/nn/init.h>

#include "reca/tokenizer.h"

namespace reca {
namespace {

// E[r] for r ~ N(1, sd) truncated to [lo, 1].
double MeanMaskRatio(double lo, double sd) {
  const double a = (lo - 1.0) / sd;
  auto pdf = [](double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); };
  auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  return 1.0 - sd * (pdf(0) - pdf(a)) / (cdf(0) - cdf(a));
}

}  // namespace

torch::Tensor Patchify(const torch::Tensor& images, int64_t patch) {
  const int64_t b = images.size(0), g = images.size(2) / patch;
  return (images * 2.0 - 1.0)
      .reshape({b, 3, g, patch, g, patch})
      .permute({0, 2, 4, 1, 3, 5})
      .reshape({b, g * g, 3 * patch * patch});
}

torch::Tensor Unpatchify(const torch::Tensor& tokens, int64_t patch, int64_t size) {
  const int64_t b = tokens.size(0), g = size / patch;
  return ((tokens.reshape({b, g, g, 3, patch, patch})
               .permute({0, 3, 1, 4, 2, 5})
               .reshape({b, 3, size, size}) +
           1.0) *
          0.5)
      .clamp(0.0, 1.0);
}

MarEncoderImpl::MarEncoderImpl(const MarConfig& c) : c_(c) {
  z_proj_ = register_module("z_proj", MakeLinear(c.token_dim(), c.enc_dim));
  pos_ = NormalParam(*this, "pos", {1, c.buffer_tokens + c.seq_len(), c.enc_dim});
  z_proj_ln_ = register_module("z_proj_ln", MakeLayerNorm(c.enc_dim));
  blocks_ = register_module("blocks", MakeBlocks(c.enc_depth, c.enc_dim, c.enc_heads, c.mlp_ratio));
  norm_ = register_module("norm", MakeLayerNorm(c.enc_dim));
}

torch::Tensor MarEncoderImpl::forward(const torch::Tensor& tokens, const torch::Tensor& visible,
                                      int64_t grid) {
  const int64_t b = tokens.size(0), buf = c_.buffer_tokens, d = c_.enc_dim;
  torch::Tensor x = z_proj_->forward(tokens);
  x = torch::cat({torch::zeros({b, buf, d}, x.options()), x}, 1);
  torch::Tensor pos = pos_;
  if (grid != c_.grid()) {
    // A lower-resolution view reuses the learned grid, average-pooled.
    const int64_t g = c_.grid();
    pos = torch::cat({pos_.narrow(1, 0, buf), PoolPositions(pos_.narrow(1, buf, g * g), g, grid)}, 1);
  }
  x = z_proj_ln_->forward(x + pos);
  if (visible.defined()) {
    torch::Tensor keep =
        torch::cat({torch::ones({b, buf}, visible.options()), visible}, 1);
    x = x.index({keep}).reshape({b, -1, d});
  }
  return norm_->forward(RunBlocks(blocks_, x, torch::Tensor()));
}

MarDecoderImpl::MarDecoderImpl(const MarConfig& c) : c_(c) {
  embed_ = register_module("embed", MakeLinear(c.enc_dim, c.dec_dim));
  mask_token_ = NormalParam(*this, "mask_token", {1, 1, c.dec_dim});
  pos_ = NormalParam(*this, "pos", {1, c.buffer_tokens + c.seq_len(), c.dec_dim});
  blocks_ = register_module("blocks", MakeBlocks(c.dec_depth, c.dec_dim, c.dec_heads, c.mlp_ratio));
  norm_ = register_module("norm", MakeLayerNorm(c.dec_dim));
  diff_pos_ = NormalParam(*this, "diff_pos", {1, c.seq_len(), c.dec_dim});
}

torch::Tensor MarDecoderImpl::forward(const torch::Tensor& x_in, const torch::Tensor& visible) {
  const int64_t b = x_in.size(0), buf = c_.buffer_tokens, len = buf + c_.seq_len(), d = c_.dec_dim;
  torch::Tensor x = embed_->forward(x_in);
  torch::Tensor keep = torch::cat({torch::ones({b, buf}, visible.options()), visible}, 1);
  // (.to: under bfloat16 autocast x is bf16, the parameter float.)
  x = mask_token_.to(x.scalar_type())
          .expand({b, len, d})
          .masked_scatter(keep.unsqueeze(-1).expand({b, len, d}), x);
  x = norm_->forward(RunBlocks(blocks_, x + pos_, torch::Tensor()));
  return x.narrow(1, buf, c_.seq_len()) + diff_pos_;
}

LlmImpl::LlmImpl(const MarConfig& c)
    : LlmImpl(c.vocab_size, c.llm_dim, c.llm_max_positions(), c.llm_depth, c.llm_heads, c.mlp_ratio) {}

LlmImpl::LlmImpl(int64_t vocab_size, int64_t dim, int64_t max_positions, int64_t depth,
                 int64_t heads, int64_t mlp_ratio) {
  tok_emb_ = register_module("tok_emb", torch::nn::Embedding(vocab_size, dim));
  pos_ = NormalParam(*this, "pos", {max_positions, dim});
  blocks_ = register_module("blocks", MakeBlocks(depth, dim, heads, mlp_ratio));
  norm_ = register_module("norm", MakeLayerNorm(dim));
  head_ = register_module("head", MakeLinear(dim, vocab_size, /*bias=*/false));
}

torch::Tensor LlmImpl::WithPositions(const torch::Tensor& embeds, const torch::Tensor& valid) {
  torch::Tensor positions = (valid.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);
  return embeds + pos_.index_select(0, positions.reshape({-1})).view_as(embeds);
}

torch::Tensor LlmImpl::forward(const torch::Tensor& embeds, const torch::Tensor& valid) {
  return norm_->forward(RunBlocks(blocks_, WithPositions(embeds, valid), CausalPaddingMask(valid)));
}

std::vector<KeyValues> LlmImpl::PrefixKeyValues(const torch::Tensor& embeds, const torch::Tensor& valid) {
  torch::Tensor x = WithPositions(embeds, valid);
  const torch::Tensor allowed = CausalPaddingMask(valid);
  const size_t depth = blocks_->size();
  std::vector<KeyValues> kv(depth);
  for (size_t i = 0; i + 1 < depth; ++i) x = blocks_[i]->as<BlockImpl>()->forward(x, allowed, nullptr, &kv[i]);
  kv[depth - 1] = blocks_[depth - 1]->as<BlockImpl>()->KeysValues(x);
  return kv;
}

MarModel::MarModel(const MarConfig& config) : c_(config), sched_(config.diff_train_steps) {
  enc_ = register_module("enc", MarEncoder(c_));
  proj_in_fc1_ = register_module("proj_in_fc1", MakeLinear(c_.enc_dim, c_.llm_dim));
  proj_in_fc2_ = register_module("proj_in_fc2", MakeLinear(c_.llm_dim, c_.llm_dim));
  llm_ = register_module("llm", Llm(c_));
  proj_out_ = register_module("proj_out", MakeLinear(c_.llm_dim, c_.enc_dim));
  dec_ = register_module("dec", MarDecoder(c_));
  diff_ = register_module("diff", DiffMlp(c_.token_dim(), c_.dec_dim, c_.diff_width, c_.diff_depth));
  InitLinearsAndNorms(*this);
  diff_->ResetParameters();
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(llm_->named_parameters()["tok_emb.weight"], 0.0, 0.02);
}

torch::Tensor MarModel::UnderstandingEmbed(const torch::Tensor& images) {
  torch::Tensor view = DownsampleView(images, c_.image_size / c_.und_image_size);
  torch::Tensor x = enc_->forward(Patchify(view, c_.patch), torch::Tensor(), c_.und_grid());
  // Harmon moves the buffer tokens behind the image tokens.
  x = torch::cat({x.narrow(1, c_.buffer_tokens, c_.und_seq_len()), x.narrow(1, 0, c_.buffer_tokens)}, 1);
  x = proj_in_fc2_->forward(torch::silu(proj_in_fc1_->forward(x)));
  return GradScale(x, c_.und_grad_scale);
}

Prefix LlmImpl::AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) {
  return AssemblePromptPrefix(prompt, visual, [this](const torch::Tensor& ids) { return Embed(ids); });
}

torch::Tensor LlmImpl::CaptionLoss(const Prefix& prefix, const torch::Tensor& caption_ids) {
  const int64_t lp = prefix.embeds.size(1), lc = caption_ids.size(1);
  torch::Tensor embeds = torch::cat({prefix.embeds, Embed(caption_ids)}, 1);
  torch::Tensor valid = torch::cat({prefix.valid, caption_ids.ne(Tokenizer::kPad)}, 1);
  torch::Tensor logits = Logits(forward(embeds, valid).narrow(1, lp - 1, lc));
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), caption_ids.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(Tokenizer::kPad));
}

Prefix MarModel::AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) {
  return llm_->AssemblePrefix(prompt, visual);
}

NamedTensors MarModel::SampleGenerationNoise(const NoiseSeeds& seeds) {
  const int64_t batch = static_cast<int64_t>(seeds.rows.size());
  const int64_t seq = c_.seq_len(), mul = c_.diff_batch_mul;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  // One mask ratio per batch (MAR); rejection sampling, acceptance ~38%.
  at::Generator batch_gen = at::detail::createCPUGenerator(seeds.batch);
  double ratio = 1.0;
  for (int i = 0; i < 1000; ++i) {
    ratio = 1.0 + c_.mask_ratio_std * torch::randn({1}, batch_gen, f32).item<float>();
    if (ratio >= c_.mask_ratio_min && ratio <= 1.0) break;
    ratio = 1.0;
  }
  const int64_t num_masked = static_cast<int64_t>(std::ceil(seq * ratio));
  std::vector<torch::Tensor> orders, ts, epss;
  for (uint64_t row_seed : seeds.rows) {
    at::Generator g = at::detail::createCPUGenerator(row_seed);
    orders.push_back(torch::randperm(seq, g, i64));
    ts.push_back(torch::randint(0, c_.diff_train_steps, {mul, seq}, g, i64));
    epss.push_back(torch::randn({mul, seq, c_.token_dim()}, g, f32));
  }
  torch::Tensor order = torch::stack(orders);
  torch::Tensor mask = torch::zeros({batch, seq}, torch::TensorOptions().dtype(torch::kBool));
  mask.scatter_(1, order.narrow(1, 0, num_masked), true);
  // Row r * (batch * seq) + b * seq + s of t/eps: replica r of token s of image b.
  return {{"mask", mask},
          {"t", torch::stack(ts, 1).reshape({-1})},
          {"eps", torch::stack(epss, 1).reshape({-1, c_.token_dim()})}};
}

torch::Tensor MarModel::GenerationConditions(const Prefix& prefix, const torch::Tensor& tokens,
                                             const torch::Tensor& visible) {
  torch::Tensor x_enc = enc_->forward(tokens, visible, c_.grid());
  torch::Tensor h = proj_in_fc2_->forward(torch::silu(proj_in_fc1_->forward(x_enc)));
  const int64_t lp = prefix.embeds.size(1), lv = h.size(1);
  torch::Tensor valid = torch::cat(
      {prefix.valid, torch::ones({h.size(0), lv}, prefix.valid.options())}, 1);
  torch::Tensor out = llm_->forward(torch::cat({prefix.embeds, h}, 1), valid).narrow(1, lp, lv);
  return dec_->forward(x_enc + proj_out_->forward(out), visible);
}

torch::Tensor MarModel::GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                                       const NamedTensors& noise) {
  const auto dev = images.device();
  const int64_t n = images.size(0) * c_.seq_len(), mul = c_.diff_batch_mul;
  torch::Tensor mask = noise.at("mask").to(dev);
  torch::Tensor tokens = Patchify(images, c_.patch);
  torch::Tensor z = GenerationConditions(prefix, tokens, mask.logical_not());
  // MAR runs the head on all B*seq*mul rows and averages with mask weights;
  // only masked rows carry weight, so run it on those alone (same loss).
  // Row r*n + i of t/eps is replica r of token i.
  torch::Tensor idx = mask.reshape({-1}).nonzero().reshape({-1});
  torch::Tensor rows =
      (torch::arange(mul, idx.options()).unsqueeze(1) * n + idx.unsqueeze(0)).reshape({-1});
  torch::Tensor x0 = tokens.reshape({n, -1}).index_select(0, idx).repeat({mul, 1}).detach();
  torch::Tensor zm = z.reshape({n, -1}).index_select(0, idx);
  return DiffusionLoss(diff_, sched_, x0, zm, mul, noise.at("t").to(dev).index_select(0, rows),
                       noise.at("eps").to(dev).index_select(0, rows));
}

torch::Tensor MarModel::I2TLoss(const torch::Tensor& images, const PromptIds& question,
                                const torch::Tensor& caption_ids) {
  return llm_->CaptionLoss(AssemblePrefix(question, UnderstandingEmbed(images)), caption_ids);
}

double MarModel::GenerationForwardFlops(int64_t batch, int64_t prefix_len) const {
  const double seq = c_.seq_len(), c = c_.token_dim();
  const double vis = c_.buffer_tokens + seq * (1.0 - MeanMaskRatio(c_.mask_ratio_min, c_.mask_ratio_std));
  const double de = c_.enc_dim, dl = c_.llm_dim, dd = c_.dec_dim, w = c_.diff_width;
  double f = 2 * seq * c * de + BlockFlops(c_.enc_depth, std::lround(vis), c_.enc_dim, c_.mlp_ratio);
  f += 2 * vis * (de * dl + dl * dl + dl * de + de * dd);
  f += BlockFlops(c_.llm_depth, prefix_len + std::lround(vis), c_.llm_dim, c_.mlp_ratio);
  f += BlockFlops(c_.dec_depth, c_.buffer_tokens + c_.seq_len(), c_.dec_dim, c_.mlp_ratio);
  // The head runs on the masked rows only; the condition projection once per
  // masked token and the timestep MLP once per distinct timestep.
  const double masked = seq * MeanMaskRatio(c_.mask_ratio_min, c_.mask_ratio_std);
  const double m = masked * c_.diff_batch_mul;
  f += 2 * masked * dd * w;
  f += 2 * m * (c * w + w * c + 2 * w * w);
  f += c_.diff_depth * 2 * m * (5 * w * w);
  const double steps = std::min<double>(c_.diff_train_steps, batch * m);
  return batch * f + 2 * steps * (DiffMlpImpl::kFreqDim * w + w * w);
}

double MarModel::UnderstandingForwardFlops(int64_t batch) const {
  const double und = c_.und_seq_len() + c_.buffer_tokens, de = c_.enc_dim, dl = c_.llm_dim;
  double f = 2 * und * c_.token_dim() * de +
             BlockFlops(c_.enc_depth, c_.und_seq_len() + c_.buffer_tokens, c_.enc_dim, c_.mlp_ratio);
  return batch * (f + 2 * und * (de * dl + dl * dl));
}

double MarModel::I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const {
  const double dl = c_.llm_dim;
  double f = BlockFlops(c_.llm_depth, prefix_len + caption_len, c_.llm_dim, c_.mlp_ratio);
  f += 2.0 * caption_len * dl * c_.vocab_size;
  return UnderstandingForwardFlops(batch) + batch * f;
}

}  // namespace reca
