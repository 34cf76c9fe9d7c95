// The flow family (BAGEL / OpenUni-like): a rectified-flow generator over
// latent tokens, conditioned through a frozen understanding side.
//
//   vit        patch embedding + the ViT's first vit_depth layers, run on the
//              image average-pooled to und_image_size (penultimate-layer
//              tokens; positions pooled from the full-resolution table)
//   connector  Linear-GELU-Linear from ViT width to LLM width
//   und        the understanding expert: a causal LM over [text, visual
//              tokens, text] with a captioning head (I2TLoss)
//   gen        the generation expert: latent tokens x_t (+ position and
//              timestep embeddings) through llm_depth blocks, each attending
//              to the und expert's keys/values of the prefix at the same
//              layer (BAGEL's mixture of transformers; the prefix never
//              attends to the latents) and to the latents; predicts the
//              velocity eps - x0
//   meta       (meta_queries > 0, OpenUni) learnable queries read by the und
//              expert after the prefix, projected into the generator's
//              in-context condition instead of the shared attention
//
// Loss: x_t = (1 - t) x0 + t eps with t = shift(sigmoid(N(0, 1))), MSE of the
// predicted velocity against eps - x0. Sampling: Euler from t = 1 to 0 with
// classifier-free guidance on the text.
//
// Editing (as BAGEL): the prefix holds the source's understanding tokens and
// the instruction; with shared attention the source's own latents (its
// patches, clean: t = 0) also pass through the gen expert, attending to the
// prefix and to each other, and the target's latents attend to their keys
// and values as to the prefix's. Sampling guides on the text and the image. RecA default: vit, connector and und
// frozen (DefaultFrozen), so only the generator learns.
#ifndef RECA_FLOW_FLOW_MODEL_H_
#define RECA_FLOW_FLOW_MODEL_H_

#include <vector>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "reca/flow/flow_config.h"
#include "reca/mar/layers.h"
#include "reca/mar/mar_model.h"
#include "reca/unified_model.h"

namespace reca {

// A ViT over [0, 1] pixels (normalised to [-1, 1], SigLIP/CLIP-style):
// patch embedding, learned positions for `image_size` (average-pooled for a
// lower-resolution input), `depth` blocks and no final norm: the penultimate
// layer of a (depth + 1)-layer encoder. Also the maskgit family's CLIP.
class FlowVitImpl : public torch::nn::Module {
 public:
  FlowVitImpl(int64_t image_size, int64_t patch, int64_t dim, int64_t depth, int64_t heads,
              int64_t mlp_ratio);
  // Pixels [B, 3, s, s] (s a divisor of image_size, multiple of patch)
  // -> tokens [B, (s / patch)^2, dim].
  torch::Tensor forward(const torch::Tensor& images);

 private:
  int64_t patch_, grid_;
  torch::nn::Linear patch_embed_{nullptr};
  torch::Tensor pos_;
  torch::nn::ModuleList blocks_{nullptr};
};
TORCH_MODULE(FlowVit);

class FlowGenImpl : public torch::nn::Module {
 public:
  explicit FlowGenImpl(const FlowConfig& c);
  // x_t [B, S, C], t [B] -> input states [B, S, D].
  torch::Tensor Embed(const torch::Tensor& x_t, const torch::Tensor& t);
  torch::nn::ModuleList& blocks() { return blocks_; }
  // Final states [B, S, D] -> velocity [B, S, C].
  torch::Tensor Out(const torch::Tensor& h) { return x_out_->forward(norm_->forward(h)); }

 private:
  torch::nn::Linear x_in_{nullptr}, time_fc1_{nullptr}, time_fc2_{nullptr}, x_out_{nullptr};
  torch::Tensor pos_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};
TORCH_MODULE(FlowGen);

// The und expert's per-layer keys/values of a prefix and its validity
// (shared attention), or the projected meta-query states (meta_queries > 0).
struct FlowCondition {
  std::vector<KeyValues> kv;
  torch::Tensor valid;   // [B, P]
  torch::Tensor tokens;  // [B, N, D], meta-query mode only
};

class FlowModel : public UnifiedModel {
 public:
  // Builds and initialises the parameters from the current torch seed.
  explicit FlowModel(const FlowConfig& config);

  const FlowConfig& config() const { return c_; }
  std::string family() const override { return "flow"; }
  std::map<std::string, std::string> ConfigMap() const override { return c_.ToMap(); }
  std::vector<std::string> DefaultFrozen() const override { return {"vit", "connector", "und"}; }

  torch::Tensor UnderstandingEmbed(const torch::Tensor& images) override;
  int64_t NumVisualTokens() const override { return c_.und_seq_len(); }
  Prefix AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) override;
  Prefix EditPrefix(const PromptIds& prompt, const torch::Tensor& sources,
                    const torch::Tensor& keep_source) override;
  // Keys: "t" [B] float in (0, 1) (shift applied), "eps" [B, S, C] float.
  using UnifiedModel::SampleGenerationNoise;
  NamedTensors SampleGenerationNoise(const NoiseSeeds& seeds) override;
  torch::Tensor GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                               const NamedTensors& noise) override;
  torch::Tensor I2TLoss(const torch::Tensor& images, const PromptIds& question,
                        const torch::Tensor& caption_ids) override;
  torch::Tensor Generate(const Prefix& cond, const Prefix& uncond, const SampleOptions& options,
                         at::Generator& gen) override;
  torch::Tensor GenerateEdit(const Prefix& cond, const Prefix& no_text, const Prefix& no_image,
                             const SampleOptions& options, at::Generator& gen) override;
  bool SupportsImageGuidance() const override { return true; }

  double UnderstandingForwardFlops(int64_t batch) const override;
  double GenerationForwardFlops(int64_t batch, int64_t prefix_len) const override;
  double I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const override;

  // What the generator attends to for one prefix; computed once per prefix
  // (sampling reuses it for every Euler step).
  FlowCondition Conditioning(const Prefix& prefix);
  // The predicted velocity [B, S, C] at x_t [B, S, C], t [B].
  torch::Tensor Velocity(const FlowCondition& cond, const torch::Tensor& x_t, const torch::Tensor& t);

 private:
  // Euler sampling under `cond`, guided on the text against `no_text` and on
  // the image against `no_image` where those are given.
  torch::Tensor Sample(const Prefix& cond, const Prefix* no_text, const Prefix* no_image,
                       const SampleOptions& options, at::Generator& gen);

  FlowConfig c_;
  FlowVit vit_{nullptr};
  torch::nn::Sequential connector_{nullptr};
  Llm und_{nullptr};
  FlowGen gen_{nullptr};
  torch::nn::Sequential meta_{nullptr};
  torch::Tensor queries_;
};

}  // namespace reca

#endif  // RECA_FLOW_FLOW_MODEL_H_
