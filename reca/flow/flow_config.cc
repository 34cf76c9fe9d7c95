#include "reca/flow/flow_config.h"

#include <cstdlib>
#include <sstream>
#include <vector>

namespace reca {
namespace {

struct IntField {
  const char* key;
  int64_t FlowConfig::*ptr;
  int64_t min;
};

const std::vector<IntField>& IntFields() {
  static const std::vector<IntField> kFields = {
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

}  // namespace

Status FlowConfig::Validate() const {
  for (const IntField& f : IntFields()) {
    if (this->*f.ptr < f.min) {
      return InvalidArgumentError(std::string("model.") + f.key + ": must be >= " + std::to_string(f.min));
    }
  }
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
  std::map<std::string, std::string> m;
  m["family"] = "flow";
  m["name"] = name;
  for (const IntField& f : IntFields()) m[f.key] = std::to_string(this->*f.ptr);
  std::ostringstream os;
  os.precision(17);
  os << timestep_shift;
  m["timestep_shift"] = os.str();
  return m;
}

StatusOr<FlowConfig> FlowConfig::FromMap(const std::map<std::string, std::string>& m) {
  auto fam = m.find("family");
  if (fam == m.end() || fam->second != "flow") {
    return InvalidArgumentError("checkpoint metadata: family is not 'flow'");
  }
  FlowConfig c;
  if (auto it = m.find("name"); it != m.end()) c.name = it->second;
  auto get = [&](const char* key) -> StatusOr<std::string> {
    auto it = m.find(key);
    if (it == m.end()) return InvalidArgumentError(std::string("checkpoint metadata: missing ") + key);
    return it->second;
  };
  for (const IntField& f : IntFields()) {
    RECA_ASSIGN_OR_RETURN(std::string v, get(f.key));
    char* end = nullptr;
    c.*f.ptr = std::strtoll(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0') {
      return InvalidArgumentError(std::string("checkpoint metadata: ") + f.key + " is not an integer");
    }
  }
  RECA_ASSIGN_OR_RETURN(std::string shift, get("timestep_shift"));
  char* end = nullptr;
  c.timestep_shift = std::strtod(shift.c_str(), &end);
  if (end == shift.c_str() || *end != '\0') {
    return InvalidArgumentError("checkpoint metadata: timestep_shift is not a number");
  }
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
