// OpenEditPairs (reca/data/dataset.h): real edit pairs listed by a JSONL
// manifest (reca/edit_manifest.h).
#include <utility>

#include "reca/data/dataset.h"
#include "reca/edit_manifest.h"
#include "reca/file_util.h"

namespace reca {
namespace {

// Immutable after construction, so Load is thread-safe.
class EditPairsDataset : public Dataset {
 public:
  EditPairsDataset(std::string manifest, std::vector<EditManifestEntry> entries,
                   std::vector<DataProblem> problems, DatasetOptions options)
      : manifest_(std::move(manifest)),
        entries_(std::move(entries)),
        problems_(std::move(problems)),
        options_(options) {}

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }

  StatusOr<Sample> Load(int64_t index) const override {
    if (index < 0 || index >= size()) {
      return OutOfRangeError("edit pairs " + manifest_ + ": sample " + std::to_string(index) +
                             " out of range [0, " + std::to_string(size()) + ")");
    }
    const EditManifestEntry& e = entries_[static_cast<size_t>(index)];
    auto load = [&](const std::string& path) -> StatusOr<RgbImage> {
      RECA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
      RECA_ASSIGN_OR_RETURN(RgbImage image, DecodeImage(bytes, path, options_.max_pixels));
      return ResizeImage(image, options_.image_size, options_.resize);
    };
    Sample s;
    RECA_ASSIGN_OR_RETURN(s.source, load(e.source));
    RECA_ASSIGN_OR_RETURN(s.image, load(e.target));
    s.caption = e.instruction;
    s.origin = manifest_ + ":" + std::to_string(e.line);
    return s;
  }

  std::vector<DataProblem> open_problems() const override { return problems_; }

  std::string Describe() const override {
    std::string d = "edit pairs: " + std::to_string(entries_.size()) + " pairs from " + manifest_;
    if (!problems_.empty()) d += " (" + std::to_string(problems_.size()) + " with a missing file)";
    return d;
  }

 private:
  const std::string manifest_;
  const std::vector<EditManifestEntry> entries_;
  const std::vector<DataProblem> problems_;
  const DatasetOptions options_;
};

}  // namespace

StatusOr<std::unique_ptr<Dataset>> OpenEditPairs(const std::string& manifest,
                                                 const DatasetOptions& options) {
  if (options.image_size <= 0) {
    return InvalidArgumentError("edit pairs " + manifest + ": image_size must be positive");
  }
  RECA_ASSIGN_OR_RETURN(std::vector<EditManifestEntry> listed, ReadEditManifest(manifest));
  std::vector<EditManifestEntry> entries;
  std::vector<DataProblem> problems;
  for (EditManifestEntry& e : listed) {
    bool usable = true;
    for (const std::string* path : {&e.source, &e.target}) {
      const std::string why = ListedFileProblem(*path);
      if (why.empty()) continue;
      problems.push_back({*path, "listed at " + manifest + ":" + std::to_string(e.line) + " but " + why});
      usable = false;
      break;
    }
    if (usable) entries.push_back(std::move(e));
  }
  if (entries.empty()) {
    return InvalidArgumentError("edit pairs " + manifest + ": no usable pairs (" +
                                std::to_string(problems.size()) + " with a missing file)");
  }
  return std::unique_ptr<Dataset>(
      new EditPairsDataset(manifest, std::move(entries), std::move(problems), options));
}

}  // namespace reca
