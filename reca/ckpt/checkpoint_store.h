// Crash-safe checkpoint directories (DESIGN.md §4.5). A checkpoint is a
// directory <root>/step-<step, 8 digits>/ holding named files and a
// MANIFEST.json that lists every file with its size and SHA-256. Torch-free:
// callers serialise tensors themselves (safetensors) and hand over bytes.
//
// Commit protocol: every file is written into <root>/.tmp-step-<step>-<pid>/
// and fsync'd, the manifest is written last and fsync'd, the directory is
// fsync'd, renamed to its final name, and <root> is fsync'd. A process killed
// at any moment leaves either the complete new checkpoint or none (the temp
// directory is ignored by readers and swept by the next commit).
//
// Thread-safety: List and LoadVerified are safe to call concurrently with
// anything (a checkpoint that retention is deleting may fail to load). Commits
// to one root must not overlap within a process (a commit sweeps the temp
// directories of its own pid); commits from different processes may.
#ifndef RECA_CKPT_CHECKPOINT_STORE_H_
#define RECA_CKPT_CHECKPOINT_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "reca/status.h"

namespace reca {

// "step-<digits>" exactly (a committed checkpoint's directory name, and the
// evaluator's per-step folders): sets *step.
bool ParseStepDirName(const std::string& name, int64_t* step);

// The path of a checkpoint directory, ".../step-<digits>" (trailing slashes
// allowed): sets *step.
bool ParseCheckpointPath(const std::string& path, int64_t* step);

// MANIFEST.json parsed and checked: {"format": "reca-checkpoint/1", "step":
// <int>, "epoch": <int, optional>, "files": [{"name", "size", "sha256"}, ...]}.
// "epoch" is the service's fencing epoch of the attempt that committed it
// (absent: 0, a standalone run). Names are plain file
// names (no '/', not "." or "..", not MANIFEST.json, valid UTF-8, at most 255
// bytes), each listed once; sha256 is 64 lowercase hex digits.
struct CheckpointManifest {
  struct File {
    std::string name;
    uint64_t size = 0;
    std::string sha256;
  };
  int64_t step = 0;  // >= 0
  int64_t epoch = 0;  // >= 0
  std::vector<File> files;  // in manifest order
};

// Parses the text of a MANIFEST.json; anything malformed is DataLossError
// "<manifest_path>: malformed manifest: <why>". Reads no files.
StatusOr<CheckpointManifest> ParseCheckpointManifest(const std::string& text,
                                                     const std::string& manifest_path);

struct CheckpointInfo {
  int64_t step = 0;
  std::string path;  // the committed directory
};

class CheckpointStore {
 public:
  // `epoch`: the service's fencing epoch of the attempt committing through
  // this store, written into each manifest (0: none, a standalone run).
  explicit CheckpointStore(std::string root, int64_t epoch = 0);

  // Commits `files` (name -> bytes; names are plain file names, no '/') as
  // the checkpoint of `step`, then deletes the oldest committed checkpoints
  // beyond `keep` (keep <= 0 keeps all). Replacing an existing step is
  // AlreadyExists. Returns the committed directory.
  // A bad step or file name is InvalidArgument; a failure before the rename
  // removes the temp directory and leaves no checkpoint. Retention never
  // deletes the checkpoint just committed, and a failure to delete an old one
  // is logged to stderr, not returned.
  StatusOr<std::string> Commit(int64_t step, const std::map<std::string, std::string>& files,
                               int keep);

  // Committed checkpoints (a final-named directory with a MANIFEST.json),
  // oldest first. Temp directories and anything else are ignored. A missing
  // root is an empty list.
  StatusOr<std::vector<CheckpointInfo>> List() const;

  // Reads every file of the checkpoint at `dir` and verifies it against the
  // manifest: a missing file, a size or SHA-256 mismatch or a malformed
  // manifest is DataLossError naming the file and the expected vs found value.
  static StatusOr<std::map<std::string, std::string>> LoadVerified(const std::string& dir);

  // Deletes the committed checkpoint directory `dir` (renamed aside first, so
  // it stops being listed at once). One already gone is success, so a retried
  // or concurrent deletion is harmless.
  static Status Delete(const std::string& dir);

  const std::string& root() const { return root_; }

  // Test-only: called at named points of Commit: "tmp_dir_created",
  // "file_written:<name>", "manifest_written", "tmp_dir_synced", "renamed",
  // "root_synced". A non-OK return fails the commit there, as an I/O error
  // at that point would (after "renamed" the checkpoint stays visible).
  using FaultHook = std::function<Status(const std::string& point)>;
  void TEST_SetFaultHook(FaultHook hook) { fault_hook_ = std::move(hook); }

 private:
  Status Fault(const std::string& point) const {
    return fault_hook_ ? fault_hook_(point) : OkStatus();
  }

  std::string root_;
  int64_t epoch_ = 0;
  FaultHook fault_hook_;
};

}  // namespace reca

#endif  // RECA_CKPT_CHECKPOINT_STORE_H_
