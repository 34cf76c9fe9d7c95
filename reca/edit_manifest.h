// Real image-editing pairs listed by a JSONL manifest, one object per line:
//   {"source": "src/0001.png", "instruction": "make the cat black",
//    "target": "tgt/0001.png"}
// Relative paths are resolved against the manifest's directory (as the image
// folder manifest of reca/data/dataset.h); blank lines and lines starting with
// '#' are skipped; other fields are ignored (room for "category", ...).
// Parsing only: the files are not opened (a loader decodes them on demand and
// reports a missing one as a bad sample). Torch-free; thread-safe (pure).
#ifndef RECA_EDIT_MANIFEST_H_
#define RECA_EDIT_MANIFEST_H_

#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

struct EditManifestEntry {
  std::string source;       // resolved path
  std::string instruction;  // non-empty
  std::string target;       // resolved path
  int line = 0;             // 1-based line of the manifest
};

// Parses `text`, the contents of the manifest at `manifest_path` (used to
// resolve relative paths and in messages). Errors are InvalidArgument naming
// "<manifest_path>:<line>: " and the field ("\"target\" must be a non-empty
// string"); a manifest without any entry is InvalidArgument too.
StatusOr<std::vector<EditManifestEntry>> ParseEditManifest(
    const std::string& text, const std::string& manifest_path);

// Reads and parses the manifest at `path` (NotFound naming it when missing).
StatusOr<std::vector<EditManifestEntry>> ReadEditManifest(
    const std::string& path);

}  // namespace reca

#endif  // RECA_EDIT_MANIFEST_H_
