// Shape of a mar-family (Harmon-like) model.
#ifndef RECA_MAR_MAR_CONFIG_H_
#define RECA_MAR_MAR_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>

#include "reca/status.h"

namespace reca {

struct MarConfig {
  std::string name = "tiny";
  // Image tokenizer: fixed patchify of [-1, 1] pixels (documented stand-in
  // for Harmon's frozen KL-16 VAE): token_dim = patch^2 * 3.
  int64_t image_size = 32;
  int64_t patch = 4;
  // The understanding encoder sees the image at this lower resolution (the
  // information bottleneck between condition and target).
  int64_t und_image_size = 16;
  int64_t buffer_tokens = 16;
  // Shared MAR encoder, "LLM" and MAR decoder widths.
  int64_t enc_dim = 96, enc_depth = 2, enc_heads = 4;
  int64_t llm_dim = 128, llm_depth = 2, llm_heads = 4;
  int64_t dec_dim = 96, dec_depth = 2, dec_heads = 4;
  int64_t mlp_ratio = 4;
  // Per-token diffusion MLP head (MAR's SimpleMLPAdaLN).
  int64_t diff_width = 192, diff_depth = 3;
  int64_t diff_train_steps = 1000;
  int64_t diff_batch_mul = 4;
  int64_t vocab_size = 0;       // set from the tokenizer
  int64_t max_text_tokens = 40;  // longest text segment (post part of a prompt)
  double und_grad_scale = 0.1;
  double mask_ratio_min = 0.7;   // truncated normal on [min, 1], mean 1, sd 0.25
  double mask_ratio_std = 0.25;

  int64_t grid() const { return image_size / patch; }
  int64_t seq_len() const { return grid() * grid(); }
  int64_t und_grid() const { return und_image_size / patch; }
  int64_t und_seq_len() const { return und_grid() * und_grid(); }
  int64_t token_dim() const { return patch * patch * 3; }
  int64_t llm_max_positions() const {
    return 2 + max_text_tokens + und_seq_len() + buffer_tokens + seq_len() + buffer_tokens + 2;
  }

  Status Validate() const;
  // Flat key/value form stored in checkpoint metadata and read back by Python.
  std::map<std::string, std::string> ToMap() const;
  static StatusOr<MarConfig> FromMap(const std::map<std::string, std::string>& m);
};

// "tiny" (tests, demo: 32x32, sub-second steps on 2 cores) or "medium"
// (benchmarks: 64x64, GEMM-bound).
StatusOr<MarConfig> MarPreset(const std::string& name, int64_t vocab_size);

}  // namespace reca

#endif  // RECA_MAR_MAR_CONFIG_H_
