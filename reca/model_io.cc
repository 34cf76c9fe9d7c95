#include "reca/model_io.h"

#include <algorithm>
#include <sstream>

#include "reca/flow/flow_model.h"
#include "reca/mar/mar_model.h"
#include "reca/maskgit/maskgit_model.h"
#include "reca/torchscript/torchscript_model.h"
#include "reca/safetensors.h"
#include "reca/tokenizer.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

constexpr const char* kTokenizerKey = "tokenizer_fingerprint";
constexpr const char* kFamilies = "'mar', 'flow', 'maskgit' or 'torchscript'";

// Named parameters and buffers: what a weights file holds.
std::map<std::string, at::Tensor> ModelTensors(UnifiedModel& model) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& p : model.named_parameters()) tensors[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) tensors[b.key()] = b.value();
  return tensors;
}

// Copies `file`'s tensors into `model`; names and shapes must match exactly.
Status CopyWeights(UnifiedModel& model, const SafetensorsContents& file, const std::string& path) {
  if (auto it = file.metadata.find(kTokenizerKey);
      it != file.metadata.end() && it->second != std::to_string(Tokenizer().fingerprint())) {
    return FailedPreconditionError(path + ": written with a different tokenizer vocabulary");
  }
  return TorchGuard("loading weights from " + path, [&]() -> Status {
    torch::NoGradGuard no_grad;
    std::map<std::string, at::Tensor> targets = ModelTensors(model);
    for (const auto& [name, t] : targets) {
      auto it = file.tensors.find(name);
      if (it == file.tensors.end()) return DataLossError(path + ": missing tensor '" + name + "'");
      if (it->second.sizes() != t.sizes()) {
        std::ostringstream os;
        os << path << ": tensor '" << name << "' has shape " << it->second.sizes()
           << ", the model expects " << t.sizes();
        return InvalidArgumentError(os.str());
      }
    }
    for (const auto& [name, t] : file.tensors) {
      if (!targets.count(name)) return InvalidArgumentError(path + ": unexpected tensor '" + name + "'");
    }
    for (auto& [name, t] : targets) t.copy_(file.tensors.at(name));
    return OkStatus();
  });
}

// `fresh`: a new model (fitted parts, e.g. maskgit's codebook, are fitted);
// otherwise its weights are about to be copied in.
StatusOr<std::shared_ptr<UnifiedModel>> BuildFromMap(const std::map<std::string, std::string>& m,
                                                     bool fresh = false) {
  auto fam = m.find("family");
  if (fam == m.end()) return InvalidArgumentError("model metadata has no 'family'");
  if (fam->second == "mar") {
    RECA_ASSIGN_OR_RETURN(MarConfig c, MarConfig::FromMap(m));
    return TorchGuardOr("building mar model", [&] {
      return std::static_pointer_cast<UnifiedModel>(std::make_shared<MarModel>(c));
    });
  }
  if (fam->second == "flow") {
    RECA_ASSIGN_OR_RETURN(FlowConfig c, FlowConfig::FromMap(m));
    return TorchGuardOr("building flow model", [&] {
      return std::static_pointer_cast<UnifiedModel>(std::make_shared<FlowModel>(c));
    });
  }
  if (fam->second == "maskgit") {
    RECA_ASSIGN_OR_RETURN(MaskGitConfig c, MaskGitConfig::FromMap(m));
    return TorchGuardOr("building maskgit model", [&] {
      return std::static_pointer_cast<UnifiedModel>(std::make_shared<MaskGitModel>(c, /*fit_codebook=*/fresh));
    });
  }
  if (fam->second == "torchscript") {
    auto it = m.find("module");
    if (it == m.end() || it->second.empty()) {
      return InvalidArgumentError("spec.model.module: required for family torchscript (a TorchScript .pt file)");
    }
    return LoadTorchScriptModel(it->second);
  }
  return InvalidArgumentError("model.family: unknown family '" + fam->second + "' (expected " +
                              kFamilies + ")");
}

}  // namespace

