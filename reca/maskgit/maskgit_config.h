// Shape of a maskgit-family (Show-o-like) model.
#ifndef RECA_MASKGIT_MASKGIT_CONFIG_H_
#define RECA_MASKGIT_MASKGIT_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>

#include "reca/status.h"

namespace reca {

struct MaskGitConfig {
  std::string name = "tiny";
  // Discrete image tokens: a VQ codebook over patch x patch pixel patches
  // (documented stand-in for Show-o's frozen MAGVIT-v2), fitted by k-means
  // on vq_fit_images shapes-world images when the model is created.
  int64_t image_size = 32;
  int64_t patch = 4;
  int64_t codebook_size = 256;
  int64_t vq_fit_images = 256;
  int64_t vq_fit_iters = 12;
  // The frozen CLIP-like encoder sees the image at this lower resolution
  // (Show-o: CLIP-L/14 at 336^2 for a 512^2 target); its penultimate-layer
  // patch tokens, through a trainable projector, are the condition.
  int64_t und_image_size = 16;
  int64_t clip_patch = 4;
  int64_t clip_dim = 64, clip_depth = 2, clip_heads = 4;
  // The shared LLM (Show-o's Phi): text is causal, image tokens attend to the
  // whole prefix and to each other.
  int64_t llm_dim = 128, llm_depth = 3, llm_heads = 4;
  int64_t mlp_ratio = 4;
  int64_t vocab_size = 0;        // set from the tokenizer
  int64_t max_text_tokens = 40;
  // 1: the condition is the VQ tokens of the image itself, average-pooled to
  // und_image_size and scaled back up (Show-o's VQGAN variant, reca-method.md
  // §1.4): at und_image_size = image_size nothing stops the model from
  // copying its condition, the setting the copy-collapse detector is for.
  int64_t vq_condition = 0;

  int64_t grid() const { return image_size / patch; }
  int64_t seq_len() const { return grid() * grid(); }
  int64_t token_dim() const { return patch * patch * 3; }
  int64_t mask_id() const { return codebook_size; }  // the [MASK] image token
  int64_t clip_grid() const { return image_size / clip_patch; }
  int64_t und_grid() const { return und_image_size / clip_patch; }
  int64_t und_seq_len() const { return vq_condition ? seq_len() : und_grid() * und_grid(); }
  int64_t llm_max_positions() const { return 8 + 2 * max_text_tokens + clip_grid() * clip_grid(); }

  Status Validate() const;
  std::map<std::string, std::string> ToMap() const;
  static StatusOr<MaskGitConfig> FromMap(const std::map<std::string, std::string>& m);
};

// "tiny" (tests, demo) or "medium" (benchmarks: 64x64).
StatusOr<MaskGitConfig> MaskGitPreset(const std::string& name, int64_t vocab_size);

}  // namespace reca

#endif  // RECA_MASKGIT_MASKGIT_CONFIG_H_
