// Finds the checkpoints rank 0 has committed under <out>/checkpoints, as the
// trainer's own CheckpointStore lists them (a final-named directory with a
// MANIFEST.json), and describes each for the coordinator's record.
#ifndef RECA_WORKER_CHECKPOINT_SCANNER_H_
#define RECA_WORKER_CHECKPOINT_SCANNER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "reca/ckpt/checkpoint_store.h"

namespace reca {

struct CommittedCheckpoint {
  int64_t step = 0;
  std::string path;                // the step directory
  std::string manifest_sha256;     // lowercase hex of MANIFEST.json
  // The fencing epoch of the attempt that committed it (its manifest's; 0 for
  // a standalone run's): what the worker reports, whichever attempt found it.
  int64_t epoch = 0;
  int64_t bytes = 0;               // sum of the sizes of the files in it
  int64_t commit_unix_micros = 0;  // MANIFEST.json's mtime (written last)
};

// Not thread-safe.
class CheckpointScanner {
 public:
  explicit CheckpointScanner(std::string checkpoints_dir)
      : dir_(std::move(checkpoints_dir)) {}

  // Committed checkpoints not returned by an earlier call, by step, earlier
  // attempts' included (the coordinator refuses those by their epoch). A
  // step whose directory was replaced since (an earlier attempt's, discarded
  // by rank 0 and committed again) is returned again. One that cannot be
  // read now (deleted by retention meanwhile, unreadable) is left out, its
  // reason appended to `errors`, and tried again next time.
  std::vector<CommittedCheckpoint> ScanNew(
      std::vector<std::string>* errors = nullptr);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  CheckpointStore store_{dir_};
  // The MANIFEST.json of each step returned, by (inode, mtime): a new commit
  // of the step is a new file.
  std::map<int64_t, std::pair<ino_t, int64_t>> returned_;
};

}  // namespace reca

#endif  // RECA_WORKER_CHECKPOINT_SCANNER_H_
