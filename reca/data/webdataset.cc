// OpenWebDataset (reca/data/dataset.h): WebDataset tar shards, indexed by their
// headers at open, samples read with pread.
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "nlohmann/json.hpp"
#include "reca/data/dataset.h"
#include "reca/data/tar_index.h"

namespace reca {
namespace {

constexpr int64_t kMaxCaptionBytes = 1 << 20;
constexpr size_t kMaxBraceExpansions = 1 << 20;

// Owns one open file descriptor.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }
  int get() const { return fd_; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_;
};

struct Shard {
  std::string path;
  ScopedFd fd;
};

struct Range {
  int64_t offset = -1, size = 0;  // offset -1: absent
  bool present() const { return offset >= 0; }
};

struct SampleRef {
  int shard = 0;
  std::string key;
  Range image, txt, json;
};

// Immutable after construction; Load uses pread only, so it is thread-safe.
class WebDataset : public Dataset {
 public:
  WebDataset(std::string patterns, std::vector<Shard> shards, std::vector<SampleRef> samples,
             std::vector<DataProblem> problems, DatasetOptions options)
      : patterns_(std::move(patterns)),
        shards_(std::move(shards)),
        samples_(std::move(samples)),
        problems_(std::move(problems)),
        options_(options) {}

  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }

  StatusOr<Sample> Load(int64_t index) const override {
    if (index < 0 || index >= size()) {
      return OutOfRangeError("webdataset " + patterns_ + ": sample " + std::to_string(index) +
                             " out of range [0, " + std::to_string(size()) + ")");
    }
    const SampleRef& r = samples_[static_cast<size_t>(index)];
    const Shard& shard = shards_[static_cast<size_t>(r.shard)];
    Sample s;
    s.origin = shard.path + ":" + r.key;
    // Any valid image of max_pixels is smaller (16-bit RGBA stored uncompressed: 8 B/pixel).
    const int64_t max_image_bytes =
        options_.max_pixels > (std::numeric_limits<int64_t>::max() >> 4)
            ? std::numeric_limits<int64_t>::max()
            : options_.max_pixels * 8 + (1 << 20);
    if (r.image.size > max_image_bytes) {
      return InvalidArgumentError(s.origin + ": image member of " + std::to_string(r.image.size) +
                                  " bytes is too large");
    }
    RECA_ASSIGN_OR_RETURN(std::string bytes, Read(shard, r.image, s.origin));
    RECA_ASSIGN_OR_RETURN(RgbImage image, DecodeImage(bytes, s.origin, options_.max_pixels));
    s.image = ResizeImage(image, options_.image_size, options_.resize);
    if (r.txt.present() || r.json.present()) {
      const Range& c = r.txt.present() ? r.txt : r.json;
      if (c.size > kMaxCaptionBytes) {
        return InvalidArgumentError(s.origin + ": caption member of " + std::to_string(c.size) +
                                    " bytes is too large");
      }
      RECA_ASSIGN_OR_RETURN(std::string text, Read(shard, c, s.origin));
      if (r.txt.present()) {
        s.caption = Trim(text);
      } else {
        RECA_ASSIGN_OR_RETURN(s.caption, JsonCaption(text, s.origin));
      }
    }
    return s;
  }

  std::vector<DataProblem> open_problems() const override { return problems_; }

  std::string Describe() const override {
    std::string d = "webdataset: " + std::to_string(shards_.size()) + " shards, " +
                    std::to_string(samples_.size()) + " samples (" + patterns_ + ")";
    if (!problems_.empty()) d += ", " + std::to_string(problems_.size()) + " problems at open";
    return d;
  }

 private:
  static StatusOr<std::string> Read(const Shard& shard, const Range& range,
                                    const std::string& origin) {
    std::string out(static_cast<size_t>(range.size), '\0');
    int64_t done = 0;
    while (done < range.size) {
      const ssize_t n = ::pread(shard.fd.get(), out.data() + done,
                                static_cast<size_t>(range.size - done), range.offset + done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return InternalError(origin + ": cannot read " + shard.path + ": " + std::strerror(errno));
      }
      if (n == 0) return DataLossError(origin + ": shard ends early (truncated since it was opened?)");
      done += n;
    }
    return out;
  }

  static std::string Trim(const std::string& s) {
    const char* kSpace = " \t\r\n\v\f";
    const size_t b = s.find_first_not_of(kSpace);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
  }

