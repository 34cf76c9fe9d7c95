// The mar family (Harmon-like): one shared MAR encoder over continuous image
// tokens serves understanding (all tokens of a lower-resolution view, gradient
// scaled by und_grad_scale) and generation (the visible tokens of the
// target); a causal transformer "LLM" reads [prompt, encoder tokens]; its
// outputs are added back to the encoder tokens, the MAR decoder fills in the
// masked positions, and a per-token diffusion MLP is trained on the masked
// tokens only.
#ifndef RECA_MAR_MAR_MODEL_H_
#define RECA_MAR_MAR_MODEL_H_

#include <memory>

#include <torch/nn/modules/embedding.h>

#include "reca/mar/diffusion.h"
#include "reca/mar/layers.h"
#include "reca/mar/mar_config.h"
#include "reca/unified_model.h"

namespace reca {

// Pixels in [0, 1] [B, 3, H, W] <-> tokens in [-1, 1] [B, (H/p)*(W/p), p*p*3].
torch::Tensor Patchify(const torch::Tensor& images, int64_t patch);
torch::Tensor Unpatchify(const torch::Tensor& tokens, int64_t patch, int64_t size);

class MarEncoderImpl : public torch::nn::Module {
 public:
  explicit MarEncoderImpl(const MarConfig& c);
  // tokens [B, g*g, C] on grid g (the full grid or a divisor of it); visible
  // [B, g*g] bool keeps only those tokens (undefined = all). Returns
  // [B, buffer + kept, enc_dim] with the buffer tokens first.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& visible, int64_t grid);

 private:
  MarConfig c_;
  torch::nn::Linear z_proj_{nullptr};
  torch::Tensor pos_;
  torch::nn::LayerNorm z_proj_ln_{nullptr}, norm_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
};
TORCH_MODULE(MarEncoder);

class MarDecoderImpl : public torch::nn::Module {
 public:
  explicit MarDecoderImpl(const MarConfig& c);
  // x [B, buffer + visible, enc_dim] -> per-position conditions z [B, seq, dec_dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& visible);

 private:
  MarConfig c_;
  torch::nn::Linear embed_{nullptr};
  torch::Tensor mask_token_, pos_, diff_pos_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};
TORCH_MODULE(MarDecoder);

// A causal transformer language model over token and injected embeddings
// (learned absolute positions counted over the valid positions only).
class LlmImpl : public torch::nn::Module {
 public:
  explicit LlmImpl(const MarConfig& c);
  LlmImpl(int64_t vocab_size, int64_t dim, int64_t max_positions, int64_t depth, int64_t heads,
          int64_t mlp_ratio);
  torch::Tensor Embed(const torch::Tensor& ids) { return tok_emb_->forward(ids); }
  // embeds [B, L, D], valid [B, L] -> final hidden states [B, L, D].
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& valid);
  // Every layer's keys and values over a prefix (what tokens after it attend
  // to); nothing past them is computed (no last MLP, no final norm).
  std::vector<KeyValues> PrefixKeyValues(const torch::Tensor& embeds, const torch::Tensor& valid);
  torch::Tensor Logits(const torch::Tensor& hidden) { return head_->forward(hidden); }
  // [Embed(pre)] [visual (may be undefined)] [Embed(post)] and which
  // positions are real: the prompt layout of every family.
  Prefix AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual);
  // Captioning cross-entropy of `caption_ids` ([B, Lc], right-padded) read
  // after `prefix`, each token predicted from the position before it.
  torch::Tensor CaptionLoss(const Prefix& prefix, const torch::Tensor& caption_ids);
  // For callers that run further tokens through the blocks against
  // PrefixKeyValues (the flow and maskgit generation paths).
  torch::nn::ModuleList& blocks() { return blocks_; }
  torch::Tensor Norm(const torch::Tensor& hidden) { return norm_->forward(hidden); }

 private:
  // embeds plus the learned position of each valid position (padding skipped).
  torch::Tensor WithPositions(const torch::Tensor& embeds, const torch::Tensor& valid);

  torch::nn::Embedding tok_emb_{nullptr};
  torch::Tensor pos_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Llm);

class MarModel : public UnifiedModel {
 public:
  // Builds and initialises (MAR-style) the parameters from the current torch seed.
  explicit MarModel(const MarConfig& config);

  const MarConfig& config() const { return c_; }
  std::string family() const override { return "mar"; }
  std::map<std::string, std::string> ConfigMap() const override { return c_.ToMap(); }

  torch::Tensor UnderstandingEmbed(const torch::Tensor& images) override;
  int64_t NumVisualTokens() const override { return c_.und_seq_len() + c_.buffer_tokens; }
  Prefix AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) override;
  // Keys: "mask" [B, seq] bool (true = masked), "t" [B*seq*mul] int64,
  // "eps" [B*seq*mul, C] float.
  using UnifiedModel::SampleGenerationNoise;
  NamedTensors SampleGenerationNoise(const NoiseSeeds& seeds) override;
  torch::Tensor GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                               const NamedTensors& noise) override;
  torch::Tensor I2TLoss(const torch::Tensor& images, const PromptIds& question,
                        const torch::Tensor& caption_ids) override;
  torch::Tensor Generate(const Prefix& cond, const Prefix& uncond, const SampleOptions& options,
                         at::Generator& gen) override;

  double UnderstandingForwardFlops(int64_t batch) const override;
  // At the mean mask ratio, counting what the head computes (masked rows).
  double GenerationForwardFlops(int64_t batch, int64_t prefix_len) const override;
  double I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const override;

 private:
  // Shared generation path: prefix + visible tokens -> z [B, seq, dec_dim].
  torch::Tensor GenerationConditions(const Prefix& prefix, const torch::Tensor& tokens,
                                     const torch::Tensor& visible);

  MarConfig c_;
  MarEncoder enc_{nullptr};
  torch::nn::Linear proj_in_fc1_{nullptr}, proj_in_fc2_{nullptr}, proj_out_{nullptr};
  Llm llm_{nullptr};
  MarDecoder dec_{nullptr};
  DiffMlp diff_{nullptr};
  CosineSchedule sched_;
};

}  // namespace reca

#endif  // RECA_MAR_MAR_MODEL_H_
