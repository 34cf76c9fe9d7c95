// Image datasets for training: a finite, indexable list of samples (an image
// and an optional caption) read on demand. Torch-free.
#ifndef RECA_DATA_DATASET_H_
#define RECA_DATA_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reca/image_io.h"
#include "reca/status.h"

namespace reca {

// How a decoded image becomes size x size.
enum class ResizePolicy {
  kCenterCrop,  // scale the shorter side to `size` (area averaging), crop the centre
  kStretch,     // scale both sides to `size`, ignoring the aspect ratio
};

struct Sample {
  RgbImage image;        // size x size after the policy (an edit pair's target)
  std::string caption;   // empty when the dataset has none (an edit pair's instruction)
  RgbImage source;       // an edit pair's source image; empty otherwise
  std::string origin;    // for log lines: "file.png", "shard-0003.tar:key"
};

// A problem found while opening a dataset that costs samples but not the
// whole dataset (a truncated shard's tail, a manifest line naming a missing
// file): the sampler counts these with the per-sample failures.
struct DataProblem {
  std::string origin;
  std::string reason;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Reads, decodes and resizes sample `index` (0 <= index < size()).
  // Thread-safe. A corrupt, truncated or non-image sample gives
  // DataLossError / InvalidArgumentError whose message names the origin;
  // an index out of range gives OutOfRangeError.
  virtual StatusOr<Sample> Load(int64_t index) const = 0;
  virtual std::vector<DataProblem> open_problems() const { return {}; }
  // One line for the startup log: kind, paths, sample count.
  virtual std::string Describe() const = 0;
};

struct DatasetOptions {
  int image_size = 32;
  ResizePolicy resize = ResizePolicy::kCenterCrop;
  // Images larger than this many pixels (before resizing) are rejected as
  // bad samples: a decompression bomb must not take the trainer down.
  int64_t max_pixels = 64ll << 20;
};

// A JSONL manifest, one object per line: {"path": "a/b.jpg", "caption": "..."}
// ("caption" optional; relative paths are relative to the manifest's
// directory; blank lines and lines starting with '#' are skipped). A missing
// or unreadable manifest, or one without any usable line, is NotFound /
// InvalidArgument naming the path (and the line for a malformed one).
StatusOr<std::unique_ptr<Dataset>> OpenImageFolder(const std::string& manifest,
                                                   const DatasetOptions& options);

// WebDataset-style tar shards: members grouped by key (the name up to the
// first '.' of the base name); a sample is a key with an image member
// (.jpg/.jpeg/.png) and optionally .txt (the caption) or .json (its
// "caption" or "text" field). Shards are indexed at open by reading the tar
// headers only (like webdataset's `wids`); samples are then read with pread,
// never whole shards. `shards` entries are paths, globs (`*`, `?`) or brace
// ranges (`data/shard-{0000..0099}.tar`). A pattern that matches nothing is
// NotFound naming it; a shard truncated mid-member keeps the samples before
// the damage and reports the rest in open_problems().
StatusOr<std::unique_ptr<Dataset>> OpenWebDataset(const std::vector<std::string>& shards,
                                                  const DatasetOptions& options);

// Image-editing pairs listed by a JSONL manifest (reca/edit_manifest.h: one
// {"source": ..., "instruction": ..., "target": ...} per line): a sample is
// the target image with the instruction as its caption and the source image.
// A pair whose source or target file is missing is an open problem; none
// usable is InvalidArgument naming the manifest.
StatusOr<std::unique_ptr<Dataset>> OpenEditPairs(const std::string& manifest,
                                                 const DatasetOptions& options);

// Decodes PNG or JPEG bytes (sniffed from the content, not the name) to RGB
// (grey and alpha are converted). Errors name `origin`: other content is
// InvalidArgument ("<origin>: not a PNG or JPEG image"), so is an image over
// `max_pixels` (checked before decoding); a corrupt or truncated one DataLoss.
// Thread-safe.
StatusOr<RgbImage> DecodeImage(const std::string& bytes, const std::string& origin,
                               int64_t max_pixels = 64ll << 20);
// Applies `policy` to produce a size x size image: area averaging where it
// shrinks, bilinear where it enlarges; deterministic. An empty or inconsistent
// image, or size <= 0, gives an empty image.
RgbImage ResizeImage(const RgbImage& image, int size, ResizePolicy policy);

}  // namespace reca

#endif  // RECA_DATA_DATASET_H_
