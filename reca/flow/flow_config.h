// Shape of a flow-family (BAGEL / OpenUni-like) model.
#ifndef RECA_FLOW_FLOW_CONFIG_H_
#define RECA_FLOW_FLOW_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>

#include "reca/status.h"

namespace reca {

struct FlowConfig {
  std::string name = "tiny";
  // Generation latents: a fixed patchify of [-1, 1] pixels (documented
  // stand-in for BAGEL's frozen FLUX VAE + 2x2 latent patches):
  // token_dim = patch^2 * 3.
  int64_t image_size = 32;
  int64_t patch = 4;
  // The understanding ViT sees the image at this lower resolution (BAGEL's
  // 224^2 SigLIP view of a 512-1024 px target: the information bottleneck).
  int64_t und_image_size = 16;
  int64_t vit_patch = 4;
  // The ViT is the first vit_depth layers of a (vit_depth + 1)-layer encoder:
  // its penultimate layer's tokens are the condition (vit_select_layer = -2);
  // the last layer and the post-norm only serve the ViT's own pre-training
  // and are not materialised.
  int64_t vit_dim = 64, vit_depth = 2, vit_heads = 4;
  // The understanding expert ("und", a causal LM) and the generation expert
  // ("gen") share attention layer by layer (mixture of transformers); both
  // are llm_dim wide and llm_depth deep.
  int64_t llm_dim = 128, llm_depth = 2, llm_heads = 4;
  int64_t mlp_ratio = 4;
  // > 0: OpenUni / MetaQuery mode. That many learnable queries follow the
  // prompt through the und expert; their final states, projected, are the
  // generator's only condition (in-context, full attention).
  int64_t meta_queries = 0;
  int64_t vocab_size = 0;        // set from the tokenizer
  int64_t max_text_tokens = 40;  // longest text segment (post part of a prompt)
  // Rectified-flow timestep shift (BAGEL's timestep_shift): t' = s t / (1 + (s - 1) t).
  double timestep_shift = 1.0;

  int64_t grid() const { return image_size / patch; }
  int64_t seq_len() const { return grid() * grid(); }
  int64_t token_dim() const { return patch * patch * 3; }
  int64_t vit_grid() const { return image_size / vit_patch; }  // the ViT's position table
  int64_t und_grid() const { return und_image_size / vit_patch; }
  int64_t und_seq_len() const { return und_grid() * und_grid(); }
  int64_t llm_max_positions() const {
    return 8 + 2 * max_text_tokens + vit_grid() * vit_grid() + meta_queries;
  }

  Status Validate() const;
  std::map<std::string, std::string> ToMap() const;
  static StatusOr<FlowConfig> FromMap(const std::map<std::string, std::string>& m);
};

// "tiny" (tests, demo) or "medium" (benchmarks: 64x64).
StatusOr<FlowConfig> FlowPreset(const std::string& name, int64_t vocab_size);

}  // namespace reca

#endif  // RECA_FLOW_FLOW_CONFIG_H_
