// What RecA needs from a unified multimodal model (DESIGN.md §4.1).
//
// A model family implements this interface; the RecA objective, trainer,
// checkpoints and evaluators only talk to it. All randomness of a loss is
// drawn up front by SampleGenerationNoise, so a loss is a pure function of
// (weights, inputs, noise): that is what the Python parity test relies on.
// Methods may throw c10::Error; callers cross reca/torch_guard.h.
#ifndef RECA_UNIFIED_MODEL_H_
#define RECA_UNIFIED_MODEL_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/nn/module.h>

#include "reca/tokenizer.h"

namespace reca {

using NamedTensors = std::map<std::string, torch::Tensor>;

// Text around an optional visual span: [pre_ids] [visual] [post_ids].
// post_ids is left-padded with Tokenizer::kPad so prompts of one batch align.
struct PromptIds {
  torch::Tensor pre;   // [B, Lpre] int64
  torch::Tensor post;  // [B, Lpost] int64
};

// A model-space prefix: embeddings and which positions are real (not padding).
// An edit prefix may also carry the source image's generation-side latents
// (families that condition generation on them, as BAGEL conditions on the
// source's VAE latents); other families leave them undefined.
struct Prefix {
  torch::Tensor embeds;  // [B, L, D]
  torch::Tensor valid;   // [B, L] bool
  torch::Tensor source_latents{};  // [B, S, C] or undefined
  torch::Tensor source_valid{};    // [B] bool: rows whose source latents count
};

// [embed(pre)] [visual (may be undefined)] [embed(post)] and which positions
// are real (not padding): the prompt layout every family uses.
template <class Embed>
Prefix AssemblePromptPrefix(const PromptIds& prompt, const torch::Tensor& visual, Embed&& embed) {
  std::vector<torch::Tensor> embeds{embed(prompt.pre)};
  std::vector<torch::Tensor> valid{prompt.pre.ne(Tokenizer::kPad)};
  if (visual.defined()) {
    embeds.push_back(visual);
    valid.push_back(torch::ones({visual.size(0), visual.size(1)},
                                torch::TensorOptions().dtype(torch::kBool).device(visual.device())));
  }
  embeds.push_back(embed(prompt.post));
  valid.push_back(prompt.post.ne(Tokenizer::kPad));
  return {torch::cat(embeds, 1), torch::cat(valid, 1)};
}

// Seeds of a generation loss's randomness: `batch` for what is shared by the
// batch (MAR's mask ratio), one per row for the rest. Rows are keyed by the
// sample's global position, so a batch split across data-parallel ranks
// draws exactly what the unsplit batch would.
struct NoiseSeeds {
  uint64_t batch = 0;
  std::vector<uint64_t> rows;
};

struct SampleOptions {
  int64_t num_iter = 8;        // generation rounds (mask schedule steps)
  int64_t diffusion_steps = 50;
  double cfg = 3.0;            // text guidance; 1 = off
  double temperature = 1.0;
  double image_cfg = 1.0;      // editing: guidance on the source image; 1 = off
};

class UnifiedModel : public torch::nn::Module {
 public:
  virtual std::string family() const = 0;
  // Flat config, stored in checkpoint metadata.
  virtual std::map<std::string, std::string> ConfigMap() const = 0;
  // Top-level modules (or parameters) the family keeps frozen under RecA by
  // default (the job spec's model.frozen: auto): the understanding side of
  // decoupled models. Names are those of named_children() / named_parameters().
  virtual std::vector<std::string> DefaultFrozen() const { return {}; }

  // The understanding-side visual tokens for `images` ([B, 3, H, W] in [0, 1])
  // in LLM space, with the family's resolution and gradient policy.
  virtual torch::Tensor UnderstandingEmbed(const torch::Tensor& images) = 0;
  // Length of UnderstandingEmbed's token axis.
  virtual int64_t NumVisualTokens() const = 0;
  // Embeds the text and places `visual` (may be undefined) between pre and post.
  virtual Prefix AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) = 0;