  // The "caption" (else "text") string of a .json member; absent: empty.
  static StatusOr<std::string> JsonCaption(const std::string& text, const std::string& origin) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return DataLossError(origin + ": malformed .json member (not a JSON object)");
    }
    for (const char* field : {"caption", "text"}) {
      const auto it = j.find(field);
      if (it == j.end() || it->is_null()) continue;
      if (!it->is_string()) {
        return DataLossError(origin + ": malformed .json member (\"" + field + "\" is not a string)");
      }
      return Trim(it->get<std::string>());
    }
    return std::string();
  }

  const std::string patterns_;
  const std::vector<Shard> shards_;
  const std::vector<SampleRef> samples_;
  const std::vector<DataProblem> problems_;
  const DatasetOptions options_;
};

bool ParseDecimal(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string Padded(int64_t v, size_t width) {
  std::string s = std::to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

// Shell-style brace expansion, left to right: "{0000..0099}" (a numeric range,
// zero-padded to the wider end when either end has a leading zero; also
// descending) and "{a,b,c}" (alternatives). Nested braces are not supported;
// "{x}" is kept literally.
Status ExpandBraces(const std::string& pattern, std::vector<std::string>* out) {
  const size_t open = pattern.find('{');
  if (open == std::string::npos) {
    out->push_back(pattern);
    return OkStatus();
  }
  const size_t close = pattern.find('}', open);
  if (close == std::string::npos) {
    return InvalidArgumentError("webdataset pattern " + pattern + ": unbalanced '{'");
  }
  const std::string inner = pattern.substr(open + 1, close - open - 1);
  if (inner.find('{') != std::string::npos) {
    return InvalidArgumentError("webdataset pattern " + pattern + ": nested braces are not supported");
  }
  const std::string head = pattern.substr(0, open);
  std::vector<std::string> alternatives;
  const size_t dots = inner.find("..");
  int64_t lo = 0, hi = 0;
  if (dots != std::string::npos && ParseDecimal(inner.substr(0, dots), &lo) &&
      ParseDecimal(inner.substr(dots + 2), &hi)) {
    const std::string a = inner.substr(0, dots), b = inner.substr(dots + 2);
    const bool pad = (a.size() > 1 && a[0] == '0') || (b.size() > 1 && b[0] == '0');
    const size_t width = pad ? std::max(a.size(), b.size()) : 0;
    const int64_t step = lo <= hi ? 1 : -1;
    if ((hi - lo) * step >= static_cast<int64_t>(kMaxBraceExpansions)) {
      return InvalidArgumentError("webdataset pattern " + pattern + ": range too large");
    }
    for (int64_t v = lo;; v += step) {
      alternatives.push_back(Padded(v, width));
      if (v == hi) break;
    }
  } else if (inner.find(',') != std::string::npos) {
    size_t pos = 0;
    while (true) {
      const size_t comma = inner.find(',', pos);
      alternatives.push_back(inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  } else {
    alternatives.push_back("{" + inner + "}");
  }
  std::vector<std::string> tails;
  RECA_RETURN_IF_ERROR(ExpandBraces(pattern.substr(close + 1), &tails));
  if (alternatives.size() * tails.size() + out->size() > kMaxBraceExpansions) {
    return InvalidArgumentError("webdataset pattern " + pattern + ": expands to too many paths");
  }
  for (const std::string& alt : alternatives) {
    for (const std::string& tail : tails) out->push_back(head + alt + tail);
  }
  return OkStatus();
}

bool HasWildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// The shard paths of one pattern, sorted and without duplicates.
StatusOr<std::vector<std::string>> ExpandPattern(const std::string& pattern) {
  std::vector<std::string> expanded, shards;
  RECA_RETURN_IF_ERROR(ExpandBraces(pattern, &expanded));
  for (const std::string& e : expanded) {
    if (!HasWildcard(e)) {
      struct stat st;
      if (::stat(e.c_str(), &st) != 0) {
        std::string msg = "webdataset shard " + e;
        if (e != pattern) msg += " (from pattern " + pattern + ")";
        return NotFoundError(msg + " not found: " + std::strerror(errno));
      }
      shards.push_back(e);
      continue;
    }
    glob_t g;
    const int rc = ::glob(e.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        struct stat st;
        if (::stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) shards.push_back(g.gl_pathv[i]);
      }
    }
    ::globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      return InternalError("webdataset pattern " + pattern + ": glob failed on " + e);
    }
  }
  if (shards.empty()) return NotFoundError("webdataset pattern " + pattern + " matches no shard");
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  return shards;
}

// WebDataset convention: the key is the directory plus the base name up to
// its first '.'; the rest of the base name is the extension.
void SplitKey(const std::string& name, std::string* key, std::string* ext) {
  const size_t slash = name.find_last_of('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = name.find('.', base);
  if (dot == std::string::npos) {
    *key = name;
    ext->clear();
    return;
  }
  *key = name.substr(0, dot);
  *ext = name.substr(dot + 1);
  for (char& c : *ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Groups one shard's members into samples; records problems.
void IndexShard(int shard_index, const std::string& path, const TarIndex& index,
                std::vector<SampleRef>* samples, std::vector<DataProblem>* problems) {
  std::vector<SampleRef> groups;
  std::unordered_map<std::string, size_t> by_key;
  for (const TarMember& m : index.members) {
    std::string key, ext;
    SplitKey(m.name, &key, &ext);
    Range* slot = nullptr;
    const auto [it, inserted] = by_key.emplace(key, groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().shard = shard_index;
      groups.back().key = key;
    }
    SampleRef& g = groups[it->second];
    if (ext == "jpg" || ext == "jpeg" || ext == "png") {
      slot = &g.image;
    } else if (ext == "txt") {
      slot = &g.txt;
    } else if (ext == "json") {
      slot = &g.json;
    }
    if (slot != nullptr && !slot->present()) *slot = Range{m.data_offset, m.size};
  }
  std::string dropped;
  if (!index.damaged_member.empty()) {
    // The damaged member's sample is incomplete: drop it with the rest.
    std::string ext;
    SplitKey(index.damaged_member, &dropped, &ext);
    if (by_key.count(dropped) == 0) dropped.clear();
  }
  if (!index.problem.empty()) {
    std::string reason = index.problem + "; the rest of the shard is skipped";
    if (!dropped.empty()) reason += ", with the incomplete sample '" + dropped + "'";
    problems->push_back({path, reason});
  }
  for (SampleRef& g : groups) {
    if (!dropped.empty() && g.key == dropped) continue;
    if (!g.image.present()) {
      problems->push_back({path + ":" + g.key, "no image member (.jpg, .jpeg or .png)"});
      continue;
    }
    samples->push_back(std::move(g));
  }
}

}  // namespace

StatusOr<std::unique_ptr<Dataset>> OpenWebDataset(const std::vector<std::string>& patterns,
                                                  const DatasetOptions& options) {
  if (patterns.empty()) return InvalidArgumentError("webdataset: no shard patterns given");
  if (options.image_size <= 0) return InvalidArgumentError("webdataset: image_size must be positive");
  std::string joined;
  for (const std::string& p : patterns) joined += (joined.empty() ? "" : " ") + p;
  std::vector<Shard> shards;
  std::vector<SampleRef> samples;
  std::vector<DataProblem> problems;
  for (const std::string& pattern : patterns) {
    RECA_ASSIGN_OR_RETURN(const std::vector<std::string> paths, ExpandPattern(pattern));
    for (const std::string& path : paths) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        const std::string msg = "webdataset: cannot open shard " + path + ": " + std::strerror(err);
        if (err == ENOENT) return NotFoundError(msg);
        if (err == EMFILE || err == ENFILE) {
          return ResourceExhaustedError(msg + " (every shard stays open; raise ulimit -n)");
        }
        return InternalError(msg);
      }
      Shard shard{path, ScopedFd(fd)};
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        return InternalError("webdataset: cannot stat shard " + path + ": " + std::strerror(errno));
      }
      if (!S_ISREG(st.st_mode)) {
        return InvalidArgumentError("webdataset: shard " + path + " is not a regular file");
      }
      RECA_ASSIGN_OR_RETURN(const TarIndex index, ScanTar(fd, static_cast<int64_t>(st.st_size), path));
      IndexShard(static_cast<int>(shards.size()), path, index, &samples, &problems);
      shards.push_back(std::move(shard));
    }
  }
  if (samples.empty()) {
    return InvalidArgumentError("webdataset (" + joined + "): no usable samples in " +
                                std::to_string(shards.size()) + " shards");
  }
  return std::unique_ptr<Dataset>(new WebDataset(joined, std::move(shards), std::move(samples),
                                                 std::move(problems), options));
}

}  // namespace reca