StatusOr<std::shared_ptr<UnifiedModel>> CreateModel(const std::string& family, const std::string& preset,
                                                    const std::map<std::string, std::string>& overrides) {
  const int64_t vocab = Tokenizer().vocab_size();
  std::map<std::string, std::string> cfg;
  if (family == "mar") {
    RECA_ASSIGN_OR_RETURN(MarConfig c, MarPreset(preset, vocab));
    cfg = c.ToMap();
  } else if (family == "flow") {
    RECA_ASSIGN_OR_RETURN(FlowConfig c, FlowPreset(preset, vocab));
    cfg = c.ToMap();
  } else if (family == "maskgit") {
    RECA_ASSIGN_OR_RETURN(MaskGitConfig c, MaskGitPreset(preset, vocab));
    cfg = c.ToMap();
  } else if (family == "torchscript") {
    cfg = {{"family", "torchscript"}, {"module", ""}};  // the module brings its own shape
  } else {
    return InvalidArgumentError("model.family: unknown family '" + family + "' (expected " + kFamilies + ")");
  }
  for (const auto& [k, v] : overrides) {
    if (!cfg.count(k)) return InvalidArgumentError("model." + k + ": the " + family + " family has no such setting");
    cfg[k] = v;
  }
  return BuildFromMap(cfg, /*fresh=*/true);
}

StatusOr<std::shared_ptr<UnifiedModel>> Reconfigure(std::shared_ptr<UnifiedModel> model,
                                                    const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> cfg = model->ConfigMap();
  bool changed = false;
  for (const auto& [k, v] : overrides) {
    auto it = cfg.find(k);
    if (it == cfg.end()) {
      return InvalidArgumentError("model." + k + ": the " + model->family() + " family has no such setting");
    }
    changed |= it->second != v;
    it->second = v;
  }
  if (!changed) return model;
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> out, BuildFromMap(cfg));
  SafetensorsContents weights;
  weights.tensors = ModelTensors(*model);
  RECA_RETURN_IF_ERROR(CopyWeights(*out, weights, "the reconfigured model"));
  return out;
}

Status FreezeModules(UnifiedModel& model, const std::vector<std::string>& names,
                     const std::string& field) {
  std::vector<std::string> top;  // top-level module and parameter names
  for (const auto& c : model.named_children()) top.push_back(c.key());
  for (const auto& p : model.named_parameters(/*recurse=*/false)) top.push_back(p.key());
  for (const std::string& n : names) {
    if (std::find(top.begin(), top.end(), n) == top.end()) {
      std::string have;
      for (const auto& t : top) have += (have.empty() ? "" : ", ") + t;
      return InvalidArgumentError(field + ": the " + model.family() + " model has no module '" + n +
                                  "' (it has: " + have + ")");
    }
  }
  for (auto& p : model.named_parameters()) {
    const std::string& key = p.key();
    const bool frozen = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
      return key == n || key.rfind(n + ".", 0) == 0;
    });
    p.value().set_requires_grad(!frozen);
  }
  return OkStatus();
}

namespace {
std::map<std::string, std::string> ModelMetadata(UnifiedModel& model,
                                                 const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = model.ConfigMap();
  meta[kTokenizerKey] = std::to_string(Tokenizer().fingerprint());
  for (const auto& [k, v] : extra) meta[k] = v;
  return meta;
}
}  // namespace

Status SaveModel(UnifiedModel& model, const std::string& path,
                 const std::map<std::string, std::string>& extra) {
  return WriteSafetensors(path, ModelTensors(model), ModelMetadata(model, extra));
}

StatusOr<std::string> EncodeModel(UnifiedModel& model, const std::map<std::string, std::string>& extra) {
  return EncodeSafetensors(ModelTensors(model), ModelMetadata(model, extra));
}


Status LoadModelWeights(UnifiedModel& model, const std::string& path) {
  RECA_ASSIGN_OR_RETURN(SafetensorsContents file, ReadSafetensors(path));
  return CopyWeights(model, file, path);
}

StatusOr<std::shared_ptr<UnifiedModel>> DecodeModel(const std::string& bytes, const std::string& origin) {
  RECA_ASSIGN_OR_RETURN(SafetensorsContents file, DecodeSafetensors(bytes, origin));
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> model, BuildFromMap(file.metadata));
  RECA_RETURN_IF_ERROR(CopyWeights(*model, file, origin));
  return model;
}

StatusOr<std::shared_ptr<UnifiedModel>> LoadModel(const std::string& path) {
  RECA_ASSIGN_OR_RETURN(SafetensorsContents file, ReadSafetensors(path));
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> model, BuildFromMap(file.metadata));
  RECA_RETURN_IF_ERROR(CopyWeights(*model, file, path));
  return model;
}

}  // namespace reca