  // Draws everything random the generation loss needs, one row per seed.
  virtual NamedTensors SampleGenerationNoise(const NoiseSeeds& seeds) = 0;
  // The same with seeds drawn from `gen` (evaluation, tests).
  NamedTensors SampleGenerationNoise(int64_t batch, at::Generator& gen);
  // The family's native generation loss for `images` given `prefix`.
  virtual torch::Tensor GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                                       const NamedTensors& noise) = 0;
  // Captioning cross-entropy on `caption_ids` ([B, Lc], right-padded, ends in
  // <eos>) after [question.pre, UnderstandingEmbed(images), question.post].
  virtual torch::Tensor I2TLoss(const torch::Tensor& images, const PromptIds& question,
                                const torch::Tensor& caption_ids) = 0;
  // The prefix of an edit: [pre] UnderstandingEmbed(sources) [post], where
  // rows whose `keep_source` ([B] bool; undefined = all) is false see no
  // source (their visual positions are invalid: the image-dropped condition
  // of guidance on the image). Families that also condition generation on
  // the source's own latents add them (flow).
  virtual Prefix EditPrefix(const PromptIds& prompt, const torch::Tensor& sources,
                            const torch::Tensor& keep_source);
  // Text-to-image loss: the generation loss under a text-only prefix.
  torch::Tensor T2ILoss(const PromptIds& prompt, const torch::Tensor& images,
                        const NamedTensors& noise) {
    return GenerationLoss(AssemblePrefix(prompt, torch::Tensor()), images, noise);
  }

  // Forward matmul FLOPs, for MFU (0 where a family has no FLOP model): the
  // understanding embedding; one generation-loss pass after `prefix_len`
  // prompt positions; one captioning pass (understanding included).
  virtual double UnderstandingForwardFlops(int64_t batch) const { return 0; }
  virtual double GenerationForwardFlops(int64_t batch, int64_t prefix_len) const { return 0; }
  virtual double I2TForwardFlops(int64_t batch, int64_t prefix_len, int64_t caption_len) const {
    return 0;
  }

  // Generates images [B, 3, H, W] in [0, 1]. `uncond` is used when cfg != 1.
  virtual torch::Tensor Generate(const Prefix& cond, const Prefix& uncond,
                                 const SampleOptions& options, at::Generator& gen) = 0;
  // Edits: generates under `cond` (EditPrefix of the instruction) with
  // guidance on the text (options.cfg, against `no_text`: the source without
  // the instruction) and on the image (options.image_cfg, against `no_image`:
  // the instruction without the source), as BAGEL:
  //   v_text = v(no_text) + cfg (v(cond) - v(no_text))
  //   v      = v(no_image) + image_cfg (v_text - v(no_image)).
  // The default supports text guidance only (image_cfg must be 1).
  virtual bool SupportsImageGuidance() const { return false; }
  virtual torch::Tensor GenerateEdit(const Prefix& cond, const Prefix& no_text,
                                     const Prefix& no_image, const SampleOptions& options,
                                     at::Generator& gen);
};

inline Prefix UnifiedModel::EditPrefix(const PromptIds& prompt, const torch::Tensor& sources,
                                       const torch::Tensor& keep_source) {
  const torch::Tensor visual = UnderstandingEmbed(sources);
  Prefix p = AssemblePrefix(prompt, visual);
  if (keep_source.defined()) {
    p.valid.narrow(1, prompt.pre.size(1), visual.size(1))
        .logical_and_(keep_source.to(p.valid.device()).unsqueeze(1));
  }
  return p;
}

inline torch::Tensor UnifiedModel::GenerateEdit(const Prefix& cond, const Prefix& no_text,
                                                const Prefix& no_image,
                                                const SampleOptions& options, at::Generator& gen) {
  TORCH_CHECK_VALUE(options.image_cfg == 1.0, "image guidance (image_cfg ", options.image_cfg,
                    ") is not supported by the ", family(), " family; use image_cfg 1");
  return Generate(cond, no_text, options, gen);
}

inline NamedTensors UnifiedModel::SampleGenerationNoise(int64_t batch, at::Generator& gen) {
  NoiseSeeds seeds;
  {
    auto* g = at::check_generator<at::CPUGeneratorImpl>(gen);
    std::lock_guard<std::mutex> lock(gen.mutex());
    seeds.batch = g->random64();
    for (int64_t i = 0; i < batch; ++i) seeds.rows.push_back(g->random64());
  }
  return SampleGenerationNoise(seeds);
}

}  // namespace reca

#endif  // RECA_UNIFIED_MODEL_H_
