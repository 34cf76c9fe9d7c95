#include "reca/flow/flow_config.h"

#include <vector>

#include "reca/model_config.h"

namespace reca {
namespace {

using Int = ConfigInt<FlowConfig>;

const std::vector<Int>& IntFields() {
  static const std::vector<Int> kFields = {
      {"image_size", &FlowConfig::image_size, 1}, {"patch", &FlowConfig::patch, 1},
      {"und_image_size", &FlowConfig::und_image_size, 1},
      {"vit_patch", &FlowConfig::vit_patch, 1},   {"vit_dim", &FlowConfig::vit_dim, 1},
      {"vit_depth", &FlowConfig::vit_depth, 1},   {"vit_heads", &FlowConfig::vit_heads, 1},
      {"llm_dim", &FlowConfig::llm_dim, 1},       {"llm_depth", &FlowConfig::llm_depth, 1},
      {"llm_heads", &FlowConfig::llm_heads, 1},   {"mlp_ratio", &FlowConfig::mlp_ratio, 1},
      {"meta_queries", &FlowConfig::meta_queries, 0},
      {"vocab_size", &FlowConfig::vocab_size, 1},
      {"max_text_tokens", &FlowConfig::max_text_tokens, 1},
  };
  return kFields;
}

const std::vector<ConfigDouble<FlowConfig>>& DoubleFields() {
  static const std::vector<ConfigDouble<FlowConfig>> kFields = {{"timestep_shift", &FlowConfig::timestep_shift}};
  return kFields;
}

}  // namespace

Status FlowConfig::Validate() const {
  RECA_RETURN_IF_ERROR(CheckConfigInts(*this, IntFields()));
  if (image_size % patch != 0) return InvalidArgumentError("model.image_size: must be a multiple of model.patch");
  if (image_size % vit_patch != 0) {
    return InvalidArgumentError("model.image_size: must be a multiple of model.vit_patch");
  }
  if (und_image_size % vit_patch != 0 || und_image_size > image_size || vit_grid() % und_grid() != 0) {
    return InvalidArgumentError(
        "model.und_image_size: must be a multiple of model.vit_patch that divides model.image_size");
  }
  if (vit_dim % vit_heads || llm_dim % llm_heads) {
    return InvalidArgumentError("model.*_heads: each width must be divisible by its head count");
  }
  if (!(timestep_shift > 0)) return InvalidArgumentError("model.timestep_shift: must be > 0");
  return OkStatus();
}

std::map<std::string, std::string> FlowConfig::ToMap() const {
  return ConfigToMap(*this, "flow", IntFields(), DoubleFields());
}

StatusOr<FlowConfig> FlowConfig::FromMap(const std::map<std::string, std::string>& m) {
  FlowConfig c;
  RECA_RETURN_IF_ERROR(ConfigFromMap(m, "flow", IntFields(), DoubleFields(), &c));
  RECA_RETURN_IF_ERROR(c.Validate());
  return c;
}

StatusOr<FlowConfig> FlowPreset(const std::string& name, int64_t vocab_size) {
  FlowConfig c;
  c.vocab_size = vocab_size;
  if (name == "tiny") {
    c.name = "tiny";
  } else if (name == "medium") {
    c.name = "medium";
    c.image_size = 64;
    c.und_image_size = 32;
    c.vit_dim = 256, c.vit_depth = 4, c.vit_heads = 4;
    c.llm_dim = 512, c.llm_depth = 6, c.llm_heads = 8;
  } else {
    return InvalidArgumentError("model.preset: unknown preset '" + name + "' (expected 'tiny' or 'medium')");
  }
  RECA_RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace reca
