// Building models by family/preset and moving their weights through
// safetensors files whose metadata carries the model config.
#ifndef RECA_MODEL_IO_H_
#define RECA_MODEL_IO_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

// A fresh model, parameters initialised from the current torch seed;
// `overrides` replaces preset config values (e.g. {"meta_queries", "8"}).
StatusOr<std::shared_ptr<UnifiedModel>> CreateModel(const std::string& family, const std::string& preset,
                                                    const std::map<std::string, std::string>& overrides = {});

// The same model with config values replaced (e.g. {"und_image_size": "32"}),
// its weights copied over; `model` itself when nothing changes. A value the
// family rejects, or one that changes a weight's shape, is INVALID_ARGUMENT.
StatusOr<std::shared_ptr<UnifiedModel>> Reconfigure(std::shared_ptr<UnifiedModel> model,
                                                    const std::map<std::string, std::string>& overrides);

// Freezes (requires_grad = false) every parameter under the top-level
// modules or parameters `names` and unfreezes the rest. An unknown name is
// INVALID_ARGUMENT naming the field `field` and listing the model's names.
Status FreezeModules(UnifiedModel& model, const std::vector<std::string>& names,
                     const std::string& field = "spec.model.frozen");

// Weights (named parameters and buffers) plus ConfigMap() and `extra` as metadata.
Status SaveModel(UnifiedModel& model, const std::string& path,
                 const std::map<std::string, std::string>& extra = {});

// Copies the file's tensors into `model`; names and shapes must match exactly.
Status LoadModelWeights(UnifiedModel& model, const std::string& path);

// Rebuilds the model described by the file's metadata and loads its weights.
StatusOr<std::shared_ptr<UnifiedModel>> LoadModel(const std::string& path);

// The same in memory (checkpoints): safetensors bytes; `origin` names the
// source in errors.
StatusOr<std::string> EncodeModel(UnifiedModel& model,
                                  const std::map<std::string, std::string>& extra = {});
StatusOr<std::shared_ptr<UnifiedModel>> DecodeModel(const std::string& bytes, const std::string& origin);

}  // namespace reca

#endif  // RECA_MODEL_IO_H_
