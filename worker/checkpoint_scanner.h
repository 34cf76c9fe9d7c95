// Finds the checkpoints rank 0 has committed under <out>/checkpoints: a
// directory named step-<digits> that holds a MANIFEST.json (the trainer
// writes the manifest last and renames the directory into place; work
// directories have other names).
#ifndef RECA_WORKER_CHECKPOINT_SCANNER_H_
#define RECA_WORKER_CHECKPOINT_SCANNER_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace reca {

struct CheckpointInfo {
  int64_t step = 0;
  std::string path;                // the step directory
  std::string manifest_sha256;     // lowercase hex of MANIFEST.json
  int64_t bytes = 0;               // sum of the sizes of the files in it
  int64_t commit_unix_micros = 0;  // MANIFEST.json's mtime (written last)
};

// Not thread-safe.
class CheckpointScanner {
 public:
  explicit CheckpointScanner(std::string checkpoints_dir)
      : dir_(std::move(checkpoints_dir)) {}

  // Committed checkpoints not returned by an earlier call, by step. One that
  // cannot be read now (deleted by retention meanwhile, unreadable) is left
  // out, its reason appended to `errors`, and tried again next time.
  std::vector<CheckpointInfo> ScanNew(
      std::vector<std::string>* errors = nullptr);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::set<int64_t> returned_;
};

// The step of a committed checkpoint's directory name ("step-00000020"), or
// nullopt for anything else (".tmp-step-20-123", "step-20.partial").
std::optional<int64_t> CheckpointStepOf(const std::string& dir_name);

}  // namespace reca

#endif  // RECA_WORKER_CHECKPOINT_SCANNER_H_
