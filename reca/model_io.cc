#include "reca/model_io.h"

#include <sstream>

#include "reca/mar/mar_model.h"
#include "reca/safetensors.h"
#include "reca/tokenizer.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

constexpr const char* kTokenizerKey = "tokenizer_fingerprint";

StatusOr<std::shared_ptr<UnifiedModel>> BuildFromMap(const std::map<std::string, std::string>& m) {
  auto fam = m.find("family");
  if (fam == m.end()) return InvalidArgumentError("model metadata has no 'family'");
  if (fam->second == "mar") {
    RECA_ASSIGN_OR_RETURN(MarConfig c, MarConfig::FromMap(m));
    return TorchGuardOr("building mar model", [&] {
      return std::static_pointer_cast<UnifiedModel>(std::make_shared<MarModel>(c));
    });
  }
  return InvalidArgumentError("model.family: unknown family '" + fam->second + "' (expected 'mar')");
}

}  // namespace

StatusOr<std::shared_ptr<UnifiedModel>> CreateModel(const std::string& family,
                                                    const std::string& preset) {
  if (family != "mar") {
    return InvalidArgumentError("model.family: unknown family '" + family + "' (expected 'mar')");
  }
  RECA_ASSIGN_OR_RETURN(MarConfig c, MarPreset(preset, Tokenizer().vocab_size()));
  return BuildFromMap(c.ToMap());
}

namespace {
std::map<std::string, std::string> ModelMetadata(UnifiedModel& model,
                                                 const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = model.ConfigMap();
  meta[kTokenizerKey] = std::to_string(Tokenizer().fingerprint());
  for (const auto& [k, v] : extra) meta[k] = v;
  return meta;
}
std::map<std::string, at::Tensor> ModelTensors(UnifiedModel& model) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& p : model.named_parameters()) tensors[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) tensors[b.key()] = b.value();
  return tensors;
}
}  // namespace

Status SaveModel(UnifiedModel& model, const std::string& path,
                 const std::map<std::string, std::string>& extra) {
  return WriteSafetensors(path, ModelTensors(model), ModelMetadata(model, extra));
}

StatusOr<std::string> EncodeModel(UnifiedModel& model, const std::map<std::string, std::string>& extra) {
  return EncodeSafetensors(ModelTensors(model), ModelMetadata(model, extra));
}

static Status CopyWeights(UnifiedModel& model, const SafetensorsContents& file, const std::string& path) {
  if (auto it = file.metadata.find(kTokenizerKey);
      it != file.metadata.end() && it->second != std::to_string(Tokenizer().fingerprint())) {
    return FailedPreconditionError(path + ": written with a different tokenizer vocabulary");
  }
  return TorchGuard("loading weights from " + path, [&]() -> Status {
    torch::NoGradGuard no_grad;
    std::map<std::string, at::Tensor> targets;
    for (const auto& p : model.named_parameters()) targets[p.key()] = p.value();
    for (const auto& b : model.named_buffers()) targets[b.key()] = b.value();
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
