// The torchscript family: bring your own unified multimodal model as a
// TorchScript module that follows the contract in tools/export_torchscript.py
// (README "Bring your own model"). The module's parameters are registered in
// this wrapper under their own names (sharing storage), so the optimizer,
// data parallelism, checkpoints and EMA treat them like a native family's;
// which of them train is the module's own requires_grad.
#ifndef RECA_TORCHSCRIPT_TORCHSCRIPT_MODEL_H_
#define RECA_TORCHSCRIPT_TORCHSCRIPT_MODEL_H_

#include <memory>
#include <string>

#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

// Loads `path` and checks the contract: every method present, and a probe
// call of each with a batch of 2 returns the documented shape and dtype
// (INVALID_ARGUMENT naming the file and the method otherwise).
StatusOr<std::shared_ptr<UnifiedModel>> LoadTorchScriptModel(const std::string& path);

}  // namespace reca

#endif  // RECA_TORCHSCRIPT_TORCHSCRIPT_MODEL_H_
