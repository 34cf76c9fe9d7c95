// The maskgit family (Show-o-like): discrete image tokens predicted by
// masked-token cross-entropy from one shared LLM.
//
//   vq         a frozen VQ codebook (buffer) over pixel patches, fitted by
//              k-means on shapes-world images when the model is created
//   clip       a frozen CLIP-like ViT run at und_image_size; its
//              penultimate-layer patch tokens are the condition
//   projector  Linear-GELU-Linear into LLM width (trainable: Show-o's
//              mm_projector)
//   llm        the shared causal LM: text (and visual tokens) are causal;
//              image tokens attend to the whole prefix and to each other,
//              through the same blocks (omni-attention)
//   img        image-token embeddings (codebook + [MASK]), positions and the
//              image-token head
//
// Loss: a cosine mask schedule (ratio cos(u pi/2), u ~ U(0, 1), at least one
// token), cross-entropy on the masked tokens only. The i2t stream trains the
// same LLM (on by default, as in Show-o's RecA). Sampling: MaskGIT's
// iterative parallel decoding with classifier-free guidance on the logits.
#ifndef RECA_MASKGIT_MASKGIT_MODEL_H_
#define RECA_MASKGIT_MASKGIT_MODEL_H_

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>

#include "reca/flow/flow_model.h"
#include "reca/maskgit/maskgit_config.h"
#include "reca/unified_model.h"

namespace reca {

class VqCodebookImpl : public torch::nn::Module {
 public:
  explicit VqCodebookImpl(const MaskGitConfig& c);
  // Fits the codebook by k-means (deterministic: fixed seed, fixed images).
  void Fit();
  // Pixels [B, 3, H, W] in [0, 1] -> token ids [B, S] (nearest code).
  torch::Tensor Encode(const torch::Tensor& images);
  // Token ids [B, S] -> pixels [B, 3, H, W].
  torch::Tensor Decode(const torch::Tensor& ids);
  const torch::Tensor& codebook() const { return codebook_; }

 private:
  MaskGitConfig c_;
  torch::Tensor codebook_;  // [K, token_dim] in [-1, 1]
};
TORCH_MODULE(VqCodebook);

class MaskGitImageImpl : public torch::nn::Module {
 public:
  explicit MaskGitImageImpl(const MaskGitConfig& c);
  torch::Tensor Embed(const torch::Tensor& ids) { return emb_->forward(ids) + pos_; }
  torch::Tensor Logits(const torch::Tensor& h) { return head_->forward(h); }

 private:
  torch::nn::Embedding emb_{nullptr};
  torch::Tensor pos_;
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(MaskGitImage);

class MaskGitModel : public UnifiedModel {
 public:
  // Builds and initialises the parameters from the current torch seed and
  // fits the VQ codebook (unless weights, codebook included, are loaded next).
  explicit MaskGitModel(const MaskGitConfig& config, bool fit_codebook = true);

  const MaskGitConfig& config() const { return c_; }
  std::string family() const override { return "maskgit"; }
  std::map<std::string, std::string> ConfigMap() const override { return c_.ToMap(); }
  std::vector<std::string> DefaultFrozen() const override { return {"clip", "vq"}; }

  torch::Tensor UnderstandingEmbed(const torch::Tensor& images) override;
  int64_t NumVisualTokens() const override { return c_.und_seq_len(); }
  Prefix AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) override;
  // Keys: "mask" [B, S] bool (true = masked).
  using UnifiedModel::SampleGenerationNoise;
  NamedTensors SampleGenerationNoise(const NoiseSeeds& seeds) override;
  torch::Tensor GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                               const NamedTensors& noise) override;
  torch::Tensor I2TLoss(const torch::Tensor& images, const PromptIds& question,
                        const torch::Tensor& caption_ids) override;
  torch::Tensor Generate(const Prefix& cond, const Prefix& uncond, const SampleOptions& options,
                         at::Generator& gen) override;

  double UnderstandingForwardFlops(int64_t batch) const override;
  double GenerationForwardFlops(int64_t batch, int64_t prefix_len) const override;
  double I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const override;

  VqCodebook& vq() { return vq_; }
  // The shared LLM's per-layer keys/values of a prefix.
  std::vector<KeyValues> PrefixKeyValues(const Prefix& prefix);
  // Image-token logits [B, S, K] for token ids [B, S] (masked ones = mask_id)
  // given the LLM's per-layer keys/values of a prefix and its validity.
  torch::Tensor ImageLogits(const std::vector<KeyValues>& kv, const torch::Tensor& valid,
                            const torch::Tensor& ids);

 private:
  MaskGitConfig c_;
  VqCodebook vq_{nullptr};
  FlowVit clip_{nullptr};
  torch::nn::Sequential projector_{nullptr};
  Llm llm_{nullptr};
  MaskGitImage img_{nullptr};
};

}  // namespace reca

#endif  // RECA_MASKGIT_MASKGIT_MODEL_H_
