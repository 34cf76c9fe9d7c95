// Path confinement (issue 9): the files a job spec names (weights, a
// TorchScript module, manifests, shards, a templates file) must lie inside
// configured roots. Lexically first ('..' is refused anywhere; an absolute
// path must be under a root), as the coordinator checks at submit time; and on
// disk, as each rank checks before opening anything: the real path, symlinks
// resolved, must still be under a root's real path, so a symlink cannot lead
// out. Only LibTorch-free code here: the coordinator uses it too.
#ifndef RECA_PATH_POLICY_H_
#define RECA_PATH_POLICY_H_

#include <string>
#include <vector>

#include "reca/job_spec.h"
#include "reca/status.h"

namespace reca {

struct PathRoots {
  // Absolute, normalized directories. Empty: no confinement.
  std::vector<std::string> roots;
  // Relative paths are resolved against this (the process's working
  // directory when empty).
  std::string base;
  // False: relative paths are only refused '..' (the coordinator: they are
  // relative to each worker's working directory, checked by the ranks).
  bool check_relative = true;
};

// "DIR[,DIR...]" -> absolute, normalized roots (relative ones against `base`,
// or the working directory). Errors name `flag`.
StatusOr<std::vector<std::string>> ParseRoots(const std::string& flag,
                                              const std::string& list,
                                              const std::string& base = "");

// INVALID_ARGUMENT "<field>: <path>: ..." unless `path` is allowed. With
// `on_disk`, also resolves symlinks (of the path, or of its longest existing
// ancestor when it does not exist yet).
Status ConfinePath(const std::string& field, const std::string& path,
                   const PathRoots& roots, bool on_disk);

// Every file path of `spec`, with its field path in the error:
// spec.model.init, spec.model.module, spec.data.sources[i].manifest,
// spec.data.sources[i].shards[j] (up to its first glob or brace character),
// spec.reca.templates_file.
Status ConfineSpecPaths(const JobSpec& spec, const PathRoots& roots,
                        bool on_disk);

}  // namespace reca

#endif  // RECA_PATH_POLICY_H_
