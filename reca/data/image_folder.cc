// OpenImageFolder (reca/data/dataset.h): image files listed by a JSONL manifest.
#include <utility>

#include "nlohmann/json.hpp"
#include "reca/data/dataset.h"
#include "reca/file_util.h"
#include "reca/jsonl.h"

namespace reca {
namespace {

struct Entry {
  std::string path;  // resolved against the manifest's directory
  std::string caption;
};

// Immutable after construction, so Load is thread-safe.
class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(std::string manifest, std::vector<Entry> entries,
                     std::vector<DataProblem> problems, DatasetOptions options)
      : manifest_(std::move(manifest)),
        entries_(std::move(entries)),
        problems_(std::move(problems)),
        options_(options) {}

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }

  StatusOr<Sample> Load(int64_t index) const override {
    if (index < 0 || index >= size()) {
      return OutOfRangeError("image folder " + manifest_ + ": sample " + std::to_string(index) +
                             " out of range [0, " + std::to_string(size()) + ")");
    }
    const Entry& e = entries_[static_cast<size_t>(index)];
    RECA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(e.path));
    RECA_ASSIGN_OR_RETURN(RgbImage image, DecodeImage(bytes, e.path, options_.max_pixels));
    Sample s;
    s.image = ResizeImage(image, options_.image_size, options_.resize);
    s.caption = e.caption;
    s.origin = e.path;
    return s;
  }

  std::vector<DataProblem> open_problems() const override { return problems_; }

  std::string Describe() const override {
    std::string d = "image folder: " + std::to_string(entries_.size()) + " samples from " + manifest_;
    if (!problems_.empty()) d += " (" + std::to_string(problems_.size()) + " listed files missing)";
    return d;
  }

 private:
  const std::string manifest_;
  const std::vector<Entry> entries_;
  const std::vector<DataProblem> problems_;
  const DatasetOptions options_;
};

}  // namespace

StatusOr<std::unique_ptr<Dataset>> OpenImageFolder(const std::string& manifest,
                                                   const DatasetOptions& options) {
  if (options.image_size <= 0) {
    return InvalidArgumentError("image folder " + manifest + ": image_size must be positive");
  }
  RECA_ASSIGN_OR_RETURN(const std::string text, ReadFile(manifest));
  const std::string dir = ManifestFolder(manifest);
  std::vector<Entry> entries;
  std::vector<DataProblem> problems;
  RECA_RETURN_IF_ERROR(ForEachJsonObjectLine(text, manifest, [&](
      const nlohmann::json& j, int line_no, const std::string& at) -> Status {
    const std::string where = at + ": ";
    const auto path = j.find("path");
    if (path == j.end() || !path->is_string() || path->get<std::string>().empty()) {
      return InvalidArgumentError(where + "\"path\" must be a non-empty string");
    }
    Entry e;
    e.path = ResolveInFolder(dir, path->get<std::string>());
    const auto caption = j.find("caption");
    if (caption != j.end() && !caption->is_null()) {
      if (!caption->is_string()) return InvalidArgumentError(where + "\"caption\" must be a string");
      e.caption = caption->get<std::string>();
    }
    if (const std::string why = ListedFileProblem(e.path); !why.empty()) {
      problems.push_back({e.path, "listed at " + manifest + ":" + std::to_string(line_no) + " but " + why});
      return OkStatus();
    }
    entries.push_back(std::move(e));
    return OkStatus();
  }));
  if (entries.empty()) {
    return InvalidArgumentError("image folder " + manifest + ": no usable samples (" +
                                std::to_string(problems.size()) + " listed files missing)");
  }
  return std::unique_ptr<Dataset>(
      new ImageFolderDataset(manifest, std::move(entries), std::move(problems), options));
}

}  // namespace reca
