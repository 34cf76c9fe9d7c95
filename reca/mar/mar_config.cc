#include "reca/mar/mar_config.h"

#include <vector>

#include "reca/model_config.h"

namespace reca {
namespace {

using Int = ConfigInt<MarConfig>;
using Double = ConfigDouble<MarConfig>;

const std::vector<Int>& IntFields() {
  static const std::vector<Int> kFields = {
      {"image_size", &MarConfig::image_size},   {"patch", &MarConfig::patch},
      {"und_image_size", &MarConfig::und_image_size},
      {"buffer_tokens", &MarConfig::buffer_tokens},
      {"enc_dim", &MarConfig::enc_dim},         {"enc_depth", &MarConfig::enc_depth},
      {"enc_heads", &MarConfig::enc_heads},     {"llm_dim", &MarConfig::llm_dim},
      {"llm_depth", &MarConfig::llm_depth},     {"llm_heads", &MarConfig::llm_heads},
      {"dec_dim", &MarConfig::dec_dim},         {"dec_depth", &MarConfig::dec_depth},
      {"dec_heads", &MarConfig::dec_heads},     {"mlp_ratio", &MarConfig::mlp_ratio},
      {"diff_width", &MarConfig::diff_width},   {"diff_depth", &MarConfig::diff_depth},
      {"diff_train_steps", &MarConfig::diff_train_steps},
      {"diff_batch_mul", &MarConfig::diff_batch_mul},
      {"vocab_size", &MarConfig::vocab_size},
      {"max_text_tokens", &MarConfig::max_text_tokens},
  };
  return kFields;
}

const std::vector<Double>& DoubleFields() {
  static const std::vector<Double> kFields = {
      {"und_grad_scale", &MarConfig::und_grad_scale},
      {"mask_ratio_min", &MarConfig::mask_ratio_min},
      {"mask_ratio_std", &MarConfig::mask_ratio_std},
  };
  return kFields;
}

}  // namespace

Status MarConfig::Validate() const {
  RECA_RETURN_IF_ERROR(CheckConfigInts(*this, IntFields()));
  if (image_size % patch != 0) return InvalidArgumentError("model.image_size: must be a multiple of model.patch");
  if (und_image_size % patch != 0 || und_image_size > image_size ||
      grid() % und_grid() != 0) {
    return InvalidArgumentError(
        "model.und_image_size: must be a multiple of model.patch that divides model.image_size");
  }
  if (enc_dim % enc_heads || llm_dim % llm_heads || dec_dim % dec_heads) {
    return InvalidArgumentError("model.*_heads: each width must be divisible by its head count");
  }
  if (!(mask_ratio_min > 0 && mask_ratio_min <= 1)) {
    return InvalidArgumentError("model.mask_ratio_min: must be in (0, 1]");
  }
  if (!(mask_ratio_std > 0)) return InvalidArgumentError("model.mask_ratio_std: must be > 0");
  if (!(und_grad_scale >= 0 && und_grad_scale <= 1)) {
    return InvalidArgumentError("model.und_grad_scale: must be in [0, 1]");
  }
  return OkStatus();
}

std::map<std::string, std::string> MarConfig::ToMap() const {
  return ConfigToMap(*this, "mar", IntFields(), DoubleFields());
}

StatusOr<MarConfig> MarConfig::FromMap(const std::map<std::string, std::string>& m) {
  MarConfig c;
  RECA_RETURN_IF_ERROR(ConfigFromMap(m, "mar", IntFields(), DoubleFields(), &c));
  RECA_RETURN_IF_ERROR(c.Validate());
  return c;
}

StatusOr<MarConfig> MarPreset(const std::string& name, int64_t vocab_size) {
  MarConfig c;
  c.vocab_size = vocab_size;
  if (name == "tiny") {
    c.name = "tiny";
  } else if (name == "medium") {
    c.name = "medium";
    c.image_size = 64;
    c.und_image_size = 32;
    c.buffer_tokens = 32;
    c.enc_dim = 384, c.enc_depth = 4, c.enc_heads = 6;
    c.llm_dim = 512, c.llm_depth = 6, c.llm_heads = 8;
    c.dec_dim = 384, c.dec_depth = 4, c.dec_heads = 6;
    c.diff_width = 512, c.diff_depth = 4;
  } else {
    return InvalidArgumentError("model.config: unknown preset '" + name +
                                "' (expected 'tiny' or 'medium')");
  }
  RECA_RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace reca
