#include "reca/maskgit/maskgit_config.h"

#include <vector>

#include "reca/model_config.h"

namespace reca {
namespace {

using Int = ConfigInt<MaskGitConfig>;

const std::vector<Int>& IntFields() {
  static const std::vector<Int> kFields = {
      {"image_size", &MaskGitConfig::image_size},     {"patch", &MaskGitConfig::patch},
      {"codebook_size", &MaskGitConfig::codebook_size},
      {"vq_fit_images", &MaskGitConfig::vq_fit_images},
      {"vq_fit_iters", &MaskGitConfig::vq_fit_iters},
      {"und_image_size", &MaskGitConfig::und_image_size},
      {"clip_patch", &MaskGitConfig::clip_patch},     {"clip_dim", &MaskGitConfig::clip_dim},
      {"clip_depth", &MaskGitConfig::clip_depth},     {"clip_heads", &MaskGitConfig::clip_heads},
      {"llm_dim", &MaskGitConfig::llm_dim},           {"llm_depth", &MaskGitConfig::llm_depth},
      {"llm_heads", &MaskGitConfig::llm_heads},       {"mlp_ratio", &MaskGitConfig::mlp_ratio},
      {"vocab_size", &MaskGitConfig::vocab_size},
      {"max_text_tokens", &MaskGitConfig::max_text_tokens},
      {"vq_condition", &MaskGitConfig::vq_condition, 0, /*optional=*/true},
  };
  return kFields;
}

}  // namespace

Status MaskGitConfig::Validate() const {
  RECA_RETURN_IF_ERROR(CheckConfigInts(*this, IntFields()));
  if (image_size % patch != 0) return InvalidArgumentError("model.image_size: must be a multiple of model.patch");
  if (image_size % clip_patch != 0) {
    return InvalidArgumentError("model.image_size: must be a multiple of model.clip_patch");
  }
  if (und_image_size % clip_patch != 0 || und_image_size > image_size || clip_grid() % und_grid() != 0) {
    return InvalidArgumentError(
        "model.und_image_size: must be a multiple of model.clip_patch that divides model.image_size");
  }
  if (clip_dim % clip_heads || llm_dim % llm_heads) {
    return InvalidArgumentError("model.*_heads: each width must be divisible by its head count");
  }
  if (codebook_size < 2) return InvalidArgumentError("model.codebook_size: must be >= 2");
  if (vq_condition > 1) return InvalidArgumentError("model.vq_condition: must be 0 or 1");
  return OkStatus();
}

std::map<std::string, std::string> MaskGitConfig::ToMap() const {
  return ConfigToMap(*this, "maskgit", IntFields());
}

StatusOr<MaskGitConfig> MaskGitConfig::FromMap(const std::map<std::string, std::string>& m) {
  MaskGitConfig c;
  RECA_RETURN_IF_ERROR(ConfigFromMap(m, "maskgit", IntFields(), {}, &c));
  RECA_RETURN_IF_ERROR(c.Validate());
  return c;
}

StatusOr<MaskGitConfig> MaskGitPreset(const std::string& name, int64_t vocab_size) {
  MaskGitConfig c;
  c.vocab_size = vocab_size;
  if (name == "tiny") {
    c.name = "tiny";
  } else if (name == "medium") {
    c.name = "medium";
    c.image_size = 64;
    c.und_image_size = 32;
    c.codebook_size = 1024;
    c.clip_dim = 256, c.clip_depth = 4, c.clip_heads = 4;
    c.llm_dim = 512, c.llm_depth = 6, c.llm_heads = 8;
  } else {
    return InvalidArgumentError("model.preset: unknown preset '" + name + "' (expected 'tiny' or 'medium')");
  }
  RECA_RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace reca
