// Fuzzes the checkpoint MANIFEST.json parser (reca/ckpt/checkpoint_store.h
// ParseCheckpointManifest), which both the trainer's resume path
// (CheckpointStore::LoadVerified) and the evaluator read. Invariant: no
// accepted file name can leave the checkpoint directory.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "reca/ckpt/checkpoint_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  reca::StatusOr<reca::CheckpointManifest> m =
      reca::ParseCheckpointManifest(text, "step-00000001/MANIFEST.json");
  if (!m.ok()) {
    if (m.status().code() != reca::StatusCode::kDataLoss) std::abort();
    return 0;
  }
  if (m->step < 0) std::abort();
  std::set<std::string> names;
  for (const auto& f : m->files) {
    if (f.name.empty() || f.name == "." || f.name == ".." || f.name == "MANIFEST.json" ||
        f.name.find('/') != std::string::npos || f.name.find('\0') != std::string::npos ||
        f.name.size() > 255 || f.sha256.size() != 64 || !names.insert(f.name).second) {
      std::abort();
    }
  }
  return 0;
}
